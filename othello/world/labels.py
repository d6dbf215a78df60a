"""Per-ply board-state labels for batches of games: what probes and interventions learn from.

Replay keeps labels compact (one uint64 bitboard per ply and field); the ``*_squares`` methods
expand them to per-square arrays only when asked. Ply ``t`` describes the position *after*
move ``t``, which is what the model has seen at sequence position ``t`` when it predicts move
``t + 1``.

"Mine / theirs" is relative to the side that moves next, found by the rules: after a forced
pass the same side moves again, so parity is not used. After the last move of a finished game
nobody moves; there the board is labelled from the view of the last mover's opponent (the side
that would move by alternation) and ``next_player`` is -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from othello.world import engine
from othello.world.squares import CENTRE_SQUARES, MAX_MOVES, N_SQUARES, START_BLACK

EMPTY = 0
# Colour scheme: board_colour()
BLACK_DISC = 1
WHITE_DISC = 2
# Relative scheme: board_relative()
MINE = 1
THEIRS = 2
PADDING = -1  # plies past a game's end


def other_side(code: int) -> int:
    """A disc's class after it is flipped: mine <-> theirs (and black <-> white)."""
    return THEIRS if int(code) == MINE else MINE


@dataclass
class PlyLabels:
    """Labels of B games x 60 plies; bitboards are uint64 [B, 60], players int8 [B, 60]."""

    black: np.ndarray
    white: np.ndarray
    flipped: np.ndarray  # discs turned over by move t
    legal: np.ndarray  # legal moves of the side that moves next
    mover: np.ndarray  # who played move t: 0 black, 1 white, -1 padding
    next_player: np.ndarray  # who moves next: 0 black, 1 white, -1 nobody / padding
    lengths: np.ndarray
    error: np.ndarray  # int16 [B]: -1 legal game, else first illegal ply

    @property
    def valid(self) -> np.ndarray:
        return self.error < 0

    def board_colour(self) -> np.ndarray:
        """int8 [B, 60, 64]: 0 empty, 1 black, 2 white; -1 past the game's end."""
        out = np.empty(self.black.shape + (N_SQUARES,), dtype=np.int8)
        _expand_board(self.black, self.white, self.lengths, out)
        return out

    def board_relative(self) -> np.ndarray:
        """int8 [B, 60, 64]: 0 empty, 1 mine, 2 theirs for the side to move next; -1 padding."""
        viewer_is_white = self.perspective() == 1
        mine = np.where(viewer_is_white, self.white, self.black)
        theirs = np.where(viewer_is_white, self.black, self.white)
        out = np.empty(self.black.shape + (N_SQUARES,), dtype=np.int8)
        _expand_board(mine, theirs, self.lengths, out)
        return out

    def perspective(self) -> np.ndarray:
        """int8 [B, 60]: the side 'mine' refers to (next mover; at game end, the last mover's
        opponent); -1 padding."""
        return np.where(
            self.next_player >= 0, self.next_player, np.where(self.mover >= 0, 1 - self.mover, -1)
        ).astype(np.int8)

    def flipped_squares(self) -> np.ndarray:
        """bool [B, 60, 64]: squares turned over by move t."""
        return unpack_bitboards(self.flipped)

    def legal_squares(self) -> np.ndarray:
        """bool [B, 60, 64]: the next mover's legal moves (all False at game end)."""
        return unpack_bitboards(self.legal)


def replay(moves: np.ndarray, lengths: np.ndarray) -> PlyLabels:
    """Replay a batch of games (int8 [B, 60] squares, lengths [B]) into per-ply labels.

    Illegal games are not an exception here: ``error`` marks them so importers can report the
    file, game and ply.
    """
    moves = np.ascontiguousarray(moves, dtype=np.int8)
    lengths = np.ascontiguousarray(lengths, dtype=np.int8)
    if moves.ndim != 2 or moves.shape[1] != MAX_MOVES or lengths.shape != moves.shape[:1]:
        raise ValueError(
            f"expected moves [B, {MAX_MOVES}] and lengths [B], got "
            f"{moves.shape} and {lengths.shape}"
        )
    count = moves.shape[0]
    bitboards = [np.empty((count, MAX_MOVES), dtype=np.uint64) for _ in range(4)]
    mover = np.empty((count, MAX_MOVES), dtype=np.int8)
    next_player = np.empty((count, MAX_MOVES), dtype=np.int8)
    error = np.empty(count, dtype=np.int16)
    engine.replay_games(moves, lengths, *bitboards, mover, next_player, error)
    return PlyLabels(*bitboards, mover, next_player, lengths, error)


