"""Join corpus and cache shards made on several machines into the file one machine makes.

Game ``i`` depends only on ``(seed, i)``, so shard ``k`` of ``N`` (``make_games.py --shard
k/N``) holds games ``k*n//N .. (k+1)*n//N - 1`` exactly as a single run would; merging
streams them in order into a new ``games.h5`` whose games, lengths and splits equal the
single-machine corpus, chunk by chunk, without holding a shard in memory.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import h5py

from othello.atomic import commit, partial_path
from othello.cache import FORMAT as CACHE_FORMAT
from othello.cache import LABELS, CacheError, create_datasets
from othello.corpus import CHUNK_ROWS, CorpusError, GamesFile, GamesWriter
from othello.corpus import FORMAT as GAMES_FORMAT


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


SHARD_KEYS = ("shard", "n_shards", "first_row", "n_total")


def merge_caches(shards: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Join complete cache shards (``cache.py --shard K/N``) into the cache that one process
    would have written: same datasets, rows in order, attributes of an unsharded run."""
    if not shards:
        raise CacheError("no shards to merge")
    files = [h5py.File(path, "r") for path in shards]
    try:
        jobs = []
        for path, f in zip(shards, files, strict=True):
            if f.attrs.get("format") != CACHE_FORMAT or not f.attrs.get("complete", False):
                raise CacheError(f"{path}: not a complete othello-gpt activation cache")
            job = json.loads(f.attrs["job"])
            if "n_shards" not in job:
                raise CacheError(f"{path}: not a shard (made without --shard)")
            jobs.append(job)
        order = sorted(range(len(files)), key=lambda i: jobs[i]["first_row"])
        whole = {k: v for k, v in jobs[order[0]].items() if k not in SHARD_KEYS}
        whole["n_games"] = jobs[order[0]]["n_total"]
        for i in order:
            rest = {k: v for k, v in jobs[i].items() if k not in (*SHARD_KEYS, "n_games")}
            if rest != {k: v for k, v in whole.items() if k != "n_games"}:
                raise CacheError(f"{shards[i]}: made by another job (model, corpus or hooks)")
        if len(files) != jobs[order[0]]["n_shards"]:
            raise CacheError(f"got {len(files)} shards of {jobs[order[0]]['n_shards']}")
        expected = 0
        for i in order:
            if jobs[i]["first_row"] != expected:
                raise CacheError(
                    f"{shards[i]}: starts at row {jobs[i]['first_row']}, expected {expected}"
                )
            expected += jobs[i]["n_games"]
        out = Path(out)
        partial = partial_path(out)
        partial.parent.mkdir(parents=True, exist_ok=True)
        first = files[order[0]]
        d_model = first[f"acts/{whole['hooks'][0]}"].shape[-1]
        batch = first[f"acts/{whole['hooks'][0]}"].chunks[0]
        with h5py.File(partial, "w") as merged:
            attrs = {k: v for k, v in first.attrs.items() if k not in SHARD_KEYS}
            merged.attrs.update(attrs)
            merged.attrs.update(job=json.dumps(whole, sort_keys=True), n_games=whole["n_games"])
            create_datasets(merged, whole, d_model, batch)
            names = [
                "moves", "length", "game_index", "corpus_split", "split",
                *(f"acts/{hook}" for hook in whole["hooks"]),
                *(f"labels/{label}" for label in LABELS),
            ]  # fmt: skip
            row = 0
            for i in order:
                n = jobs[i]["n_games"]
                for start in range(0, n, batch):
                    stop = min(start + batch, n)
                    for name in names:
                        merged[name][row + start : row + stop] = files[i][name][start:stop]
                row += n
            merged.attrs.update(n_done=row, prepared=True, complete=True)
        commit(partial, out)
        return out
    finally:
        for f in files:
            f.close()


def merge_shards(shards: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """:func:`merge_games` or :func:`merge_caches`, whichever the first shard's format asks."""
    if not shards:
        raise CorpusError("no shards to merge")
    try:
        with h5py.File(shards[0], "r") as f:
            kind = f.attrs.get("format")
    except OSError as exc:
        raise CorpusError(f"{shards[0]}: not a readable HDF5 file ({exc})") from None
    if kind == CACHE_FORMAT:
        return merge_caches(shards, out)
    if kind == GAMES_FORMAT:
        return merge_games(shards, out)
    raise CorpusError(f"{shards[0]}: neither a games file nor an activation cache")
