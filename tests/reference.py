"""An obviously-correct scalar Othello, written independently of the bitboard engine.

A board is a list of 64 cells (0 empty, 1 black, 2 white) indexed row * 8 + col; rules walk
the eight directions one cell at a time. Slow, and meant to be read rather than run fast.
"""

from __future__ import annotations

EMPTY, BLACK, WHITE = 0, 1, 2
DIRECTIONS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def start_board() -> list[int]:
    board = [EMPTY] * 64
    board[3 * 8 + 3] = WHITE  # D4
    board[4 * 8 + 4] = WHITE  # E5
    board[4 * 8 + 3] = BLACK  # D5
    board[3 * 8 + 4] = BLACK  # E4
    return board


def other(colour: int) -> int:
    return WHITE if colour == BLACK else BLACK


def flips(board: list[int], colour: int, square: int) -> list[int]:
    """Squares turned over if ``colour`` plays ``square`` (empty list: not a legal move)."""
    if board[square] != EMPTY:
        return []
    row, col = divmod(square, 8)
    turned: list[int] = []
    for dr, dc in DIRECTIONS:
        line = []
        r, c = row + dr, col + dc
        while 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == other(colour):
            line.append(r * 8 + c)
            r, c = r + dr, c + dc
        if line and 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == colour:
            turned.extend(line)
    return sorted(turned)


def legal_moves(board: list[int], colour: int) -> list[int]:
    return [s for s in range(64) if flips(board, colour, s)]


def play(board: list[int], colour: int, square: int) -> list[int]:
    turned = flips(board, colour, square)
    if not turned:
        raise ValueError(f"illegal move {square} for colour {colour}")
    for s in turned + [square]:
        board[s] = colour
    return turned


def replay(moves: list[int]) -> list[dict]:
    """One record per move: board after it, flipped squares, mover, next mover (None at the
    end) and the next mover's legal moves."""
    board = start_board()
    colour = BLACK
    records = []
    for square in moves:
        if not legal_moves(board, colour):
            colour = other(colour)
        turned = play(board, colour, square)
        mover = colour
        if legal_moves(board, other(colour)):
            colour = other(colour)
            nxt = colour
        elif legal_moves(board, colour):
            nxt = colour
        else:
            nxt = None
        records.append(
            {
                "board": list(board),
                "flipped": turned,
                "mover": mover,
                "next": nxt,
                "legal": legal_moves(board, nxt) if nxt else [],
            }
        )
    return records


def game_over(board: list[int]) -> bool:
    return not legal_moves(board, BLACK) and not legal_moves(board, WHITE)


def perft(board: list[int], colour: int, depth: int, passed: bool = False) -> int:
    """Leaf count with the published convention: a pass is a ply, a finished game one leaf."""
    if depth == 0:
        return 1
    moves = legal_moves(board, colour)
    if not moves:
        if passed:
            return 1
        return perft(board, other(colour), depth - 1, True)
    total = 0
    for square in moves:
        child = list(board)
        play(child, colour, square)
        total += perft(child, other(colour), depth - 1)
    return total
