"""What a model *accepts* after a prefix: the moves it would allow next, the thing every
Myhill-Nerode test reads (Vafa et al. 2024, "Evaluating the World Model Implicit in a
Generative Model").

An acceptor gives, after each prefix of a move sequence, a weight per square: zero where the
move is not accepted, and otherwise the weight it is sampled with. Four kinds:

* :class:`ModelAcceptor`: a model of any kind. A softmax-trained model ("sampled" / "legal"
  target) accepts a move whose probability exceeds ``epsilon`` (Vafa et al.'s rule, 0.01) and
  samples from the probabilities cut there, as their ``sample(..., epsilon_cutoff)`` does. A
  ``legal_set`` model has a sigmoid per square and no distribution: it accepts a square whose
  sigmoid exceeds a threshold chosen on validation games (:mod:`.accept_rule`) and samples the
  accepted squares in proportion to their sigmoids.
* the engine (:mod:`.rule_acceptors`): the rules: accepts exactly the legal moves, uniformly
  (the process that generated the synthetic games, so its samples are the "true" suffixes).
* :class:`UniformAcceptor`: ignores its input: the same distribution (uniform over the 60
  squares that can be moves) after every prefix.
* the placed-by stand-in (:mod:`.rule_acceptors`): knows only the placed-by board (every disc
  the colour of whoever put it down, no disc ever flipped) and applies the rules to that board.

Sequences are move arrays int8 [B, 60] (square indices, -1 padding) with lengths [B]. Weights
come per *position*: position t holds the weights of move t + 1 after moves 0..t, the indexing
of the model's outputs and of :func:`othello.world.labels.replay`'s ``legal``.
"""

from __future__ import annotations

import numpy as np
import torch

from othello.model.hooked import HookedModel
from othello.model.legality import EPSILON, AcceptRule
from othello.world.squares import MAX_MOVES, N_POSITIONS, N_SQUARES
from othello.world.tokens import PLAYABLE_MASK, encode
from probes.worldmodel import cached, decoding

CHUNK = 1024  # rows per forward pass


