"""Activations in memory, without writing a folder: the residual stream and board labels of
N games, as an :class:`probes.acts.arrays.ArraySource` that the probe fitting, the SAEs and
the readers take exactly as they take an ``acts.h5`` cache. The cache writer runs the same
:func:`run_positions` on each batch, so a notebook and ``scripts/cache.py`` see the same
numbers.

>>> source = cache_activations(model, "data/games-cpu-seed0.h5", n_games=500)
>>> source.acts["blocks.2.hook_resid_pre"].shape  # [games, 59, d_model]
"""

from __future__ import annotations

import os

import numpy as np
import torch
from tqdm import tqdm

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile, gather_rows
from othello.model.hooked import HookedModel
from othello.model.hooks import resid_hooks
from othello.world.labels import replay
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.acts.arrays import ArraySource
from probes.acts.format import position_labels, probe_split


class IllegalGameError(UserError):
    """A game of a batch with an illegal move: ``row`` in the batch, at ``ply``."""

    def __init__(self, where: str, row: int, ply: int) -> None:
        super().__init__(f"{where} {row} has an illegal move at ply {ply}")
        self.row, self.ply = row, ply


@torch.inference_mode()
def run_positions(
    model: HookedModel, moves: np.ndarray, length: np.ndarray, hooks: list[str], where: str = "game"
) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """The model's activations ``{hook: [games, 59, d]}`` and the engine's labels (per
    :func:`position_labels`) of a batch of games; an illegal game is refused naming its row
    (``where``: how errors name a game) and ply."""
    plies = replay(moves, length)
    if not plies.valid.all():
        bad = int(np.flatnonzero(~plies.valid)[0])
        raise IllegalGameError(where, bad, int(plies.error[bad]))
    device = next(model.parameters()).device
    tokens = torch.as_tensor(encode(moves[:, :N_POSITIONS]), device=device)
    _, acts = model.run_with_cache(tokens, hooks)
    return acts, position_labels(plies)


def cache_activations(
    model: HookedModel,
    games: str | os.PathLike,
    n_games: int = 1000,
    corpus_split: str = "val",
    hooks: list[str] | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    batch_games: int = 256,
    progress: bool = True,
) -> ArraySource:
    """The residual stream at every layer (or at ``hooks``) and the board labels of
    ``n_games`` games of ``corpus_split`` of a games file, split into probe train / val /
    test games by ``fractions`` as the cache is; float32, held in memory."""
    hooks = list(resid_hooks(model.cfg.n_layers).values()) if hooks is None else list(hooks)
    with GamesFile(games) as file:
        rows = file.select(corpus_split, n_games, allow_fewer=False)
        moves, length = gather_rows(file.moves, rows), gather_rows(file.length, rows)
    acts: dict[str, list[np.ndarray]] = {h: [] for h in hooks}
    labels: dict[str, list[np.ndarray]] = {}
    for start in tqdm(range(0, len(rows), batch_games), desc="activations", disable=not progress):
        part = slice(start, start + batch_games)
        batch, batch_labels = run_positions(model, moves[part], length[part], hooks, "games row")
        for hook in hooks:
            acts[hook].append(batch[hook].float().cpu().numpy())
        for name, values in batch_labels.items():
            labels.setdefault(name, []).append(values)
    valid = np.arange(N_POSITIONS)[None, :] < length.astype(np.int64)[:, None]
    return ArraySource(
        {h: np.concatenate(a) for h, a in acts.items()},
        {name: np.concatenate(v) for name, v in labels.items()},
        valid,
        probe_split(len(rows), fractions),
    )
