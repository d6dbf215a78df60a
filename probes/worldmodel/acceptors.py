"""What a model *accepts* after a prefix: the moves it would allow next, the thing every
Myhill-Nerode test reads (Vafa et al. 2024, "Evaluating the World Model Implicit in a
Generative Model").

An acceptor gives, after each prefix of a move sequence, a weight per square: zero where the
move is not accepted, and otherwise the weight it is sampled with. Four kinds:

* :class:`ModelAcceptor`: a GPT. A softmax-trained model ("sampled" / "legal" target) accepts a
  move whose probability exceeds ``epsilon`` (Vafa et al.'s rule, 0.01) and samples from the
  probabilities cut there, as their ``sample(..., epsilon_cutoff)`` does. A ``legal_set`` model
  has a sigmoid per square and no distribution: it accepts a square whose sigmoid exceeds a
  threshold chosen on validation games (:mod:`.accept_rule`) and samples the accepted squares
  in proportion to their sigmoids.
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

from collections.abc import Iterator

import numpy as np
import torch

from othello.common.errors import UserError
from othello.model.evaluate import square_scores
from othello.model.gpt import GPT
from othello.model.kv_cache import KVCache
from othello.world.squares import MAX_MOVES, N_POSITIONS, N_SQUARES
from othello.world.tokens import PLAYABLE_MASK, encode

EPSILON = 0.01  # Vafa et al.'s acceptance cut for softmax models
CHUNK = 1024  # rows per forward pass


def _chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class Acceptor:
    """Weights of the next move after every prefix; ``sample`` extends prefixes with them.

    Subclasses give :meth:`position_weights`; sampling here recomputes the weights of the whole
    sequence for each new move (for a GPT that is the naive sampler: a full forward per token;
    :class:`ModelAcceptor` overrides it with a key/value cache)."""

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
        for rows in _chunks(len(moves)):
            m, n = moves[rows], lengths[rows]
            w = self.position_weights(m, n)[:, : MAX_MOVES - 1]  # position t: move t + 1
            t = np.arange(1, w.shape[1] + 1)
            nxt = np.where(m[:, 1 : w.shape[1] + 1] >= 0, m[:, 1 : w.shape[1] + 1], 0)
            ok = np.take_along_axis(w, nxt[..., None].astype(np.int64), 2)[..., 0] > 0
            inside = (t[None] >= start[rows, None]) & (t[None] < n[:, None])
            out[rows, 1 : w.shape[1] + 1] = ok & inside
        return out

    def next_weights(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """float32 [B, 64]: the weights of the move after each whole row."""
        out = np.zeros((len(moves), N_SQUARES), np.float32)
        for rows in _chunks(len(moves)):
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


def _extend(moves, lengths, rows, weights, rng) -> np.ndarray:
    """Draw one move per row from ``weights`` (rows with no weight end); which rows go on."""
    total = weights.sum(1)
    alive = total > 0
    u = rng.random(len(rows)) * total
    last_accepted = N_SQUARES - 1 - (weights[:, ::-1] > 0).argmax(1)  # for rounding at the top
    square = np.minimum((weights.cumsum(1) <= u[:, None]).sum(1), last_accepted)
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
    """A GPT under an accept rule: ``epsilon`` (softmax probability > epsilon) or ``threshold``
    (sigmoid of each square's logit > threshold, for ``legal_set`` models)."""

    def __init__(
        self, model: GPT, rule: str = "epsilon", cut: float = EPSILON, name: str = "model"
    ):
        if rule not in ("epsilon", "threshold"):
            raise UserError(f"accept rule must be 'epsilon' or 'threshold', got {rule!r}")
        self.model, self.rule, self.cut, self.name = model, rule, float(cut), name
        self.device = next(model.parameters()).device

    def describe(self) -> dict:
        return {"rule": self.rule, "cut": self.cut}

    def weights_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """[..., 64] sampling weights, zero where not accepted, from logits [..., 61]."""
        logits = logits.float()
        if self.rule == "epsilon":
            p = square_scores(logits.softmax(-1), 0.0)
        else:
            p = square_scores(logits.sigmoid(), 0.0)
        return torch.where(p > self.cut, p, torch.zeros_like(p))

    @torch.no_grad()
    def position_weights(self, moves, lengths):
        width = min(int(lengths.max()), N_POSITIONS)
        tokens = torch.as_tensor(encode(np.where(moves[:, :width] >= 0, moves[:, :width], -1)))
        logits = self.model(tokens.to(self.device))
        w = self.weights_from_logits(logits).cpu().numpy()
        if int(lengths.max()) > N_POSITIONS:  # after move 60 nothing is accepted
            w = np.concatenate([w, np.zeros_like(w[:, :1])], 1)
        return w

    @torch.no_grad()
    def sample(self, moves, lengths, n_samples, rng):
        """As :meth:`Acceptor.sample`, with a key/value cache: each prefix is read once and
        every sample then costs one step per move."""
        out_moves = np.repeat(moves, n_samples, 0).astype(np.int8)
        out_lengths = np.repeat(lengths, n_samples).astype(np.int64)
        for rows in _chunks(len(moves), max(CHUNK // n_samples, 1)):
            self._sample_chunk(out_moves, out_lengths, rows, n_samples, rng)
        return out_moves, out_lengths

    def _sample_chunk(self, out_moves, out_lengths, rows: slice, n_samples: int, rng) -> None:
        """Extend the samples of prefixes ``rows`` in place; the cache and the logits hold one
        row per sample still being played."""
        prefixes = out_moves[rows.start * n_samples : rows.stop * n_samples : n_samples]
        n_prefix = out_lengths[rows.start * n_samples : rows.stop * n_samples : n_samples]
        width = min(int(n_prefix.max()), N_POSITIONS)
        tokens = torch.as_tensor(encode(prefixes[:, :width])).to(self.device)
        cache = KVCache(self.model.cfg, len(prefixes), self.device)
        logits = self.model.prefill(tokens, cache)
        last = torch.as_tensor(np.minimum(n_prefix, N_POSITIONS) - 1, device=self.device)
        logits = logits[torch.arange(len(prefixes), device=self.device), last]
        playing = np.arange(rows.start * n_samples, rows.stop * n_samples)
        going = out_lengths[playing] < MAX_MOVES
        index = torch.as_tensor(np.repeat(np.arange(len(prefixes)), n_samples)[going])
        playing, cache, logits = playing[going], cache.select(index), logits[index.to(self.device)]
        alive = np.ones(len(playing), bool)  # cache rows still sampling
        while alive.any():
            weights = self.weights_from_logits(logits[torch.as_tensor(alive)]).cpu().numpy()
            alive[alive] = _extend(out_moves, out_lengths, playing[alive], weights, rng)
            if not alive.any():
                break
            if (~alive).sum() * 4 >= len(alive):  # copy the cache only once a quarter is done
                index = torch.as_tensor(np.flatnonzero(alive))
                playing, cache, alive = playing[alive], cache.select(index), alive[alive]
            # finished rows step too (their output unread) until the next copy drops them
            played = torch.as_tensor(encode(out_moves[playing, out_lengths[playing] - 1]))
            positions = torch.as_tensor(np.minimum(out_lengths[playing], N_POSITIONS) - 1)
            logits = self.model.step(played.to(self.device), positions.to(self.device), cache)
