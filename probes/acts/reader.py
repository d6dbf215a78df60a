"""Read access to a finished activation cache (``acts.h5``, written by :mod:`probes.acts.writer`),
for the probes and the SAEs: one split's games a chunk at a time, with their labels (an
:class:`probes.acts.source.ActivationSource`, as an in-memory source is).

A reader can demand the model's and corpus's hashes, so a cache of another model or corpus is
refused rather than silently probed.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from othello.common.atomic import partial_path
from othello.corpora.corpus import SPLIT_NAMES
from probes.acts.format import LABELS, CacheError, is_complete_cache, valid_positions


class ActsFile:
    """Read access to a finished ``acts.h5`` (an :class:`probes.acts.source.ActivationSource`);
    optionally insists on the model and corpus."""

    def __init__(
        self,
        path: str | os.PathLike,
        model_sha256: str | None = None,
        games_sha256: str | None = None,
    ):
        self.path = Path(path)
        if not self.path.exists():
            hint = " (a partial file exists: rerun the cache to finish it)"
            raise CacheError(
                f"{self.path}: no such cache{hint if partial_path(self.path).exists() else ''}"
            )
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as exc:
            raise CacheError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        attrs = self.file.attrs
        if not is_complete_cache(self.file):
            self.file.close()
            raise CacheError(f"{self.path}: not a complete othello-gpt activation cache")
        for what, want, have in (
            ("model", model_sha256, attrs["model_sha256"]),
            ("games corpus", games_sha256, attrs["games_sha256"]),
        ):
            if want is not None and want != have:
                self.file.close()
                raise CacheError(
                    f"{self.path} was made from another {what} (sha256 {have[:12]}..., "
                    f"expected {want[:12]}...): rebuild the cache for this one"
                )
        self.job: dict = json.loads(attrs["job"])
        self.hooks: list[str] = list(self.job["hooks"])

    @property
    def n_games(self) -> int:
        return int(self.file["length"].shape[0])

    @property
    def model_sha256(self) -> str:
        return str(self.file.attrs["model_sha256"])

    @property
    def games_sha256(self) -> str:
        return str(self.file.attrs["games_sha256"])

    def width(self, hook: str) -> int:
        """The activation vector's length at ``hook``."""
        return int(self.file[f"acts/{hook}"].shape[-1])

    def split_rows(self, split: str) -> np.ndarray:
        """Cached-game rows of one probe split ('train', 'val' or 'test')."""
        if split not in SPLIT_NAMES:
            raise CacheError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
        return np.flatnonzero(self.file["split"][:] == SPLIT_NAMES.index(split))

    def valid(self, rows: slice | np.ndarray) -> np.ndarray:
        """bool [games, 59]: positions that hold a real board (not padding)."""
        return valid_positions(self.file["length"][rows])

    def games(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Moves int8 [games, 60] and lengths [games] of cached-game ``rows``."""
        return self.file["moves"][rows], self.file["length"][rows]

    def iter_chunks(
        self,
        split: str,
        hooks: list[str] | None = None,
        labels: list[str] | None = None,
        chunk_games: int = 256,
        shuffle_seed: int | None = None,
        skip: int = 0,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield dicts of one split's games, ``chunk_games`` at a time: ``rows`` (cached-game
        indices), ``valid``, each hook's activations (float32) and each label array. With a
        seed, chunks come in random order; the first ``skip`` chunks are passed over unread
        (a resumed job continues where it stopped).
        """
        rows = self.split_rows(split)
        return split_chunks(
            rows, chunk_games, shuffle_seed, skip, lambda p: self._read(p, hooks, labels)
        )

    def _read(self, part: np.ndarray, hooks, labels) -> dict[str, np.ndarray]:
        # splits are contiguous blocks, so each chunk is one slice read
        sel = slice(int(part[0]), int(part[-1]) + 1) if _contiguous(part) else part
        chunk = {"rows": part, "valid": self.valid(sel)}
        for hook in hooks if hooks is not None else self.hooks:
            chunk[hook] = self.file[f"acts/{hook}"][sel].astype(np.float32)
        for name in labels if labels is not None else list(LABELS):
            chunk[name] = self.file[f"labels/{name}"][sel]
        return chunk

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> ActsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_chunks(
    rows: np.ndarray, chunk_games: int, shuffle_seed: int | None, skip: int, read
) -> Iterator[dict[str, np.ndarray]]:
    """``read(part)`` for each run of ``chunk_games`` of ``rows`` (in a seeded order with a
    seed), the first ``skip`` runs passed over unread: how every activation source streams."""
    for part in itertools.islice(chunked_rows(rows, chunk_games, shuffle_seed), skip, None):
        yield read(part)


def chunked_rows(
    rows: np.ndarray, chunk_games: int, shuffle_seed: int | None = None
) -> Iterator[np.ndarray]:
    """``rows`` in runs of ``chunk_games``; with a seed, the runs come in a random order."""
    starts = np.arange(0, len(rows), chunk_games)
    if shuffle_seed is not None:
        starts = np.random.default_rng(shuffle_seed).permutation(starts)
    for start in starts:
        yield rows[start : start + chunk_games]


def _contiguous(rows: np.ndarray) -> bool:
    return len(rows) > 0 and int(rows[-1]) - int(rows[0]) + 1 == len(rows)


def flat_positions(chunk: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The valid positions of one chunk entry, flattened to [positions, ...]."""
    return chunk[key][chunk["valid"]]


def move_numbers(chunk: dict[str, np.ndarray]) -> np.ndarray:
    """Sequence position (0..58) of each valid position, in ``flat_positions`` order."""
    valid = chunk["valid"]
    return np.broadcast_to(np.arange(valid.shape[1]), valid.shape)[valid]
