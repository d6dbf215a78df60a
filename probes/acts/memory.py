"""Activations in memory, without writing a folder: the activations at chosen hooks (the
residual stream by default) and the board labels of N games, as an
:class:`probes.acts.arrays.ArraySource` that the probe fitting, the baselines and the SAEs take
exactly as they take an ``acts.h5`` cache (both are an
:class:`probes.acts.source.ActivationSource`). The cache writer runs the same
:func:`run_positions` on each batch and records the same :func:`probes.acts.format.cache_job`,
so a notebook and ``scripts/cache.py`` see the same numbers.

>>> source = cache_activations(model, "data/games-cpu-seed0.h5", n_games=500)
>>> source.acts["blocks.2.hook_resid_pre"].shape  # [games, 59, d_model]
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from tqdm import tqdm

from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile, gather_rows
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooked import HookedModel
from othello.model.hooks import resid_hooks
from othello.world.labels import replay
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.acts.arrays import ArraySource
from probes.acts.format import DTYPES, cache_job, position_labels, probe_split, valid_positions


class IllegalGameError(UserError):
    """A game of a batch with an illegal move: ``row`` in the batch, at ``ply``."""

    def __init__(self, where: str, row: int, ply: int) -> None:
        super().__init__(f"{where} {row} has an illegal move at ply {ply}")
        self.row, self.ply = row, ply


@torch.inference_mode()
def hook_widths(model: HookedModel, hooks: list[str]) -> dict[str, int]:
    """Each hook's activation width per position (its trailing dimensions flattened), read
    off one forward pass; a hook the model lacks, or whose activation is not one vector per
    position (an attention pattern), is refused."""
    unknown = [h for h in hooks if h not in model.hook_points]
    if unknown:
        raise UserError(f"the model has no hook point named {unknown[0]!r}")
    device = next(model.parameters()).device
    tokens = torch.zeros((1, N_POSITIONS), dtype=torch.long, device=device)
    _, acts = model.run_with_cache(tokens, hooks)
    widths = {}
    for hook in hooks:
        shape = tuple(acts[hook].shape)
        if shape[:2] != (1, N_POSITIONS) or len(shape) < 3:
            raise UserError(f"{hook!r} is not one vector per position (shape {shape})")
        widths[hook] = math.prod(shape[2:])
    return widths


@torch.inference_mode()
def run_positions(
    model: HookedModel,
    moves: np.ndarray,
    length: np.ndarray,
    hooks: list[str],
    where: str = "game",
) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """The model's activations ``{hook: [games, 59, width]}`` (each position's activation
    flattened, as :func:`hook_widths` counts it) and the engine's labels (per
    :func:`position_labels`) of a batch of games; an illegal game is refused naming its row
    (``where``: how errors name a game) and ply."""
    plies = replay(moves, length)
    if not plies.valid.all():
        bad = int(np.flatnonzero(~plies.valid)[0])
        raise IllegalGameError(where, bad, int(plies.error[bad]))
    device = next(model.parameters()).device
    tokens = torch.as_tensor(encode(moves[:, :N_POSITIONS]), device=device)
    _, acts = model.run_with_cache(tokens, hooks)
    return {h: a.flatten(2) for h, a in acts.items()}, position_labels(plies)


def cache_activations(
    model: HookedModel | str | os.PathLike,
    games: str | os.PathLike,
    n_games: int = 1000,
    corpus_split: str = "val",
    hooks: list[str] | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    batch_games: int = 256,
    progress: bool = True,
    dtype: str = "float32",
) -> ArraySource:
    """The activations at ``hooks`` (default: the residual stream at every layer) and the
    board labels of ``n_games`` games of ``corpus_split`` of a games file, split into probe
    train / val / test games by ``fractions`` as the cache is, held in memory as ``dtype``
    (``float16``: the numbers of a default ``acts.h5`` at half the memory of float32).

    ``model`` is a model, or a run directory or ``model.pt`` (loaded as the cache writer
    loads it, with its sha256 recorded as the writer records it; a model object has none)."""
    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    model_sha256 = None
    if not isinstance(model, HookedModel):
        path = model_file(model)
        model, model_sha256 = load_model_file(path, pick_device()), file_sha256(path)
    hooks = list(resid_hooks(model.cfg.n_layers).values()) if hooks is None else list(hooks)
    widths = hook_widths(model, hooks)
    with GamesFile(games) as file:
        rows = file.select(corpus_split, n_games, allow_fewer=False)
        moves, length = gather_rows(file.moves, rows), gather_rows(file.length, rows)
    n = len(rows)
    acts = {h: np.empty((n, N_POSITIONS, widths[h]), DTYPES[dtype]) for h in hooks}
    labels: dict[str, np.ndarray] = {}
    for start in tqdm(range(0, n, batch_games), desc="activations", disable=not progress):
        part = slice(start, start + batch_games)
        batch, batch_labels = run_positions(model, moves[part], length[part], hooks, "games row")
        for hook in hooks:
            acts[hook][part] = batch[hook].float().cpu().numpy()
        for name, values in batch_labels.items():
            labels.setdefault(name, np.empty((n, *values.shape[1:]), values.dtype))[part] = values
    job = cache_job(model_sha256, file_sha256(games), hooks, corpus_split, n, fractions, dtype)
    split = probe_split(n, fractions)
    return ArraySource(acts, labels, valid_positions(length), split, (moves, length), job)
