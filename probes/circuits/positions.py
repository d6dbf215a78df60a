"""The games the circuit laboratory reads, twice: as the model sees them (tokens) and as the
rules say they are (the true board, from :func:`othello.world.labels.replay`).

Every analysis here compares something inside the model with the true board at the same
position, so both come from one :class:`GameBatch`. Position ``t`` has read moves 0..t and is
labelled with the board after move ``t``; only positions with a next move are scored (as in
:mod:`othello.model.evaluate`), so every position has a legal set to predict.

True-board features, 320 binary columns per position, are what the neuron atlas's trees split
on: per square empty / mine / theirs (one-hot, from the view of the side to move next), flipped
by the last move, and legal for the next move.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.world.labels import PlyLabels, replay
from othello.world.squares import N_POSITIONS, N_SQUARES, square_name
from othello.world.tokens import encode

FEATURE_KINDS = ("empty", "mine", "theirs", "flipped", "legal")
N_FEATURES = len(FEATURE_KINDS) * N_SQUARES


def feature_names() -> list[str]:
    """``"C3 empty"``, ..., ``"H8 legal"``: column ``k * 64 + s`` is kind ``k`` of square ``s``."""
    return [f"{square_name(s)} {kind}" for kind in FEATURE_KINDS for s in range(N_SQUARES)]


def feature_index(kind: str, square: int) -> int:
    return FEATURE_KINDS.index(kind) * N_SQUARES + square


@dataclass
class GameBatch:
    """Some games of a file (``rows``), their moves and the rules' labels, checked legal."""

    rows: np.ndarray  # row of each game in its games file
    moves: np.ndarray  # int8 [G, 60], -1 padded
    length: np.ndarray  # [G]
    labels: PlyLabels

    @classmethod
    def of(cls, rows: np.ndarray, moves: np.ndarray, length: np.ndarray) -> GameBatch:
        labels = replay(moves, length)
        if not labels.valid.all():
            bad = int(np.flatnonzero(~labels.valid)[0])
            raise UserError(f"game {int(rows[bad])} contains an illegal move")
        return cls(np.asarray(rows), moves, np.asarray(length), labels)

    def __len__(self) -> int:
        return len(self.rows)

    def tokens(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Token ids [G, 59] of moves 0..58 (padding 0 after a game's end)."""
        return torch.as_tensor(encode(self.moves[:, :N_POSITIONS]), device=device)

    def scored(self) -> np.ndarray:
        """bool [G, 59]: positions with a next move to predict."""
        return np.arange(N_POSITIONS)[None, :] < self.length.astype(np.int64)[:, None] - 1

    def relative(self) -> np.ndarray:
        """int8 [G, 59, 64]: 0 empty, 1 mine, 2 theirs (the side to move next's view)."""
        return self.labels.board_relative()[:, :N_POSITIONS]

    def legal(self) -> np.ndarray:
        """bool [G, 59, 64]: the next mover's legal moves."""
        return self.labels.legal_squares()[:, :N_POSITIONS]

    def legal_bits(self) -> np.ndarray:
        """uint64 [G, 59]: the same as bitboards (what :func:`rank_legality` reads)."""
        return self.labels.legal[:, :N_POSITIONS]

    def features(self) -> np.ndarray:
        """uint8 [G, 59, 320]: the true-board features (:func:`feature_names` order)."""
        board = self.relative()
        parts = [board == 0, board == 1, board == 2]
        parts += [self.labels.flipped_squares()[:, :N_POSITIONS], self.legal()]
        return np.concatenate(parts, axis=-1).astype(np.uint8)


def choose_rows(
    games: GamesFile, split: str, n: int, seed: int | None = None, allow_fewer: bool = False
) -> np.ndarray:
    """``n`` game rows of ``split``, ascending: the first ``n``, or with ``seed`` a random
    ``n`` of them (so a training sample is not always the file's first games). Asking for
    more than the split holds is refused unless ``allow_fewer``."""
    if seed is None:
        return games.select(split, n, allow_fewer)
    every = games.select(split, None)
    games.select(split, n, allow_fewer)  # the same refusal as the first-n case
    pick = np.random.default_rng(seed).choice(len(every), min(n, len(every)), replace=False)
    return np.sort(every[pick])


def read_batch(games: GamesFile, rows: np.ndarray) -> GameBatch:
    """The games at ``rows`` (ascending) of an open games file."""
    rows = np.asarray(rows, dtype=np.int64)
    return GameBatch.of(rows, games.moves[rows], games.length[rows])


def batches(games: GamesFile, rows: np.ndarray, batch_games: int) -> Iterator[GameBatch]:
    """``rows`` a batch at a time: memory stays the same whatever the number of games."""
    for start in range(0, len(rows), batch_games):
        yield read_batch(games, rows[start : start + batch_games])


def sample_positions(length: np.ndarray, n: int, seed: int) -> np.ndarray:
    """int64 [min(n, available), 2]: ``(game, position)`` pairs drawn without replacement
    from the scored positions of games of the given lengths, sorted by game then position."""
    counts = np.maximum(length.astype(np.int64) - 1, 0).clip(max=N_POSITIONS)
    game = np.repeat(np.arange(len(length)), counts)
    pos = np.concatenate([np.arange(c) for c in counts]) if len(counts) else game
    pick = np.random.default_rng(seed).choice(len(game), min(n, len(game)), replace=False)
    order = np.sort(pick)
    return np.stack([game[order], pos[order]], axis=1)
