"""Synthetic corpora: uniformly-random-legal-move games, streamed to ``games.h5``.

Game ``i`` of a corpus depends only on ``(seed, i)``, so the output is identical for any
number of workers or chunk size; workers are separate processes (one numba thread each) that
make chunks while the parent writes the previous ones, with a bounded number in flight so
memory stays flat whatever ``n``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from othello.common.errors import UserError
from othello.corpora.corpus import GamesWriter
from othello.world import engine
from othello.world.squares import MAX_MOVES

DEFAULT_CHUNK = 1 << 17


def make_chunk(
    seed: int, first_index: int, count: int, val_fraction: float, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moves, lengths and splits of games ``first_index .. first_index + count - 1``."""
    moves = np.empty((count, MAX_MOVES), dtype=np.int8)
    length = np.empty(count, dtype=np.int8)
    split = np.empty(count, dtype=np.int8)
    engine.generate_games(seed, first_index, moves, length)
    engine.split_assignment(seed, first_index, count, val_fraction, test_fraction, split)
    return moves, length, split


def _init_worker(threads: int) -> None:
    import numba

    numba.set_num_threads(threads)


def _chunks(start: int, n: int, chunk: int) -> Iterator[tuple[int, int]]:
    for first in range(start, n, chunk):
        yield first, min(chunk, n - first)


def generate_corpus(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    workers: int = 1,
    val_fraction: float = 0.01,
    test_fraction: float = 0.01,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    shard: int = 0,
    n_shards: int = 1,
) -> Path:
    """Write ``n`` random games to ``out`` and return its path.

    With ``n_shards`` > 1 only shard ``shard``'s contiguous share of the ``n`` games is
    written, so machines can each make one and :func:`othello.corpora.shards.merge_games` join them
    into the file one machine would have made. A run killed part way leaves ``out.partial``;
    the same call again resumes from it.
    """
    if n <= 0:
        raise UserError(f"n must be positive, got {n}")
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise UserError("val_fraction and test_fraction must be >= 0 and sum to less than 1")
    if not 0 <= shard < n_shards:
        raise UserError(f"shard must be in 0..{n_shards - 1}, got {shard}")
    first, stop = shard * n // n_shards, (shard + 1) * n // n_shards
    job = {
        "source": "synthetic-uniform-random",
        "n": n,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "shard": [shard, n_shards],
    }
    attrs = {
        "source": job["source"],
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
    }
    if n_shards > 1:
        attrs.update(shard=shard, n_shards=n_shards, first_index=first, n_total=n)
    with GamesWriter(out, job, attrs) as writer:
        bar = tqdm(
            total=stop - first,
            initial=writer.n_written,
            unit="games",
            unit_scale=True,
            disable=not progress,
            desc=f"games -> {Path(out).name}",
        )
        todo = _chunks(first + writer.n_written, stop, chunk)
        for result in _made_chunks(todo, seed, val_fraction, test_fraction, workers):
            writer.append(*result)
            bar.update(len(result[0]))
        bar.close()
        return writer.finish()


def _made_chunks(todo, seed: int, val_fraction: float, test_fraction: float, workers: int):
    """The chunks of ``todo`` in order, made here or by ``workers`` processes (at most two
    chunks per worker in flight, so memory stays bounded)."""
    if workers == 1:
        for first, count in todo:
            yield make_chunk(seed, first, count, val_fraction, test_fraction)
        return
    context = mp.get_context("spawn")  # numba's thread pools are not fork-safe
    with context.Pool(workers, _init_worker, (1,)) as pool:
        pending: deque = deque()
        for first, count in todo:
            args = (seed, first, count, val_fraction, test_fraction)
            pending.append(pool.apply_async(make_chunk, args))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
