"""Compiled bitboard Othello: the hot loops behind generation, replay and perft.

Positions are a pair of uint64 bitboards ``(me, opp)`` from the side to move, which makes
"mine / theirs" labels free and keeps each rule one expression. Directional fills use the
masked-shift flood ("dumb7fill"): six steps cover the longest possible run of opponent discs.
Every kernel is one game per iteration of a ``prange`` loop, so games are independent and the
output does not depend on the number of threads.

Random games draw from a SplitMix64 stream seeded by ``(seed, game index)``; the numpy batch
engine the tests keep (tests/batch_engine.py) reproduces the same stream, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from othello.world.bits import lowest_square, popcount
from othello.world.squares import MAX_MOVES, START_BLACK, START_WHITE

U64 = np.uint64
NOT_A = U64(0xFEFEFEFEFEFEFEFE)  # every square but column A
NOT_H = U64(0x7F7F7F7F7F7F7F7F)  # every square but column H
ALL = U64(0xFFFFFFFFFFFFFFFF)
ZERO = U64(0)
ONE = U64(1)

# The four line directions as shift amounts; each is walked both ways. The mask after a
# shift removes discs that wrapped from one edge column to the other.
SHIFTS = (U64(1), U64(8), U64(9), U64(7))
MASKS_UP = (NOT_A, ALL, NOT_A, NOT_H)  # after x << s
MASKS_DOWN = (NOT_H, ALL, NOT_H, NOT_A)  # after x >> s

GOLDEN = U64(0x9E3779B97F4A7C15)
MIX1 = U64(0xBF58476D1CE4E5B9)
MIX2 = U64(0x94D049BB133111EB)
SPLIT_SALT = U64(0x5EED5EED5EED5EED)


@njit(inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijective scramble of a uint64."""
    z = (z ^ (z >> U64(30))) * MIX1
    z = (z ^ (z >> U64(27))) * MIX2
    return z ^ (z >> U64(31))


@njit(inline="always")
def game_stream_state(seed, index):
    """Initial RNG state of game ``index`` of a corpus with ``seed``."""
    return mix64(mix64(U64(seed)) + U64(index) * GOLDEN)


