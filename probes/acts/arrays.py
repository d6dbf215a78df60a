"""Where probes read activations from: an ``acts.h5`` file, or arrays already in memory.

Both give the same chunk dicts (see :meth:`probes.acts.writer.ActsFile.iter_chunks`), so the fitting
code streams a cache larger than RAM and tests can plant structure in small arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from othello.corpora.corpus import SPLIT_NAMES
from probes.acts.reader import split_chunks


class ArraySource:
    """Activations ``{hook: [games, positions, d]}``, labels ``{name: [games, positions, ...]}``,
    ``valid`` [games, positions] and a per-game ``split`` (0 train, 1 val, 2 test)."""

    def __init__(
        self,
        acts: dict[str, np.ndarray],
        labels: dict[str, np.ndarray],
        valid: np.ndarray,
        split: np.ndarray,
    ) -> None:
        self.acts, self.labels, self.valid_mask, self.split = acts, labels, valid, split
        self.hooks = list(acts)
        self.d_model = int(next(iter(acts.values())).shape[-1])
        self.model_sha256 = self.games_sha256 = "in-memory"

    def split_rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLIT_NAMES.index(split))

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
