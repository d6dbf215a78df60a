"""Import real game records (PGN export or WTHOR) into ``games.h5``, replaying every game.

Games are parsed one by one, replayed in batches through the compiled engine, and an illegal
move is reported as ``file:game:ply``; with ``skip_invalid`` such games are counted and left
out instead. The output is written through the same partial-then-rename writer as synthetic
corpora, so a failed import never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from othello.common.errors import UserError
from othello.corpora.corpus import GamesWriter
from othello.corpora.pgn import GameRecord, RecordError, read_pgn
from othello.corpora.wthor import read_wthor
from othello.world import engine
from othello.world.labels import replay
from othello.world.squares import MAX_MOVES, square_name

READERS = {"pgn": read_pgn, "wthor": read_wthor}
BATCH = 8192


class IllegalGameError(RecordError):
    """A game contains a move the rules forbid."""


@dataclass
class ImportReport:
    n_games: int = 0
    n_invalid: int = 0
    n_duplicates: int = 0  # exact repeats of an earlier game (same moves), left out
    invalid: list[str] = field(default_factory=list)  # file:game:ply messages, capped


class SeenGames:
    """Exact duplicate games, found by a 16-byte digest of each game's moves: a game played
    twice in the records (or listed in two files) must not land in two splits, where it
    would leak from training into evaluation. Memory: 16 bytes per distinct game."""

    def __init__(self) -> None:
        self.digests: set[bytes] = set()

    def first_seen(self, moves: np.ndarray, length: np.ndarray) -> np.ndarray:
        """bool per game: not a repeat of a game seen before (in this batch or earlier)."""
        keep = np.ones(len(moves), dtype=bool)
        for row in range(len(moves)):
            digest = hashlib.blake2b(moves[row, : length[row]].tobytes(), digest_size=16).digest()
            if digest in self.digests:
                keep[row] = False
            else:
                self.digests.add(digest)
        return keep


def _batches(files: Iterable[Path], fmt: str) -> Iterator[tuple[Path, list[GameRecord]]]:
    for path in files:
        batch: list[GameRecord] = []
        for game in READERS[fmt](path):
            batch.append(game)
            if len(batch) == BATCH:
                yield path, batch
                batch = []
        if batch:
            yield path, batch


def _to_arrays(games: list[GameRecord]) -> tuple[np.ndarray, np.ndarray]:
    moves = np.full((len(games), MAX_MOVES), -1, dtype=np.int8)
    length = np.empty(len(games), dtype=np.int8)
    for row, game in enumerate(games):
        moves[row, : len(game.moves)] = game.moves
        length[row] = len(game.moves)
    return moves, length


def import_games(
    files: Iterable[str | os.PathLike],
    fmt: str,
    out: str | os.PathLike,
    skip_invalid: bool = False,
    seed: int = 0,
    val_fraction: float = 0.01,
    test_fraction: float = 0.01,
    progress: bool = True,
) -> ImportReport:
    """Validate and write the games of ``files``, leaving out exact duplicates (counted in
    the report and the file's ``n_duplicates`` attribute); raise IllegalGameError on the
    first illegal game unless ``skip_invalid``."""
    if fmt not in READERS:
        raise UserError(f"unknown format {fmt!r}; expected one of {sorted(READERS)}")
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise RecordError(f"{path}: no such file")
    report = ImportReport()
    job = {
        "source": fmt,
        "files": [str(p) for p in paths],
        "skip_invalid": skip_invalid,
        "seed": seed,
    }
    attrs = {
        "source": f"import:{fmt}",
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
    }
    writer = GamesWriter(out, job, attrs, resume=False)  # imports are cheap: start afresh
    try:
        _write_games(
            writer, paths, fmt, report, skip_invalid, seed, val_fraction, test_fraction, progress
        )
    except BaseException:
        writer.discard()
        raise
    return report


def _write_games(
    writer: GamesWriter,
    paths: list[Path],
    fmt: str,
    report: ImportReport,
    skip_invalid: bool,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    progress: bool,
) -> None:
    seen = SeenGames()
    with writer, tqdm(unit="games", disable=not progress, desc=f"import {fmt}") as bar:
        for path, games in _batches(paths, fmt):
            moves, length = _to_arrays(games)
            errors = replay(moves, length).error
            keep = errors < 0
            for row in np.flatnonzero(~keep):
                game, ply = games[row], int(errors[row])
                message = (
                    f"{path}:{game.number}:{ply + 1}: illegal move "
                    f"{square_name(game.moves[ply])} (game at line {game.line})"
                )
                if not skip_invalid:
                    raise IllegalGameError(message)
                report.n_invalid += 1
                if len(report.invalid) < 100:
                    report.invalid.append(message)
            moves, length = moves[keep], length[keep]
            first = seen.first_seen(moves, length)
            report.n_duplicates += int((~first).sum())
            moves, length = moves[first], length[first]
            split = np.empty(len(moves), dtype=np.int8)
            engine.split_assignment(
                seed, writer.n_written, len(moves), val_fraction, test_fraction, split
            )
            writer.append(moves, length, split)
            bar.update(len(games))
        report.n_games = writer.n_written
        if report.n_games == 0:
            names = ", ".join(str(p) for p in paths)
            raise RecordError(f"{names}: no valid {fmt} games to import (is --format right?)")
        writer.finish(
            {
                "n_invalid": report.n_invalid,
                "n_duplicates": report.n_duplicates,
                "files": [p.name for p in paths],
            }
        )
