"""Write the activation cache: a model's activations at chosen hooks (the residual stream by
default) over a set of games, with the board labels (the format: :mod:`probes.acts.format`).

The file records the content hashes of the model and the corpus it was made from; readers can
demand both, so a cache of another model or corpus is refused rather than silently probed.
Writing goes through a partial file that a killed run resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from othello.common.atomic import commit, partial_path, reopen_partial_h5
from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.common.version import __version__
from othello.corpora.corpus import SPLIT_NAMES, GamesFile, gather_rows
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooks import resid_hooks
from probes.acts.format import (
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    CacheError,
    cache_job,
    create_datasets,
    probe_split,
)
from probes.acts.memory import IllegalGameError, hook_widths, run_positions


def write_cache(
    model_path: str | os.PathLike,
    games_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n_games: int | None = None,
    corpus_split: str = "val",
    allow_fewer: bool = False,
    hooks: list[str] | None = None,
    dtype: str = "float16",
    compression: str | None = None,
    batch_games: int = 256,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    resume: bool = True,
    progress: bool = True,
    shard: int = 0,
    n_shards: int = 1,
) -> Path:
    """Run the model in ``model_path`` over ``n_games`` games of ``corpus_split`` (None: all of
    it; more than it holds is refused unless ``allow_fewer``) and write ``out``. A partial
    file left by a killed run of the same job is continued.

    With ``n_shards`` > 1 only shard ``shard``'s contiguous share of those games is cached,
    so processes or machines can each make one; :func:`probes.acts.merge.merge_caches` joins
    them into the cache one process would have written."""
    _check_options(dtype, compression, shard, n_shards)
    out = Path(out)
    model_path = model_file(model_path)
    model, widths = model_and_widths(model_path, hooks)
    hooks = list(widths)
    with GamesFile(games_path) as games:
        index = games.select(corpus_split, n_games, allow_fewer)
        split = probe_split(len(index), fractions)
        first, stop = shard * len(index) // n_shards, (shard + 1) * len(index) // n_shards
        n_total, index, split = len(index), index[first:stop], split[first:stop]
        job = cache_job(
            file_sha256(model_path), file_sha256(games_path), hooks, corpus_split, len(index),
            fractions, dtype, compression,
        )  # fmt: skip
        if n_shards > 1:
            job.update(shard=shard, n_shards=n_shards, first_row=first, n_total=n_total)
        partial, job_text = partial_path(out), json.dumps(job, sort_keys=True)
        f = reopen_partial_h5(partial, job_text, "prepared") if resume else None
        f = f or _new_partial(partial, job, job_text, games, index, split, widths, batch_games)
        try:
            _fill(f, model, hooks, dtype, batch_games, progress, out.name)
            f.attrs["complete"] = True
        finally:
            f.close()
    commit(partial, out)
    return out


def model_and_widths(model_path: Path, hooks: list[str] | None) -> tuple:
    """The model (on the GPU when there is one) and ``{hook: width}`` of the hooks to cache
    (default: every residual layer), each checked to exist and to hold a vector per
    position."""
    model = load_model_file(model_path, pick_device())
    hooks = hooks or list(resid_hooks(model.cfg.n_layers).values())
    try:
        return model, hook_widths(model, hooks)
    except UserError as exc:
        raise UserError(f"{model_path}: {exc}") from None


def _check_options(dtype: str, compression: str | None, shard: int, n_shards: int) -> None:
    if not 0 <= shard < n_shards:
        raise UserError(f"shard must be in 0..{n_shards - 1}, got {shard}")
    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if compression not in (None, "gzip", "lzf"):
        raise UserError(f"compression must be gzip, lzf or none, got {compression!r}")


def _new_partial(
    partial: Path,
    job: dict,
    job_text: str,
    games: GamesFile,
    index: np.ndarray,
    split: np.ndarray,
    widths: dict[str, int],
    batch_games: int,
) -> h5py.File:
    """A fresh partial cache holding the chosen games and their splits, marked ``prepared``
    only once those are on disk, so a resume never starts from half-written game rows."""
    partial.unlink(missing_ok=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    f = h5py.File(partial, "w")
    f.attrs.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        code_version=__version__,
        job=job_text,
        n_done=0,
        complete=False,
        split_names=list(SPLIT_NAMES),
        **{k: v if v is not None else "none" for k, v in job.items() if k != "fractions"},
    )
    create_datasets(f, job, widths, batch_games)
    for name, source in (
        ("moves", games.moves),
        ("length", games.length),
        ("corpus_split", games.split),
    ):
        f[name][...] = gather_rows(source, index)
    f["game_index"][...] = index
    f["split"][...] = split
    f.flush()
    f.attrs["prepared"] = True
    f.flush()
    return f


@torch.inference_mode()
def _fill(f, model, hooks, dtype, batch_games, progress, label) -> None:
    n = f["moves"].shape[0]
    done = int(f.attrs["n_done"])
    bar = tqdm(total=n, initial=done, unit="game", desc=f"cache {label}", disable=not progress)
    while done < n:
        stop = min(done + batch_games, n)
        moves, length = f["moves"][done:stop], f["length"][done:stop]
        try:
            acts, labels = run_positions(model, moves, length, hooks)
        except IllegalGameError as exc:  # name the cached and the corpus game
            bad = done + exc.row
            raise CacheError(
                f"cached game {bad} (corpus game {f['game_index'][bad]}) has an illegal move "
                f"at ply {exc.ply}"
            ) from None
        for hook in hooks:
            f[f"acts/{hook}"][done:stop] = acts[hook].float().cpu().numpy().astype(DTYPES[dtype])
        for name, values in labels.items():
            f[f"labels/{name}"][done:stop] = values
        f.flush()
        f.attrs["n_done"] = stop
        f.flush()
        bar.update(stop - done)
        done = stop
    bar.close()
