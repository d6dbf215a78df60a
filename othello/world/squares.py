"""Square indexing and notation shared by every stage.

A square index is ``row * 8 + col`` with row = digit - 1 and col = letter - 'A' in standard
notation (letter = column, digit = row), so A1 is 0, H1 is 7, A8 is 56 and H8 is 63. Bit ``i``
of a 64-bit bitboard is square ``i``.
"""

from __future__ import annotations

from othello.common.errors import UserError

N_SQUARES = 64
MAX_MOVES = 60  # 64 squares less the four occupied at the start
PAD_MOVE = -1  # padding in move arrays after a game's last move
# positions a model reads: a game of 60 moves is read as 59 tokens (the last move is never an
# input, it is only predicted), so every model, cache and stage has 59 positions
N_POSITIONS = MAX_MOVES - 1

BLACK = 0
WHITE = 1

CENTRE_SQUARES = (27, 28, 35, 36)  # D4, E4, D5, E5
# Standard start: D5 and E4 black, D4 and E5 white; black moves first.
START_BLACK = (1 << 28) | (1 << 35)
START_WHITE = (1 << 27) | (1 << 36)

_LETTERS = "ABCDEFGH"


def square_name(square: int) -> str:
    """Standard name of a square index, e.g. 37 -> 'F5'."""
    if not 0 <= square < N_SQUARES:
        raise UserError(f"square index {square} is outside 0..63")
    return f"{_LETTERS[square % 8]}{square // 8 + 1}"


def parse_square(name: str) -> int:
    """Square index of a standard name such as 'f5' or 'F5'."""
    text = name.strip().upper()
    if len(text) != 2 or text[0] not in _LETTERS or text[1] not in "12345678":
        raise UserError(f"not a square name: {name!r}")
    return (int(text[1]) - 1) * 8 + _LETTERS.index(text[0])


def transpose_square(square: int) -> int:
    """Mirror a square in the A1-H8 diagonal (swap row and column).

    Conventions that name squares with the letter as the row (Li et al.'s ``othello_world``,
    the TransformerLens Othello-GPT utilities) differ from standard notation by this map.
    The start position is symmetric under it, so it maps legal games to legal games.
    """
    return (square % 8) * 8 + square // 8


def bitboard_squares(bitboard: int) -> list[int]:
    """The squares set in a 64-bit board, ascending."""
    return [s for s in range(N_SQUARES) if int(bitboard) >> s & 1]


def squares_bitboard(squares: list[int]) -> int:
    """The 64-bit board with ``squares`` set."""
    return sum(1 << int(s) for s in set(squares))