@njit(inline="always")
def legal_moves(me, opp):
    """Bitboard of the squares where the side to move may play."""
    empty = ~(me | opp)
    moves = ZERO
    for d in range(4):
        s = SHIFTS[d]
        o = opp & MASKS_UP[d]
        x = (me << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        moves |= (x << s) & MASKS_UP[d]
        o = opp & MASKS_DOWN[d]
        x = (me >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        moves |= (x >> s) & MASKS_DOWN[d]
    return moves & empty


@njit(inline="always")
def flips(me, opp, square):
    """Bitboard of the opponent discs that a move on ``square`` turns over."""
    move = ONE << U64(square)
    flipped = ZERO
    for d in range(4):
        s = SHIFTS[d]
        o = opp & MASKS_UP[d]
        x = (move << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        x |= (x << s) & o
        if (x << s) & MASKS_UP[d] & me:
            flipped |= x
        o = opp & MASKS_DOWN[d]
        x = (move >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        x |= (x >> s) & o
        if (x >> s) & MASKS_DOWN[d] & me:
            flipped |= x
    return flipped


@njit(inline="always")
def nth_square(bits, k):
    """Index of the k-th (from 0) set bit, by clearing the k lowest; PDEP is slow on AMD."""
    for _ in range(k):
        bits &= bits - ONE
    return lowest_square(bits)


@njit(inline="always")
def side_to_move(me, opp):
    """``(me, opp, legal)`` for whoever moves next: after a forced pass the other side moves
    again, so the pair is swapped; ``legal`` is 0 when neither side can move."""
    legal = legal_moves(me, opp)
    if legal == ZERO:
        legal = legal_moves(opp, me)
        if legal != ZERO:
            return opp, me, legal
    return me, opp, legal


@njit(inline="always")
def play(me, opp, square):
    """The position after the side to move plays ``square``, from the opponent's view."""
    f = flips(me, opp, square)
    return opp & ~f, me | f | (ONE << U64(square))


@njit(inline="always")
def play_random_game(state, moves_row):
    """Play one uniformly-random-legal-move game into ``moves_row``; return its length."""
    me = U64(START_BLACK)
    opp = U64(START_WHITE)
    n = 0
    while n < MAX_MOVES:
        me, opp, legal = side_to_move(me, opp)
        if legal == ZERO:
            break
        state += GOLDEN
        r = mix64(state)
        k = ((r >> U64(32)) * U64(popcount(legal))) >> U64(32)  # unbiased enough: n <= 33
        square = nth_square(legal, k)
        me, opp = play(me, opp, square)
        moves_row[n] = square
        n += 1
    return n


@njit(parallel=True, cache=True)
def generate_games(seed, first_index, moves_out, length_out):
    """Fill ``moves_out`` [B, 60] int8 (padded with -1) and ``length_out`` [B] with the games
    ``first_index .. first_index + B - 1`` of the corpus with ``seed``."""
    for i in prange(moves_out.shape[0]):
        row = moves_out[i]
        row[:] = -1
        state = game_stream_state(seed, first_index + i)
        length_out[i] = play_random_game(state, row)


@njit(parallel=True, cache=True)
def split_assignment(seed, first_index, count, val_fraction, test_fraction, out):
    """Split of each game (0 train, 1 validation, 2 test), a function of (seed, index) alone."""
    for i in prange(count):
        u = (mix64(mix64(U64(seed) ^ SPLIT_SALT) + U64(first_index + i) * GOLDEN) >> U64(11)) * (
            1.0 / 9007199254740992.0
        )
        if u < test_fraction:
            out[i] = 2
        elif u < test_fraction + val_fraction:
            out[i] = 1
        else:
            out[i] = 0


@njit(parallel=True, cache=True)
def replay_games(
    moves, lengths, black_out, white_out, flipped_out, legal_out, mover_out, next_out, error_out
):
    """Replay games and record, after each ply t, the board (black, white bitboards), the discs
    flipped by move t, the legal moves of the side that moves next, who played move t and who
    moves next (0 black, 1 white, -1 nobody: game over). Plies past a game's length are zero
    and -1. ``error_out[i]`` is -1 for a legal game, else the first illegal ply (0-based)."""
    for i in prange(moves.shape[0]):
        black = U64(START_BLACK)
        white = U64(START_WHITE)
        side = 0  # side to move: 0 black, 1 white
        error_out[i] = -1
        n = lengths[i]
        for t in range(MAX_MOVES):
            black_out[i, t] = ZERO
            white_out[i, t] = ZERO
            flipped_out[i, t] = ZERO
            legal_out[i, t] = ZERO
            mover_out[i, t] = -1
            next_out[i, t] = -1
        for t in range(n):
            if side == 0:
                me, opp = black, white
            else:
                me, opp = white, black
            legal = legal_moves(me, opp)
            if legal == ZERO:  # forced pass
                side = 1 - side
                me, opp = opp, me
                legal = legal_moves(me, opp)
            square = moves[i, t]
            if square < 0 or square > 63 or not (legal >> U64(square)) & ONE:
                error_out[i] = t
                break
            f = flips(me, opp, square)
            me |= f | (ONE << U64(square))
            opp &= ~f
            if side == 0:
                black, white = me, opp
            else:
                black, white = opp, me
            black_out[i, t] = black
            white_out[i, t] = white
            flipped_out[i, t] = f
            mover_out[i, t] = side
            # Who moves next: the opponent, unless they must pass; nobody if neither can move.
            nxt = legal_moves(opp, me)
            if nxt != ZERO:
                side = 1 - side
                legal_out[i, t] = nxt
                next_out[i, t] = side
            else:
                again = legal_moves(me, opp)
                if again != ZERO:
                    legal_out[i, t] = again
                    next_out[i, t] = side
                else:
                    next_out[i, t] = -1


@njit  # not cached: numba's cache mis-loads self-recursive functions
def _perft(me, opp, depth, passed):
    if depth == 0:
        return 1
    legal = legal_moves(me, opp)
    if legal == ZERO:
        if passed:
            return 1  # neither side can move: the game is over, a leaf
        return _perft(opp, me, depth - 1, True)
    total = 0
    while legal:
        square = lowest_square(legal)
        legal &= legal - ONE
        f = flips(me, opp, square)
        total += _perft(opp & ~f, me | f | (ONE << U64(square)), depth - 1, False)
    return total


def perft(depth: int) -> int:
    """Leaf count of the game tree ``depth`` plies deep from the start position.

    Uses the published convention (OEIS A124004 and engine perft tables): a forced pass is a
    ply, and a finished game is one leaf. The corpus itself never records passes.
    """
    return int(_perft(U64(START_BLACK), U64(START_WHITE), depth, False))
