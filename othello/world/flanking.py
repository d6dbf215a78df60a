"""Why a move is legal, or not, square by square: the rules' answer that attribution graphs
are graded against (a graph that explains move ``m`` should read the discs that make ``m``
legal).

A move ``m`` of the side to move is legal when, in some of the eight directions, a run of one
or more opponent discs starts next to ``m`` and ends on one of the mover's discs. For each
direction :func:`flanking_lines` returns, as bitboards from the side to move's view:

* ``flips``: the opponent discs of every run that ends on a mover's disc (what ``m`` turns
  over: the engine's :func:`othello.world.engine.flips` when ``m`` is empty);
* ``anchors``: the mover's discs that end those runs;
* ``blockers``: in every other direction, the first square from ``m`` that is not an opponent
  disc (a mover's disc next to ``m``, an empty square, or an empty square after a run of
  opponent discs): the square whose content stops that line. A line that runs off the board
  has none.

An occupied ``m`` flanks nothing: its ``flips`` and ``anchors`` are empty and it is its own
blocker. Directional walks are the engine's masked shifts (:mod:`othello.world.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from othello.common.errors import UserError
from othello.world.engine import MASKS_DOWN, MASKS_UP, ONE, SHIFTS, U64, ZERO
from othello.world.labels import PlyLabels, unpack_bitboards
from othello.world.squares import N_SQUARES, square_name


@njit(inline="always")
def _walk(move, me, opp, s, mask, up):
    """(run of opponent discs from ``move``, the square just past it) along one direction."""
    o = opp & mask
    x = ((move << s) if up else (move >> s)) & o
    for _ in range(5):
        x |= ((x << s) if up else (x >> s)) & o
    line = x | move
    # past six opponent discs lies only the corner: an opponent disc there ends no line
    beyond = ((line << s) if up else (line >> s)) & mask & ~line & ~opp
    return x, beyond


@njit(cache=True)
def flanking_lines(me, opp, square):
    """``(flips, anchors, blockers)`` bitboards of a move on ``square`` by the side owning
    ``me`` against ``opp`` (see the module docstring)."""
    move = ONE << U64(square)
    if (me | opp) & move:
        return ZERO, ZERO, move
    flips = ZERO
    anchors = ZERO
    blockers = ZERO
    for d in range(4):
        for up in (True, False):
            mask = MASKS_UP[d] if up else MASKS_DOWN[d]
            run, beyond = _walk(move, me, opp, SHIFTS[d], mask, up)
            if run != ZERO and beyond & me:
                flips |= run
                anchors |= beyond
            else:
                blockers |= beyond
    return flips, anchors, blockers


@dataclass(frozen=True)
class Lines:
    """A move's lines at one position, each a bool [64] mask (see the module docstring)."""

    square: int
    legal: bool
    flips: np.ndarray
    anchors: np.ndarray
    blockers: np.ndarray

    @property
    def truth(self) -> np.ndarray:
        """bool [64]: the squares the rules say decide the move: the move itself and, for a
        legal move, its flanking lines (flipped discs and anchors), for an illegal one what
        blocks it."""
        lines = self.flips | self.anchors if self.legal else self.blockers
        out = lines.copy()
        out[self.square] = True
        return out

    def describe(self) -> str:
        names = lambda mask: " ".join(square_name(int(s)) for s in np.flatnonzero(mask))  # noqa: E731
        move = square_name(self.square)
        if self.legal:
            return f"{move} flips {names(self.flips)} (anchors {names(self.anchors)})"
        return f"{move} is illegal; blocked at {names(self.blockers)}"


def sides(labels: PlyLabels, row: int, ply: int) -> tuple[int, int]:
    """``(me, opp)`` bitboards after move ``ply`` of game ``row``, from the view of the side
    to move (:meth:`PlyLabels.perspective`)."""
    white = int(labels.perspective()[row, ply]) == 1
    black, whites = int(labels.black[row, ply]), int(labels.white[row, ply])
    return (whites, black) if white else (black, whites)


def move_lines(me: int, opp: int, square: int) -> Lines:
    """The lines of a move on ``square`` by the side owning bitboard ``me``."""
    if not 0 <= int(square) < N_SQUARES:
        raise UserError(f"square {square} is outside 0..63")
    flips, anchors, blockers = flanking_lines(U64(me), U64(opp), int(square))
    masks = unpack_bitboards(np.array([flips, anchors, blockers], np.uint64))
    return Lines(int(square), bool(flips), *masks)
