"""Which moves a trained model accepts: the rule follows its training target
(:class:`othello.model.legality.AcceptRule`, the one definition), and any cut that is not
Vafa et al.'s is chosen here, on validation games.

* Softmax targets ("sampled", "legal"): probability > epsilon = 0.01 (Vafa et al.'s rule).
* ``legal_set`` (a sigmoid per square, no distribution over moves): sigmoid > threshold, the
  threshold of a grid that makes the accepted set equal the legal set at the most validation
  positions.
"""

from __future__ import annotations

import numpy as np
import torch

from othello.model.gpt import GPT
from othello.model.legality import EPSILON, AcceptRule
from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.worldmodel.acceptors import ModelAcceptor

THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


@torch.no_grad()
def exact_set_share(
    acceptor: ModelAcceptor, moves: np.ndarray, lengths: np.ndarray, cuts=THRESHOLDS
) -> dict[float, float]:
    """For each cut, the share of positions (before each game's last move) whose accepted set
    is exactly the legal set."""
    legal = unpack_bitboards(replay(moves, lengths).legal[:, :N_POSITIONS])
    scored = np.arange(N_POSITIONS)[None, :] < lengths[:, None].astype(np.int64) - 1
    tokens = torch.as_tensor(encode(moves[:, :N_POSITIONS])).to(acceptor.device)
    hits = dict.fromkeys(cuts, 0)
    for start in range(0, len(moves), 256):
        scores = acceptor.accept.scores(acceptor.model(tokens[start : start + 256]))
        for cut in cuts:
            accepted = AcceptRule(acceptor.rule, cut).accepts(scores).cpu().numpy()
            same = (accepted == legal[start : start + 256]).all(-1)
            hits[cut] += int((same & scored[start : start + 256]).sum())
    total = max(int(scored.sum()), 1)
    return {cut: hits[cut] / total for cut in cuts}


def model_acceptor(
    model: GPT, target: str, val_moves: np.ndarray, val_lengths: np.ndarray, name: str = "model"
) -> tuple[ModelAcceptor, dict]:
    """The model's acceptor for its training target, and how its rule was chosen."""
    if AcceptRule.kind_for(target) == "epsilon":
        acceptor = ModelAcceptor(model, "epsilon", EPSILON, name)
        share = exact_set_share(acceptor, val_moves, val_lengths, (EPSILON,))[EPSILON]
        return acceptor, {
            "rule": "softmax probability > epsilon",
            "cut": EPSILON,
            "chosen_on": "Vafa et al.'s value",
            "val_exact_set_share": round(share, 6),
        }
    shares = exact_set_share(ModelAcceptor(model, "threshold", 0.5), val_moves, val_lengths)
    cut = max(shares, key=lambda c: (shares[c], -abs(c - 0.5)))
    return ModelAcceptor(model, "threshold", cut, name), {
        "rule": "sigmoid > threshold (legal_set target)",
        "cut": cut,
        "chosen_on": "val",
        "val_exact_set_share": round(shares[cut], 6),
    }