def _spread_table() -> np.ndarray:
    """SPREAD[b] puts bit j of byte b into byte j of a uint64: 8 squares written at once."""
    table = np.zeros(256, dtype=np.uint64)
    for b in range(256):
        for j in range(8):
            if b >> j & 1:
                table[b] |= np.uint64(1) << np.uint64(8 * j)
    return table


_SPREAD = _spread_table()


@njit(parallel=True, cache=True)
def _expand_board_words(first, second, lengths, out_words):
    """out_words: uint64 view [B, 60, 8] of an int8 [B, 60, 64] board (1 first, 2 second)."""
    for i in prange(first.shape[0]):
        for t in range(first.shape[1]):
            if t >= lengths[i]:
                for w in range(8):
                    out_words[i, t, w] = np.uint64(0xFFFFFFFFFFFFFFFF)
                continue
            a = first[i, t]
            b = second[i, t]
            for w in range(8):
                shift = np.uint64(8 * w)
                lo = _SPREAD[(a >> shift) & np.uint64(0xFF)]
                hi = _SPREAD[(b >> shift) & np.uint64(0xFF)]
                out_words[i, t, w] = lo + (hi << np.uint64(1))


@njit(parallel=True, cache=True)
def _unpack_words(bitboards, out_words):
    """out_words: uint64 view [..., 8] of a bool [..., 64] array."""
    flat_in = bitboards.reshape(-1)
    flat_out = out_words.reshape(-1, 8)
    for k in prange(flat_in.shape[0]):
        x = flat_in[k]
        for w in range(8):
            flat_out[k, w] = _SPREAD[(x >> np.uint64(8 * w)) & np.uint64(0xFF)]


def _expand_board(first: np.ndarray, second: np.ndarray, lengths: np.ndarray, out: np.ndarray):
    _expand_board_words(first, second, lengths, out.view(np.uint64))


def unpack_bitboards(bitboards: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """bool [..., 64] with element s set where bit s of the uint64 is set."""
    bitboards = np.ascontiguousarray(bitboards, dtype=np.uint64)
    if out is None:
        out = np.empty(bitboards.shape + (N_SQUARES,), dtype=bool)
    _unpack_words(bitboards, out.view(np.uint64))
    return out


def placed_by(moves: np.ndarray, labels: PlyLabels, relative: bool) -> np.ndarray:
    """int8 [B, 60, 64]: each disc as the colour of the player who put it down, as if no disc
    were ever flipped (0 empty, -1 padding; colour scheme, or with ``relative`` mine/theirs).

    This is the board a model reads from "who played the square" alone, which one attention
    head can do; a probe beating it shows the model tracks flips, the part of the board that
    takes a world model. Each square is played at most once, so the placer is fixed.
    """
    count = moves.shape[0]
    played_at = np.full((count, N_SQUARES), MAX_MOVES, np.int16)
    colour = np.zeros((count, N_SQUARES), np.int8)
    for square in CENTRE_SQUARES:
        played_at[:, square] = -1
        colour[:, square] = BLACK_DISC if START_BLACK >> square & 1 else WHITE_DISC
    game, ply = np.nonzero(moves >= 0)
    square = moves[game, ply]
    played_at[game, square] = ply
    colour[game, square] = np.where(labels.mover[game, ply] == 0, BLACK_DISC, WHITE_DISC)
    plies = np.arange(MAX_MOVES)
    board = np.where(played_at[:, None, :] <= plies[None, :, None], colour[:, None, :], EMPTY)
    if relative:
        viewer = np.where(labels.perspective() == 1, WHITE_DISC, BLACK_DISC)[..., None]
        board = np.where(board == EMPTY, EMPTY, np.where(board == viewer, MINE, THEIRS))
    board[plies[None, :] >= labels.lengths[:, None].astype(np.int64)] = PADDING
    return board.astype(np.int8)
