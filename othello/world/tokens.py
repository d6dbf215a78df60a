"""The move vocabulary shared with the published Othello-GPT checkpoints.

61 tokens: 0 is padding, and 1..60 are the 60 playable squares (every square but D4, E4, D5,
E5) in ascending square index. This is the id layout of Li et al.'s ``othello_world``
(whose ``CharDataset`` sorts the padding value -100 before the squares) and of the
TransformerLens Othello-GPT, so their embeddings and unembeddings index the same way.

Both of those projects *name* squares with the letter as the row, whereas our index is
``row * 8 + col`` with the letter as the column (standard notation). The indices coincide and
only the names differ: their name for a square is ours transposed
(:func:`othello.world.squares.transpose_square`). Passes are never tokens: after a pass the
sequence simply continues with the other player's move.
"""

from __future__ import annotations

import numpy as np

from othello.world.squares import CENTRE_SQUARES, N_SQUARES, PAD_MOVE

PAD_TOKEN = 0
VOCAB_SIZE = 61
PLAYABLE_SQUARES = np.array([s for s in range(N_SQUARES) if s not in CENTRE_SQUARES])
PLAYABLE_MASK = np.isin(np.arange(N_SQUARES), PLAYABLE_SQUARES)  # bool [64]: can be a move

# square -> token (0 for centre squares and padding, which are never moves)
_SQUARE_TO_TOKEN = np.zeros(N_SQUARES + 1, dtype=np.int64)
_SQUARE_TO_TOKEN[PLAYABLE_SQUARES] = np.arange(1, VOCAB_SIZE)
# token -> square (-1 for padding)
_TOKEN_TO_SQUARE = np.concatenate([[PAD_MOVE], PLAYABLE_SQUARES]).astype(np.int64)


def encode(moves: np.ndarray) -> np.ndarray:
    """Square indices (padding -1) to token ids (padding 0), any shape."""
    moves = np.asarray(moves)
    if moves.size and (moves.min() < PAD_MOVE or moves.max() >= N_SQUARES):
        raise ValueError("moves must be square indices 0..63 or -1 for padding")
    if np.isin(moves, CENTRE_SQUARES).any():
        raise ValueError("a centre square (D4, E4, D5, E5) is never a move")
    return _SQUARE_TO_TOKEN[np.where(moves < 0, N_SQUARES, moves)]


def decode(tokens: np.ndarray) -> np.ndarray:
    """Token ids to square indices (padding -> -1), any shape."""
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= VOCAB_SIZE):
        raise ValueError(f"token ids must lie in 0..{VOCAB_SIZE - 1}")
    return _TOKEN_TO_SQUARE[tokens]


def othello_world_name(square: int) -> str:
    """The name ``othello_world`` and the TransformerLens utilities print for a square index:
    row letter first (A = row 0), then column 1..8."""
    return f"{'ABCDEFGH'[square // 8]}{square % 8 + 1}"
