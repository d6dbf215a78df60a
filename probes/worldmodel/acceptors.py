"""What a model *accepts* after a prefix: the moves it would allow next, the thing every
Myhill-Nerode test reads (Vafa et al. 2024, "Evaluating the World Model Implicit in a
Generative Model").

An acceptor gives, after each prefix of a move sequence, a weight per square: zero where the
move is not accepted, and otherwise the weight it is sampled with. Four kinds:

* :class:`ModelAcceptor`: a GPT. A softmax-trained model ("sampled" / "legal" target) accepts a
  move whose probability exceeds ``epsilon`` (Vafa et al.'s rule, 0.01) and samples from the
  probabilities cut there, as their ``sample(..., epsilon_cutoff)`` does. A ``legal_set`` model
  has a sigmoid per square and no distribution: it accepts a square whose sigmoid exceeds a
  threshold chosen on validation games (:func:`choose_threshold`) and samples the accepted
  squares in proportion to their sigmoids.
* :class:`EngineAcceptor`: the rules: accepts exactly the legal moves, uniformly (the process
  that generated the synthetic games, so its samples are the "true" suffixes).
* :class:`UniformAcceptor`: ignores its input: the same distribution (uniform over the 60
  squares that can be moves) after every prefix.
* :class:`PlacedByAcceptor`: knows only the placed-by board (every disc the colour of whoever
  put it down, no disc ever flipped) and applies the rules to that board.

Sequences are move arrays int8 [B, 60] (square indices, -1 padding) with lengths [B]. Weights
come per *position*: position t holds the weights of move t + 1 after moves 0..t, the indexing
of the model's outputs and of :func:`othello.world.labels.replay`'s ``legal``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from numba import njit, prange

from othello.common.errors import UserError
from othello.model.evaluate import square_scores
from othello.model.gpt import GPT
from othello.world.bits import popcount
from othello.world.engine import ONE, U64, ZERO, flips, nth_square, side_to_move
from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import MAX_MOVES, N_POSITIONS, N_SQUARES, START_BLACK, START_WHITE
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


class RuleAcceptor(Acceptor):
    """An acceptor that is a rule over bitboards: it accepts the squares of ``legal_bits`` and
    samples them uniformly, playing continuations in one compiled loop."""

    turns_discs = True  # whether a move turns discs over

    def legal_bits(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """uint64 [B, 60]: the accepted squares after moves 0..t (0: nothing accepted)."""
        legal = np.zeros((len(moves), MAX_MOVES), np.uint64)
        _rule_replay(_full(moves), np.asarray(lengths, np.int64), self.turns_discs, legal)
        return legal

    def position_weights(self, moves, lengths):
        bits = self.legal_bits(moves, lengths)[:, : int(lengths.max())]
        return unpack_bitboards(bits).astype(np.float32)

    def accepts(self, moves, lengths, start):
        moves = _full(moves)
        bits = self.legal_bits(moves, lengths)
        nxt = np.where(moves[:, 1:] >= 0, moves[:, 1:], 0).astype(np.uint64)
        ok = (bits[:, :-1] >> nxt) & np.uint64(1) == 1
        t = np.arange(1, MAX_MOVES)[None, :]
        out = np.zeros(moves.shape, bool)
        out[:, 1:] = ok & (t >= start[:, None]) & (t < lengths[:, None])
        return out

    def sample(self, moves, lengths, n_samples, rng):
        moves = np.repeat(_full(moves), n_samples, 0)
        lengths = np.repeat(lengths, n_samples).astype(np.int64)
        _rule_play(moves, lengths, rng.random(moves.shape), self.turns_discs)
        return moves, lengths


class EngineAcceptor(RuleAcceptor):
    """The rules of Othello: exactly the legal moves, each as likely (passes as the rules say;
    nothing after the game's end or an illegal move)."""

    name = "engine"

    def legal_bits(self, moves, lengths):
        return replay(_full(moves), np.asarray(lengths, np.int8)).legal

    def valid(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """bool [B]: whether each row is a legal move sequence."""
        return replay(_full(moves), np.asarray(lengths, np.int8)).error < 0


class PlacedByAcceptor(RuleAcceptor):
    """Knows only the placed-by board: the rules applied to a board where no disc is ever
    flipped (each disc stays the colour of whoever played it). The side to move alternates,
    passing as the rules say when it has no move on that board. It reads any sequence: a move
    its board would not allow is placed all the same."""

    name = "placed_by"
    turns_discs = False


class UniformAcceptor(Acceptor):
    """A model that ignores its input: uniform over the 60 squares after every prefix."""

    name = "uniform"

    def position_weights(self, moves, lengths):
        w = PLAYABLE_MASK.astype(np.float32)
        return np.broadcast_to(w, (len(moves), int(lengths.max()), N_SQUARES)).copy()


def _full(moves: np.ndarray) -> np.ndarray:
    """int8 [B, 60] (rows shorter than 60 columns padded with -1)."""
    out = np.full((len(moves), MAX_MOVES), -1, np.int8)
    out[:, : moves.shape[1]] = moves
    return out


@njit(inline="always")
def _move(me, opp, square, turn):
    """The position after ``square`` from the next side's view, turning discs or not."""
    f = flips(me, opp, square) if turn else ZERO
    return opp & ~f, me | f | (ONE << U64(square))


@njit(parallel=True, cache=True)
def _rule_replay(moves, lengths, turn, legal_out):
    """``legal_out[i, t]``: the squares the rule allows after moves 0..t (0 when neither side
    can move). Every move is played, allowed or not: a rule reads any sequence, as a model does
    (only the first refused move counts)."""
    for i in prange(moves.shape[0]):
        me = U64(START_BLACK)
        opp = U64(START_WHITE)
        for t in range(lengths[i]):
            me, opp, legal = side_to_move(me, opp)
            square = moves[i, t]
            if square < 0:
                break
            me, opp = _move(me, opp, square, turn)
            legal_out[i, t] = side_to_move(me, opp)[2]


@njit(parallel=True, cache=True)
def _rule_play(moves, lengths, uniforms, turn):
    """Continue each row with uniformly drawn allowed squares (``uniforms[i, t]`` picks move
    t) until nothing is allowed or the game has 60 moves."""
    for i in prange(moves.shape[0]):
        me = U64(START_BLACK)
        opp = U64(START_WHITE)
        for t in range(lengths[i]):
            me, opp, legal = side_to_move(me, opp)
            me, opp = _move(me, opp, moves[i, t], turn)
        n = lengths[i]
        while n < MAX_MOVES:
            me, opp, legal = side_to_move(me, opp)
            if legal == ZERO:
                break
            square = nth_square(legal, int(uniforms[i, n] * popcount(legal)))
            me, opp = _move(me, opp, square, turn)
            moves[i, n] = square
            n += 1
        lengths[i] = n


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
        from othello.model.kv_cache import KVCache

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
        while len(playing):
            weights = self.weights_from_logits(logits).cpu().numpy()
            going = _extend(out_moves, out_lengths, playing, weights, rng)
            if not going.all():
                index = torch.as_tensor(np.flatnonzero(going))
                playing, cache = playing[going], cache.select(index)
            if not len(playing):
                break
            played = torch.as_tensor(encode(out_moves[playing, out_lengths[playing] - 1]))
            positions = torch.as_tensor(out_lengths[playing] - 1)
            logits = self.model.step(played.to(self.device), positions.to(self.device), cache)
