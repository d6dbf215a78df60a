"""The same engine in vectorised numpy: a batch of games advances one ply per step.

Nothing in the pipeline runs it: it is kept only as a second, independently written oracle for
the compiled kernels in :mod:`othello.world.engine`, which the tests and the games benchmark compare
against. It uses the same RNG stream, so it produces the same games bit for bit, at a fraction
of the speed.
"""

from __future__ import annotations

import numpy as np

from othello.world.squares import MAX_MOVES, START_BLACK, START_WHITE

U64 = np.uint64
_NOT_A = U64(0xFEFEFEFEFEFEFEFE)
_NOT_H = U64(0x7F7F7F7F7F7F7F7F)
_ALL = U64(0xFFFFFFFFFFFFFFFF)
_DIRECTIONS = (  # (shift, mask after shifting up, mask after shifting down)
    (U64(1), _NOT_A, _NOT_H),
    (U64(8), _ALL, _ALL),
    (U64(9), _NOT_A, _NOT_H),
    (U64(7), _NOT_H, _NOT_A),
)
_GOLDEN = U64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def _runs(start: np.ndarray, opp: np.ndarray, step) -> np.ndarray:
    """Opponent discs in an unbroken line from ``start`` (exclusive), via six flood steps."""
    x = step(start) & opp
    for _ in range(5):
        x |= step(x) & opp
    return x


def _steps(shift, up_mask, down_mask):
    return (lambda b: (b << shift) & up_mask), (lambda b: (b >> shift) & down_mask)


def legal_moves(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """Legal-move bitboards for a batch of positions (uint64 arrays, side to move first)."""
    moves = np.zeros_like(me)
    for shift, up, down in _DIRECTIONS:
        for step in _steps(shift, up, down):
            moves |= step(_runs(me, opp, step))
    return moves & ~(me | opp)


def flips(me: np.ndarray, opp: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Discs turned over by playing ``squares`` (one per position) in a batch."""
    move = U64(1) << squares.astype(U64)
    flipped = np.zeros_like(me)
    for shift, up, down in _DIRECTIONS:
        for step in _steps(shift, up, down):
            run = _runs(move, opp, step)
            closed = (step(run) & me) != 0
            flipped |= np.where(closed, run, U64(0))
    return flipped


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(U64)


def nth_square(bits: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Index of the k-th (from 0) set bit of each bitboard."""
    bits = bits.copy()
    for i in range(int(k.max(initial=0))):
        clear = k > i
        bits[clear] &= bits[clear] - U64(1)
    return np.bitwise_count((bits & (~bits + U64(1))) - U64(1)).astype(np.int64)


def generate_games(seed: int, first_index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Games ``first_index .. first_index + count - 1`` of the corpus with ``seed``: the same
    games as :func:`othello.world.engine.generate_games`."""
    index = np.arange(first_index, first_index + count, dtype=U64)
    state = _mix64(_mix64(np.full(count, seed, dtype=U64)) + index * _GOLDEN)
    me = np.full(count, START_BLACK, dtype=U64)
    opp = np.full(count, START_WHITE, dtype=U64)
    moves = np.full((count, MAX_MOVES), -1, dtype=np.int8)
    length = np.zeros(count, dtype=np.int8)
    playing = np.ones(count, dtype=bool)
    for ply in range(MAX_MOVES):
        legal = legal_moves(me, opp)
        must_pass = legal == 0
        me, opp = np.where(must_pass, opp, me), np.where(must_pass, me, opp)
        legal = np.where(must_pass, legal_moves(me, opp), legal)
        playing &= legal != 0
        if not playing.any():
            break
        idx = np.flatnonzero(playing)
        state[idx] += _GOLDEN
        r = _mix64(state[idx])
        k = ((r >> U64(32)) * popcount(legal[idx])) >> U64(32)
        square = nth_square(legal[idx], k.astype(np.int64))
        f = flips(me[idx], opp[idx], square)
        new_me = me[idx] | f | (U64(1) << square.astype(U64))
        new_opp = opp[idx] & ~f
        me[idx], opp[idx] = new_opp, new_me
        moves[idx, ply] = square
        length[idx] = ply + 1
    return moves, length