class Acceptor:
    """Weights of the next move after every prefix; ``sample`` extends prefixes with them.

    Subclasses give :meth:`position_weights`; sampling here recomputes the weights of the whole
    sequence for each new move and judges each row by the weights of the whole of it (for a GPT
    that is the naive way: a full forward per token; :class:`ModelAcceptor` samples, judges and
    reads next moves through a key/value cache instead)."""

    name = "acceptor"

    def position_weights(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """float32 [B, T, 64]: after moves 0..t of each row (t < T = max length), the weight of
        every square as move t + 1 (0: not accepted). Positions past a row's length are junk."""
        raise NotImplementedError

    def accepts(self, moves: np.ndarray, lengths: np.ndarray, start: np.ndarray) -> np.ndarray:
        """bool [B, 60]: whether move t of each row is accepted after moves 0..t-1, for
        ``start[b] <= t < lengths[b]`` (False elsewhere). ``start >= 1``: the first move is
        always given."""
        out = np.zeros(moves.shape, bool)
        for rows in decoding.chunks(len(moves), CHUNK):
            m, n = moves[rows], lengths[rows]
            w = self.position_weights(m, n)[:, : MAX_MOVES - 1]  # position t: move t + 1
            t = np.arange(1, w.shape[1] + 1)
            nxt = np.where(m[:, 1 : w.shape[1] + 1] >= 0, m[:, 1 : w.shape[1] + 1], 0)
            ok = np.take_along_axis(w, nxt[..., None].astype(np.int64), 2)[..., 0] > 0
            inside = (t[None] >= start[rows, None]) & (t[None] < n[:, None])
            out[rows, 1 : w.shape[1] + 1] = ok & inside
        return out

    def first_rejected(self, moves: np.ndarray, lengths: np.ndarray, start: np.ndarray):
        """int64 [B]: per row, the first move index in ``start..lengths-1`` not accepted after
        the moves before it, or -1 when every one is: all a Myhill-Nerode test reads."""
        return first_false(self.accepts(moves, lengths, start), start, lengths)

    def next_weights(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """float32 [B, 64]: the weights of the move after each whole row."""
        out = np.zeros((len(moves), N_SQUARES), np.float32)
        for rows in decoding.chunks(len(moves), CHUNK):
            w = self.position_weights(moves[rows], lengths[rows])
            out[rows] = w[np.arange(len(w)), lengths[rows].astype(np.int64) - 1]
        return out

    def sample(
        self, moves: np.ndarray, lengths: np.ndarray, n_samples: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` continuations of every row, each played until the acceptor accepts
        nothing or 60 moves: moves [B * n_samples, 60] (row b's samples together) and their
        lengths."""
        moves = np.repeat(moves, n_samples, 0).astype(np.int8)
        lengths = np.repeat(lengths, n_samples).astype(np.int64)
        active = lengths < MAX_MOVES
        while active.any():
            rows = np.flatnonzero(active)
            weights = self.next_weights(moves[rows], lengths[rows])
            active[rows] = _extend(moves, lengths, rows, weights, rng)
        return moves, lengths

    def sample_judged(
        self,
        first: np.ndarray,
        second: np.ndarray,
        lengths: np.ndarray,
        n_samples: int,
        rng: np.random.Generator,
        whole_trial: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n_samples`` continuations drawn after each ``first`` prefix, each judged after the
        ``second`` prefix of its row (both rows of ``lengths`` moves): moves [B * n_samples,
        60], their lengths, and the index of the first move rejected after ``second`` (-1:
        none). Only what the tests read is owed: each continuation up to its first rejection,
        and with ``whole_trial``, a row's continuations until any one of them is rejected (a
        model stops there, :mod:`.decoding`; this one plays them whole)."""
        sampled, n = self.sample(first, lengths, n_samples, rng)
        start = np.repeat(lengths, n_samples)
        rows = graft(np.repeat(second, n_samples, 0), sampled, start)
        return sampled, n, self.first_rejected(rows, n, start)


def graft(moves: np.ndarray, suffix_of: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Rows of ``moves`` (prefixes of lengths ``start``) continued by the moves rows of
    ``suffix_of`` play from ``start`` on (the same lengths, so the suffix lands where it was)."""
    out = moves.copy()
    tail = np.arange(MAX_MOVES)[None, :] >= start[:, None]
    out[tail] = suffix_of[tail]
    return out


def first_false(accepted: np.ndarray, start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per row, the first index in start..len-1 where ``accepted`` is False, or -1."""
    t = np.arange(MAX_MOVES)[None, :]
    rejected = ~accepted & (t >= start[:, None]) & (t < lengths[:, None])
    return np.where(rejected.any(1), rejected.argmax(1), -1)


def _extend(moves, lengths, rows, weights, rng) -> np.ndarray:
    """Draw one move per row from ``weights`` (rows with no weight end); which rows go on."""
    square, alive = decoding.draw(weights, rng)
    live = rows[alive]
    moves[live, lengths[live]] = square[alive]
    lengths[live] += 1
    return alive & (lengths[rows] < MAX_MOVES)


class UniformAcceptor(Acceptor):
    """A model that ignores its input: uniform over the 60 squares after every prefix."""

    name = "uniform"

    def position_weights(self, moves, lengths):
        w = PLAYABLE_MASK.astype(np.float32)
        return np.broadcast_to(w, (len(moves), int(lengths.max()), N_SQUARES)).copy()


class ModelAcceptor(Acceptor):
    """A model of any kind under an accept rule (:class:`othello.model.legality.AcceptRule`):
    ``epsilon`` (softmax probability > epsilon) or ``threshold`` (sigmoid of each square's
    logit > threshold, for ``legal_set`` models)."""

    def __init__(
        self, model: HookedModel, rule: str = "epsilon", cut: float = EPSILON, name: str = "model"
    ):
        self.accept = AcceptRule(rule, float(cut))
        self.model, self.rule, self.cut, self.name = model, rule, float(cut), name
        self.device = next(model.parameters()).device

    def describe(self) -> dict:
        return {"rule": self.rule, "cut": self.cut}

    def weights_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """[..., 64] sampling weights, zero where not accepted, from logits [..., 61]."""
        p = self.accept.scores(logits)
        return torch.where(self.accept.accepts(p), p, torch.zeros_like(p))

    @torch.no_grad()
    def position_weights(self, moves, lengths):
        width = min(int(lengths.max()), N_POSITIONS)
        tokens = torch.as_tensor(encode(np.where(moves[:, :width] >= 0, moves[:, :width], -1)))
        logits = self.model(tokens.to(self.device))
        w = self.weights_from_logits(logits).cpu().numpy()
        if int(lengths.max()) > N_POSITIONS:  # after move 60 nothing is accepted
            w = np.concatenate([w, np.zeros_like(w[:, :1])], 1)
        return w

    # Through the model's decoding cache (:mod:`.cached`); ``accepts`` and ``position_weights``
    # keep the full forward, against which the tests check these.
    @torch.no_grad()
    def sample(self, moves, lengths, n_samples, rng):
        return cached.sample(self.model, self.weights_from_logits, moves, lengths, n_samples, rng)

    @torch.no_grad()
    def first_rejected(self, moves, lengths, start):
        return cached.first_rejected(self.model, self.weights_from_logits, moves, lengths, start)

    @torch.no_grad()
    def next_weights(self, moves, lengths):
        return cached.next_weights(self.model, self.weights_from_logits, moves, lengths)

    @torch.no_grad()
    def sample_judged(self, first, second, lengths, n_samples, rng, whole_trial=False):
        return cached.sample_judged(
            self.model,
            self.weights_from_logits,
            first,
            second,
            lengths,
            n_samples,
            rng,
            whole_trial,
        )
