"""The atlas's causal check: do the neurons whose rules name a square's legality carry the
model's prediction of that square?

Groups are made on validation figures only: per (layer, square), the neurons with validation
R^2 above the threshold whose rule requires "square legal". Each group is ablated at once
(``mean``: each neuron fixed at its mean training activation; ``zero``: at 0) on test games,
and the drop in the model's probability of that square is averaged over the positions where
at least one of the group's rules holds (matching) and over all other positions (control).
Singh et al. (2025) report drops 5-10x larger on matching positions; ``ratio`` is matching
over control, per group and pooled (sum of the groups' matching means over the sum of their
control means; None when the control drop is not positive). Most control positions have the
square illegal, where the prediction is near 0 and cannot drop, so a stricter control is
reported beside it: positions where the square is legal but no rule holds
(``ratio_legal_control``): is the neuron needed where its rule holds, or wherever the move
is legal?
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from othello.corpora.corpus import GamesFile
from othello.model.evaluate import square_probabilities
from othello.model.gpt import GPT
from othello.model.hooks import act_name
from othello.world.squares import N_SQUARES, square_name
from probes.circuits.positions import FEATURE_KINDS, batches
from probes.circuits.trees import TreeResult, holds

LEGAL = FEATURE_KINDS.index("legal")


@dataclass
class Group:
    layer: int
    square: int
    neurons: list[int]
    rules: list[list[tuple[int, bool]]]  # each neuron's conditions


def legality_groups(
    fits: dict[int, list[TreeResult]], threshold: float, max_groups: int
) -> list[Group]:
    """The (layer, square) groups of neurons whose rule requires the square to be legal,
    among those with validation R^2 above ``threshold``; the largest ``max_groups``."""
    found: dict[tuple[int, int], Group] = {}
    for layer, layer_fits in fits.items():
        for neuron, fit in enumerate(layer_fits):
            if fit.r2_val is None or fit.r2_val <= threshold:
                continue
            for column, value in fit.conditions:
                if value and column // N_SQUARES == LEGAL:
                    key = (layer, column % N_SQUARES)
                    group = found.setdefault(key, Group(*key, [], []))
                    group.neurons.append(neuron)
                    group.rules.append(fit.conditions)
    ranked = sorted(found.values(), key=lambda g: (-len(g.neurons), g.layer, g.square))
    return ranked[:max_groups]


def ablate_hook(group: Group, means: dict[int, np.ndarray], mode: str):
    index = torch.as_tensor(group.neurons)
    value = torch.as_tensor(
        means[group.layer][group.neurons] if mode == "mean" else np.zeros(len(group.neurons)),
        dtype=torch.float32,
    )

    def fix(x: torch.Tensor, hook) -> torch.Tensor:
        x = x.clone()
        x[..., index.to(x.device)] = value.to(x.device, x.dtype)
        return x

    return act_name("post", group.layer), fix


@torch.no_grad()
def ablation_check(
    model: GPT,
    games: GamesFile,
    rows: np.ndarray,
    groups: list[Group],
    means: dict[int, np.ndarray],
    mode: str,
    batch_games: int,
    progress: bool = True,
) -> dict:
    """ablation.json: each group's mean drop on matching and control positions and their
    ratio, and the pooled ratio."""
    device = next(model.parameters()).device
    # per group: drop and count on matching, control, and legal-but-not-matching positions
    sums: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(6))
    for batch in tqdm(
        list(batches(games, rows, batch_games)),
        desc="ablation",
        disable=not progress or not groups,
        leave=False,
    ):
        tokens, scored = batch.tokens(device), batch.scored()
        clean = square_probabilities(model(tokens)).cpu().numpy()[scored]
        features = batch.features()[scored]
        for i, group in enumerate(groups):
            ablated = model.run_with_hooks(tokens, [ablate_hook(group, means, mode)])
            after = square_probabilities(ablated).cpu().numpy()[scored]
            drop = clean[:, group.square] - after[:, group.square]
            match = np.zeros(len(drop), bool)
            for rule in group.rules:
                match |= holds(rule, features)
            legal = ~match & (features[:, LEGAL * N_SQUARES + group.square] == 1)
            sums[i] += [drop[match].sum(), match.sum(), drop[~match].sum(), (~match).sum(),
                        drop[legal].sum(), legal.sum()]  # fmt: skip
    return ablation_summary(groups, sums, mode)


def ablation_summary(groups: list[Group], sums: dict[int, np.ndarray], mode: str) -> dict:
    rows, means = [], np.zeros((len(groups), 3))
    for i, group in enumerate(groups):
        s = sums[i]
        means[i] = s[0::2] / np.maximum(s[1::2], 1)
        m, c, lc = means[i]
        rows.append({
            "layer": group.layer, "square": square_name(group.square), "neurons": group.neurons,
            "matching_positions": int(s[1]), "control_positions": int(s[3]),
            "legal_control_positions": int(s[5]), "drop_matching": round(float(m), 6),
            "drop_control": round(float(c), 6), "drop_legal_control": round(float(lc), 6),
            "ratio": _ratio(m, c), "ratio_legal_control": _ratio(m, lc),
        })  # fmt: skip
    pooled = means.sum(0)
    return {
        "mode": mode,
        "groups": rows,
        "drop_matching": float(means[:, 0].mean()) if groups else None,
        "drop_control": float(means[:, 1].mean()) if groups else None,
        "drop_legal_control": float(means[:, 2].mean()) if groups else None,
        "ratio": _ratio(pooled[0], pooled[1]) if groups else None,
        "ratio_legal_control": _ratio(pooled[0], pooled[2]) if groups else None,
        "published_ratio": "5-10x (Singh et al. 2025)",
    }


def _ratio(matching: float, control: float) -> float | None:
    """matching / control; None when the control drop is not positive (no ratio to speak of)."""
    return round(float(matching / control), 4) if control > 1e-9 else None
