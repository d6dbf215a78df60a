"""Join activation-cache shards (``cache.py --shard K/N``) into the cache one process would
have written: same datasets, rows in order, attributes of an unsharded run. Shards of
different jobs, a missing shard or a gap are refused and nothing is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py

from othello.common.atomic import commit, partial_path
from othello.corpora.corpus import FORMAT as GAMES_FORMAT
from othello.corpora.corpus import CorpusError
from othello.corpora.shards import merge_games
from probes.acts.format import FORMAT, CacheError, create_datasets, dataset_names, is_complete_cache

SHARD_KEYS = ("shard", "n_shards", "first_row", "n_total")


def merge_shards(shards: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """:func:`othello.corpora.shards.merge_games` or :func:`merge_caches`, whichever the first
    shard's format asks."""
    if not shards:
        raise CorpusError("no shards to merge")
    try:
        with h5py.File(shards[0], "r") as f:
            kind = f.attrs.get("format")
    except OSError as exc:
        raise CorpusError(f"{shards[0]}: not a readable HDF5 file ({exc})") from None
    if kind == FORMAT:
        return merge_caches(shards, out)
    if kind == GAMES_FORMAT:
        return merge_games(shards, out)
    raise CorpusError(f"{shards[0]}: neither a games file nor an activation cache")


def shard_jobs(shards: list[str | os.PathLike], files: list[h5py.File]) -> tuple[list, dict]:
    """Each shard's job in row order, and the job of the whole; refuses anything that is not
    every shard of one job, each once, tiling the rows without a gap."""
    jobs = []
    for path, f in zip(shards, files, strict=True):
        if not is_complete_cache(f):
            raise CacheError(f"{path}: not a complete othello-gpt activation cache")
        job = json.loads(f.attrs["job"])
        if "n_shards" not in job:
            raise CacheError(f"{path}: not a shard (made without --shard)")
        jobs.append((job, path, f))
    jobs.sort(key=lambda item: item[0]["first_row"])
    first = jobs[0][0]
    whole = {k: v for k, v in first.items() if k not in SHARD_KEYS}
    whole["n_games"] = first["n_total"]
    shared = {k: v for k, v in whole.items() if k != "n_games"}
    if len(jobs) != first["n_shards"]:
        raise CacheError(f"got {len(jobs)} shards of {first['n_shards']}")
    expected = 0
    for job, path, _ in jobs:
        if {k: v for k, v in job.items() if k not in (*SHARD_KEYS, "n_games")} != shared:
            raise CacheError(f"{path}: made by another job (model, corpus or hooks)")
        if job["first_row"] != expected:
            raise CacheError(f"{path}: starts at row {job['first_row']}, expected {expected}")
        expected += job["n_games"]
    return jobs, whole


def merge_caches(shards: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Check the shards form one whole cache and write it to ``out``, a block of rows at a
    time (memory: one block, whatever the shards' size)."""
    if not shards:
        raise CacheError("no shards to merge")
    files = [h5py.File(path, "r") for path in shards]
    try:
        jobs, whole = shard_jobs(shards, files)
        out = Path(out)
        partial = partial_path(out)
        partial.parent.mkdir(parents=True, exist_ok=True)
        first = jobs[0][2]
        block = first[f"acts/{whole['hooks'][0]}"].chunks[0]
        widths = {hook: first[f"acts/{hook}"].shape[-1] for hook in whole["hooks"]}
        with h5py.File(partial, "w") as merged:
            merged.attrs.update({k: v for k, v in first.attrs.items() if k not in SHARD_KEYS})
            merged.attrs.update(job=json.dumps(whole, sort_keys=True), n_games=whole["n_games"])
            create_datasets(merged, whole, widths, block)
            row = 0
            for job, _, f in jobs:
                for start in range(0, job["n_games"], block):
                    stop = min(start + block, job["n_games"])
                    for name in dataset_names(whole["hooks"]):
                        merged[name][row + start : row + stop] = f[name][start:stop]
                row += job["n_games"]
            merged.attrs.update(n_done=row, prepared=True, complete=True)
        commit(partial, out)
        return out
    finally:
        for f in files:
            f.close()
