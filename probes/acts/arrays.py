"""Activations already in memory, as an :class:`probes.acts.source.ActivationSource`: what
:func:`probes.acts.memory.cache_activations` returns (with the games and the job, like an
``acts.h5``), and what tests build from planted arrays (without them).

It gives the same chunk dicts as :meth:`probes.acts.reader.ActsFile.iter_chunks`, so the
fitting code streams a cache larger than RAM and tests can plant structure in small arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from othello.common.errors import UserError
from othello.corpora.corpus import SPLIT_NAMES
from probes.acts.format import CacheError
from probes.acts.reader import split_chunks


class ArraySource:
    """Activations ``{hook: [games, positions, width]}``, labels ``{name: [games, positions,
    ...]}``, ``valid`` [games, positions] and a per-game ``split`` (0 train, 1 val, 2 test);
    ``games`` (moves, lengths) and ``job`` (:func:`probes.acts.format.cache_job`) where the
    arrays came from real games."""

    def __init__(
        self,
        acts: dict[str, np.ndarray],
        labels: dict[str, np.ndarray],
        valid: np.ndarray,
        split: np.ndarray,
        games: tuple[np.ndarray, np.ndarray] | None = None,
        job: dict | None = None,
    ) -> None:
        self.acts, self.labels, self.valid_mask, self.split = acts, labels, valid, split
        self.hooks = list(acts)
        self.moves, self.length = games if games is not None else (None, None)
        self.job = job or {}

    @property
    def n_games(self) -> int:
        return len(self.split)

    @property
    def model_sha256(self) -> str | None:
        return self.job.get("model_sha256")

    @property
    def games_sha256(self) -> str | None:
        return self.job.get("games_sha256")

    def width(self, hook: str) -> int:
        return int(self.acts[hook].shape[-1])

    def split_rows(self, split: str) -> np.ndarray:
        if split not in SPLIT_NAMES:
            raise CacheError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
        return np.flatnonzero(self.split == SPLIT_NAMES.index(split))

    def valid(self, rows: slice | np.ndarray) -> np.ndarray:
        return self.valid_mask[rows]

    def games(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.moves is None:
            raise UserError("this source holds activations without their games (planted arrays)")
        return self.moves[rows], self.length[rows]

    def iter_chunks(
        self,
        split: str,
        hooks: list[str] | None = None,
        labels: list[str] | None = None,
        chunk_games: int = 256,
        shuffle_seed: int | None = None,
        skip: int = 0,
    ) -> Iterator[dict[str, np.ndarray]]:
        rows = self.split_rows(split)
        return split_chunks(
            rows, chunk_games, shuffle_seed, skip, lambda p: self._read(p, hooks, labels)
        )

    def _read(self, part: np.ndarray, hooks, labels) -> dict[str, np.ndarray]:
        chunk = {"rows": part, "valid": self.valid_mask[part]}
        for hook in hooks if hooks is not None else self.hooks:
            chunk[hook] = self.acts[hook][part].astype(np.float32)
        for name in labels if labels is not None else list(self.labels):
            chunk[name] = self.labels[name][part]
        return chunk
