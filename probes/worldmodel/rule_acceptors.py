"""Acceptors that are rules over bitboards: the engine (exactly the legal moves, the perfect
world model) and the placed-by stand-in (the rules on a board where no disc is ever flipped).
Each samples its continuations uniformly in one compiled loop (:mod:`.acceptors` has the
interface and the model's acceptor)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from othello.world.bits import popcount
from othello.world.engine import ONE, U64, ZERO, flips, nth_square, side_to_move
from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import MAX_MOVES, START_BLACK, START_WHITE
from probes.worldmodel.acceptors import Acceptor


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
