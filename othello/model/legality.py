"""When the model proposes an illegal move: the one definition evaluation, the world-model
tests and intervention scoring read, under three named criteria.

The model's output at a position is 61 logits (token 0 is the padding, tokens 1..60 the 60
squares that can be moves); :func:`square_scores` reads them by square. A legal set is the
engine's bitboard (uint64) of the legal moves of the side to move; an edited board's set is
the rules applied to that board, the same side to move (probes/interventions/cases.py). The
model *proposes an illegal move* at a position, under

* :data:`TOP1`, when its highest-scoring square is illegal (top-1 legal accuracy is the share
  of positions where it is not);
* :data:`TOPN` (Li et al.), when among its N highest-scoring squares, N the size of the legal
  set, one or more is illegal. Each illegal square among the N is a false positive and leaves
  a legal square out, a false negative, so Li et al.'s set errors are twice
  :func:`topn_illegal`'s count;
* :data:`ACCEPT`, when a square its accept rule accepts is illegal. The rule follows the
  training target (:class:`AcceptRule`): a softmax-trained model ("sampled", "legal") accepts
  a square whose probability exceeds epsilon, Vafa et al.'s 0.01; a ``legal_set`` model (a
  sigmoid per square, no distribution over moves) one whose sigmoid exceeds a threshold,
  chosen on validation games by probes/worldmodel/accept_rule.py.

Ranks (TOP1, TOPN) come from one descending sort of the square scores, the centre squares
last (they are never moves), so top-1 and top-N read the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from othello.common.errors import UserError
from othello.world.squares import N_SQUARES
from othello.world.tokens import PLAYABLE_SQUARES

TOP1, TOPN, ACCEPT = "top1", "topn", "accept"
CRITERIA = (TOP1, TOPN, ACCEPT)
EPSILON = 0.01  # Vafa et al.'s acceptance cut for softmax models
SOFTMAX_TARGETS = ("sampled", "legal")  # training targets whose output is a distribution
ACCEPT_KINDS = ("epsilon", "threshold")  # softmax probability > cut, sigmoid > cut

_PLAYABLE = torch.as_tensor(PLAYABLE_SQUARES)


def square_scores(values: torch.Tensor, fill: float) -> torch.Tensor:
    """[..., 64] from per-token values [..., 61] (logits or probabilities): each square's
    token value, ``fill`` on the four centre squares, which are never moves (token 0, the
    padding, has no square). The one place the model's output is read by square."""
    out = values.new_full((*values.shape[:-1], N_SQUARES), fill)
    out[..., _PLAYABLE.to(values.device)] = values[..., 1:]
    return out


def rank_legality(logits: torch.Tensor, legal: np.ndarray) -> torch.Tensor:
    """bool [..., 60]: whether the model's k-th best square is legal, for logits [..., 61]
    and legal-move bitboards uint64 [...]: what :data:`TOP1` and :data:`TOPN` read."""
    legal_bits = torch.as_tensor(legal.view(np.int64))
    ranked = square_scores(logits.float(), -torch.inf).argsort(dim=-1, descending=True)
    ranked_squares = ranked[..., : len(PLAYABLE_SQUARES)].cpu()  # the centre ranks last
    return (legal_bits.unsqueeze(-1) >> ranked_squares) & 1 == 1


def top1_illegal(is_legal: torch.Tensor) -> torch.Tensor:
    """:data:`TOP1` from :func:`rank_legality`'s output: bool [...], the best square is
    illegal."""
    return ~is_legal[..., 0]


def topn_illegal(is_legal: torch.Tensor) -> torch.Tensor:
    """:data:`TOPN`'s count from :func:`rank_legality`'s output: int64 [...], the illegal
    squares among the N best, N = the size of the legal set (Li et al.'s set errors are
    twice this: false positives plus false negatives)."""
    n_legal = is_legal.sum(-1, keepdim=True)
    in_top = torch.arange(is_legal.shape[-1]) < n_legal
    return (~is_legal & in_top).sum(-1)


@dataclass(frozen=True)
class AcceptRule:
    """Which squares a model accepts (:data:`ACCEPT`): ``epsilon``, softmax probability over
    the 61 tokens > ``cut`` (a "sampled" or "legal" target; Vafa et al.'s cut is
    :data:`EPSILON`), or ``threshold``, the sigmoid of each square's logit > ``cut`` (a
    ``legal_set`` target, trained with a sigmoid per square)."""

    kind: str = "epsilon"
    cut: float = EPSILON

    def __post_init__(self) -> None:
        if self.kind not in ACCEPT_KINDS:
            raise UserError(f"accept rule must be 'epsilon' or 'threshold', got {self.kind!r}")
        if not 0 <= self.cut < 1:
            raise UserError(f"an accept rule's cut is a probability in [0, 1), got {self.cut}")

    @staticmethod
    def kind_for(target: str) -> str:
        """The rule a training target implies: a distribution over moves is cut at a
        probability, a sigmoid per square at a threshold."""
        return "epsilon" if target in SOFTMAX_TARGETS else "threshold"

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """[..., 64] the probabilities (or sigmoids) the cut applies to, 0 on the centre."""
        logits = logits.float()
        values = logits.softmax(-1) if self.kind == "epsilon" else logits.sigmoid()
        return square_scores(values, 0.0)

    def accepts(self, scores: torch.Tensor) -> torch.Tensor:
        """bool [..., 64]: the squares accepted, from :meth:`scores`."""
        return scores > self.cut


def legal_squares(legal: np.ndarray) -> torch.Tensor:
    """bool [..., 64] from legal-move bitboards uint64 [...]."""
    bits = torch.as_tensor(np.ascontiguousarray(legal).view(np.int64))
    return (bits.unsqueeze(-1) >> torch.arange(N_SQUARES)) & 1 == 1


def proposes_illegal(
    logits: torch.Tensor, legal: np.ndarray, criterion: str, rule: AcceptRule | None = None
) -> torch.Tensor:
    """bool [...]: whether the model proposes an illegal move at each position, for logits
    [..., 61] and legal bitboards uint64 [...], under ``criterion`` (:data:`CRITERIA`;
    :data:`ACCEPT` under ``rule``, Vafa et al.'s epsilon rule when None)."""
    if criterion == TOP1:
        return top1_illegal(rank_legality(logits, legal))
    if criterion == TOPN:
        return topn_illegal(rank_legality(logits, legal)) > 0
    if criterion == ACCEPT:
        rule = rule or AcceptRule()
        accepted = rule.accepts(rule.scores(logits)).cpu()
        return (accepted & ~legal_squares(legal)).any(-1)
    raise UserError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
