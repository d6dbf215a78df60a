"""One neuron's rule without the whole atlas: the same regression tree on the true board
(:mod:`probes.circuits.trees`), fitted on training games, its depth chosen on validation games
and scored on test games, beside what the neuron writes to the logits. The atlas fits this
tree for every neuron at once; a notebook asking about one neuron reads only its column.

>>> rule = neuron_rule(model, "data/games-cpu-seed0.h5", layer=1, neuron=42)
>>> rule.rule, rule.r2_test, rule.promotes
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.gpt import GPT
from probes.circuits.config import CircuitsConfig, atlas_settings, split_rows
from probes.circuits.neurons import collect, logit_effects, promoted_and_suppressed
from probes.circuits.positions import feature_names, sample_positions
from probes.circuits.trees import TreeData, fit_tree


@dataclass
class NeuronRule:
    """A neuron's tree rule (conditions on the board from the mover's view), its depth and
    R^2 on validation (where the depth was chosen) and test games, and the moves its output
    weights promote and suppress through the unembedding (``logit_effect``: [64])."""

    layer: int
    neuron: int
    rule: str
    conditions: list[tuple[str, bool]]
    depth: int
    r2_val: float | None
    r2_test: float | None
    promotes: list[str]
    suppresses: list[str]
    logit_effect: np.ndarray

    def __str__(self) -> str:
        r2 = "n/a" if self.r2_test is None else f"{self.r2_test:.2f}"
        return (
            f"L{self.layer} N{self.neuron}: {self.rule} (test R^2 {r2}, depth {self.depth}); "
            f"promotes {', '.join(self.promotes) or 'none'}, "
            f"suppresses {', '.join(self.suppresses) or 'none'}"
        )


def neuron_rule(
    model: GPT,
    games: str | os.PathLike,
    layer: int,
    neuron: int,
    cfg: CircuitsConfig | None = None,
    progress: bool = False,
    **settings: Any,
) -> NeuronRule:
    """Fit and score the tree of MLP neuron ``neuron`` of block ``layer`` on the games file's
    train / val / test splits, with the circuit laboratory's sizes and tree settings
    (``cfg``, or its defaults with ``settings`` such as ``train_games=40`` changed)."""
    cfg = cfg or CircuitsConfig(**settings)
    if not 0 <= layer < model.cfg.n_layers or not 0 <= neuron < model.cfg.mlp_width:
        raise UserError(
            f"neuron {layer}.{neuron} is outside the model's {model.cfg.n_layers} layers of "
            f"{model.cfg.mlp_width} neurons"
        )
    sizes = {"train": cfg.tree_positions, "val": cfg.val_positions, "test": cfg.test_positions}
    keep = [{layer: np.array([neuron])}]
    parts = []
    with GamesFile(games) as g, torch.no_grad():
        rows = split_rows(g, cfg)
        for offset, split in enumerate(("train", "val", "test"), start=1):
            picks = sample_positions(g.length[rows[split]], sizes[split], cfg.seed + offset)
            sample = collect([model], g, rows[split], picks, [layer], cfg.batch_games, keep,
                             progress, f"neuron ({split})")  # fmt: skip
            parts += [sample.features, sample.acts[0][layer].astype(np.float32)]
    fit = fit_tree(TreeData.of(*parts), 0, atlas_settings(cfg).trees)
    effects = logit_effects(model, layer)[neuron]
    promotes, suppresses = promoted_and_suppressed(effects)
    names = feature_names()
    return NeuronRule(
        layer, neuron, fit.rule, [(names[c], v) for c, v in fit.conditions], fit.depth,
        fit.r2_val, fit.r2_test, promotes, suppresses, effects,
    )  # fmt: skip
