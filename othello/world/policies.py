"""Games played by a non-random policy: boards that uniformly random play rarely reaches.

The training corpus is uniformly random play, so a model's world representation is only
exercised on the boards that policy tends to produce. A greedy player (each side takes the
move that turns over the most discs, ties broken at random) builds lopsided boards with long
runs of one colour, which makes its positions a natural out-of-distribution test set for
interventions: the "unnatural" benchmark.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from othello.world import engine
from othello.world.bits import lowest_square, popcount
from othello.world.squares import MAX_MOVES, START_BLACK, START_WHITE

U64 = np.uint64
ONE = U64(1)
ZERO = U64(0)


@njit(inline="always")
def _play_greedy_game(state, moves_row):
    me = U64(START_BLACK)
    opp = U64(START_WHITE)
    n = 0
    while n < MAX_MOVES:
        me, opp, legal = engine.side_to_move(me, opp)
        if legal == ZERO:
            break
        best = -1
        ties = 0
        square = 0
        rest = legal
        while rest:
            candidate = lowest_square(rest)
            rest &= rest - ONE
            gain = popcount(engine.flips(me, opp, candidate))
            if gain > best:
                best, ties, square = gain, 1, candidate
            elif gain == best:
                ties += 1  # reservoir sampling: each tied move kept with probability 1/ties
                state += engine.GOLDEN
                if (engine.mix64(state) >> U64(11)) % U64(ties) == ZERO:
                    square = candidate
        me, opp = engine.play(me, opp, square)
        moves_row[n] = square
        n += 1
    return n


@njit(parallel=True, cache=True)
def _greedy_games(seed, moves_out, length_out):
    for i in prange(moves_out.shape[0]):
        row = moves_out[i]
        row[:] = -1
        length_out[i] = _play_greedy_game(engine.game_stream_state(seed, i), row)


def greedy_games(n_games: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_games`` greedy games: moves int8 [n, 60] (padded with -1) and lengths int8 [n];
    the same seed gives the same games."""
    moves = np.empty((n_games, MAX_MOVES), dtype=np.int8)
    length = np.empty(n_games, dtype=np.int8)
    _greedy_games(np.uint64(seed), moves, length)
    return moves, length
