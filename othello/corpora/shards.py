"""Join corpus shards made on several machines into the file one machine makes (activation
cache shards: :mod:`probes.acts.merge`).

Game ``i`` depends only on ``(seed, i)``, so shard ``k`` of ``N`` (``make_games.py --shard
k/N``) holds games ``k*n//N .. (k+1)*n//N - 1`` exactly as a single run would; merging
streams them in order into a new ``games.h5`` whose games, lengths and splits equal the
single-machine corpus, chunk by chunk, without holding a shard in memory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from othello.corpora.corpus import CHUNK_ROWS, CorpusError, GamesFile, GamesWriter


def shard_spec(text: str) -> tuple[int, int]:
    """``K/N`` as given to ``--shard`` (an argparse type): shard K (from 0) of N."""
    try:
        shard, n_shards = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 0/4") from None
    if not 0 <= shard < n_shards:
        raise argparse.ArgumentTypeError(f"{text!r}: K must be in 0..N-1")
    return shard, n_shards


KEYS = ("source", "seed", "val_fraction", "test_fraction", "n_total", "n_shards")


def merge_games(shards: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Check the shards form one whole corpus (same job, every shard once, contiguous) and
    write it to ``out``."""
    if not shards:
        raise CorpusError("no shards to merge")
    infos = []
    for path in shards:
        with GamesFile(path) as games:
            attrs = dict(games.attrs)
            if "n_shards" not in attrs:
                raise CorpusError(f"{path}: not a shard (made without --shard)")
            infos.append((int(attrs["first_index"]), int(games.n_games), Path(path), attrs))
    infos.sort(key=lambda info: info[0])
    first_attrs = infos[0][3]
    for _, _, path, attrs in infos:
        for key in KEYS:
            if attrs[key] != first_attrs[key]:
                raise CorpusError(
                    f"{path}: {key} {attrs[key]!r} differs from {infos[0][2]}'s "
                    f"{first_attrs[key]!r}: shards of different corpora"
                )
    if len(infos) != int(first_attrs["n_shards"]):
        raise CorpusError(f"got {len(infos)} shards of {int(first_attrs['n_shards'])}")
    expected = 0
    for first, count, path, _ in infos:
        if first != expected:
            raise CorpusError(f"{path}: starts at game {first}, expected {expected}")
        expected = first + count
    if expected != int(first_attrs["n_total"]):
        raise CorpusError(f"shards hold {expected} games, expected {int(first_attrs['n_total'])}")
    attrs = {k: first_attrs[k] for k in ("source", "seed", "val_fraction", "test_fraction")}
    job = {"merge": [str(info[2].resolve()) for info in infos], **attrs}
    job = {k: (v.item() if hasattr(v, "item") else v) for k, v in job.items()}
    with GamesWriter(out, job, attrs) as writer:
        for first, count, path, _ in infos:
            with GamesFile(path) as games:
                for start in range(0, count, CHUNK_ROWS * 16):
                    stop = min(start + CHUNK_ROWS * 16, count)
                    if first + stop <= writer.n_written:
                        continue  # already copied before an interruption
                    begin = max(start, writer.n_written - first)
                    writer.append(
                        games.moves[begin:stop], games.length[begin:stop], games.split[begin:stop]
                    )
        return writer.finish()
