"""The ``games.h5`` format: one row of moves per game, streamed in and out in chunks.

Layout: ``moves`` int8 [N, 60] (square 0..63, padded with -1), ``length`` int8 [N] and
``split`` int8 [N] (0 train, 1 validation, 2 test) plus attributes describing where the games
came from. Writers append chunk by chunk to a ``.partial`` file and rename it when complete;
readers check the layout and hand out slices, so neither ever holds a whole corpus.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from othello.common.atomic import commit, partial_path, reopen_partial_h5
from othello.common.errors import UserError
from othello.common.version import __version__
from othello.world.game import Game
from othello.world.squares import MAX_MOVES

FORMAT = "othello-gpt/games"
FORMAT_VERSION = 1
RULE_VERSION = "othello-8x8/standard-start/implicit-passes/v1"
SPLIT_NAMES = ("train", "val", "test")
CHUNK_ROWS = 16384


class CorpusError(UserError):
    """A games file is missing, malformed or not what the caller expects."""


class GamesWriter:
    """Append chunks of games to ``path`` via a partial file; resumable after a kill.

    ``job`` is a dict naming what is being made (seed, count, ...). A partial file left by a
    killed run with the same job is continued from its last flushed chunk; any other partial
    file, or any partial file when ``resume`` is false, is discarded.
    """

    def __init__(
        self, path: str | os.PathLike, job: dict, attrs: dict | None = None, resume: bool = True
    ):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.job = json.dumps(job, sort_keys=True)
        self.file = self._open_or_resume(resume)
        for key, value in (attrs or {}).items():
            self.file.attrs[key] = value

    def _open_or_resume(self, resume: bool) -> h5py.File:
        f = reopen_partial_h5(self.partial, self.job, "n_written") if resume else None
        if f is not None:
            n = int(f.attrs["n_written"])
            for name in ("moves", "length", "split"):
                f[name].resize(n, axis=0)
            return f
        self.partial.unlink(missing_ok=True)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self.partial, "w")
        f.create_dataset(
            "moves",
            (0, MAX_MOVES),
            maxshape=(None, MAX_MOVES),
            dtype=np.int8,
            chunks=(CHUNK_ROWS, MAX_MOVES),
            fillvalue=-1,
        )
        f.create_dataset("length", (0,), maxshape=(None,), dtype=np.int8, chunks=(CHUNK_ROWS,))
        f.create_dataset("split", (0,), maxshape=(None,), dtype=np.int8, chunks=(CHUNK_ROWS,))
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["rule_version"] = RULE_VERSION
        f.attrs["code_version"] = __version__
        f.attrs["split_names"] = list(SPLIT_NAMES)
        f.attrs["job"] = self.job
        f.attrs["n_written"] = 0
        return f

    @property
    def n_written(self) -> int:
        return int(self.file.attrs["n_written"])

    def append(self, moves: np.ndarray, length: np.ndarray, split: np.ndarray) -> None:
        start = self.n_written
        stop = start + len(moves)
        for name, values in (("moves", moves), ("length", length), ("split", split)):
            self.file[name].resize(stop, axis=0)
            self.file[name][start:stop] = values
        self.file.attrs["n_written"] = stop
        self.file.flush()

    def finish(self, attrs: dict | None = None) -> Path:
        """Record the final attributes and move the file to its real name."""
        self.file.attrs["n_games"] = self.n_written
        for key, value in (attrs or {}).items():
            self.file.attrs[key] = value
        self.file.close()
        commit(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Stop without finishing: the partial file stays for a later resume."""
        if self.file.id.valid:
            self.file.close()

    def discard(self) -> None:
        """Stop and delete the partial file: for a job that starts afresh every time (an
        import), a failed run must leave nothing behind."""
        self.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> GamesWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GamesFile:
    """Read access to a ``games.h5`` file, checked on open."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise CorpusError(f"{self.path}: no such games file")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as exc:
            raise CorpusError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        if self.file.attrs.get("format") != FORMAT:
            self.file.close()
            raise CorpusError(f"{self.path}: not an othello-gpt games file")
        for name, shape in (("moves", (MAX_MOVES,)), ("length", ()), ("split", ())):
            if name not in self.file or self.file[name].shape[1:] != shape:
                self.file.close()
                raise CorpusError(f"{self.path}: dataset '{name}' is missing or misshapen")
        self.moves = self.file["moves"]
        self.length = self.file["length"]
        self.split = self.file["split"]

    @property
    def n_games(self) -> int:
        return self.moves.shape[0]

    @property
    def attrs(self) -> h5py.AttributeManager:
        return self.file.attrs

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self.moves[start:stop], self.length[start:stop]

    def game(self, index: int) -> Game:
        """Game ``index`` as a :class:`Game`, labelled by this file's name (errors and the
        explorer's pages name it by that)."""
        if not 0 <= index < self.n_games:
            raise CorpusError(
                f"game {index} is out of range: {self.path.name} holds {self.n_games:,}"
            )
        moves, length = self.read(index, index + 1)
        return Game(moves[0], int(length[0]), f"{self.path.name} game {index}")

    def split_indices(self, split: str) -> np.ndarray:
        """Game indices of one split ('train', 'val' or 'test'); int64, ascending."""
        if split not in SPLIT_NAMES:
            raise CorpusError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
        code = SPLIT_NAMES.index(split)
        found = []
        for start in range(0, self.n_games, CHUNK_ROWS * 16):
            block = self.split[start : start + CHUNK_ROWS * 16]
            found.append(np.flatnonzero(block == code) + start)
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def select(
        self, split: str, n_games: int | None = None, allow_fewer: bool = False
    ) -> np.ndarray:
        """The first ``n_games`` game indices of ``split`` (``"all"``: the whole file; None:
        every game of it). Asking for more than the split holds is refused with the count and
        how to get more, unless ``allow_fewer``: a stage never silently works on fewer games
        than it was told to."""
        index = np.arange(self.n_games) if split == "all" else self.split_indices(split)
        if len(index) == 0:
            raise CorpusError(f"{self.path}: no games in split {split!r}")
        if n_games is not None and len(index) < n_games and not allow_fewer:
            raise CorpusError(
                f"{self.path}: split {split!r} holds {len(index):,} games, {n_games:,} asked; "
                "choose another --split (e.g. train or all), make a bigger corpus, ask for "
                "fewer, or pass --allow-fewer to take them"
            )
        return index if n_games is None else index[:n_games]

    def iter_chunks(
        self, chunk_games: int = CHUNK_ROWS * 4
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(first_index, moves, length)`` over the whole file in order."""
        for start in range(0, self.n_games, chunk_games):
            moves, length = self.read(start, start + chunk_games)
            yield start, moves, length

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> GamesFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def gather_rows(dataset: h5py.Dataset, index: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """``dataset[index]`` for ascending ``index``, read in slices (h5py's point selection is
    slow for thousands of scattered rows)."""
    parts = []
    for start in range(int(index[0]), int(index[-1]) + 1, block):
        wanted = index[(index >= start) & (index < start + block)]
        if len(wanted):
            parts.append(dataset[start : start + block][wanted - start])
    return np.concatenate(parts)
