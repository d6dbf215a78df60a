"""The intervention benchmark: every method at every start layer, scored on every case set.

The linear edit's scale is chosen per start layer on the ``tune`` cases (validation games),
then applied unchanged to the reported ``natural`` and ``unnatural`` sets, so no reported
figure is fitted to the cases it is reported on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from othello.cache import resid_layer
from othello.model import GPT
from othello.tokens import PLAYABLE_SQUARES
from probes.cases import Cases
from probes.interventions import gradient_editor, intervene, linear_editor, score

REPORTED = ("natural", "unnatural")


@dataclass
class SweepConfig:
    layers: list[int]  # start layers (residual-stream layers, 0 = embeddings)
    methods: tuple[str, ...] = ("linear", "gradient")
    scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    later_layers: bool = True  # edit the start layer and every later one (Li et al.)
    gradient_steps: int = 200
    gradient_step_size: float = 0.25  # standardised units per step
    gradient_confidence: float = 0.9  # stop a case once the probe reads its target so surely


def edit_hooks(hooks: dict[int, str], layer: int, later_layers: bool) -> list[str]:
    """The hooks an edit starting at ``layer`` touches, in forward order."""
    return [hooks[k] for k in sorted(hooks) if k == layer or (later_layers and k > layer)]


def run_sweep(
    model: GPT,
    sets: dict[str, Cases],
    hooks: dict[int, str],
    linear_probes: dict[str, nn.Module],
    gradient_probes: dict[str, nn.Module],
    cfg: SweepConfig,
    progress: bool = True,
) -> tuple[dict, dict]:
    """``metrics`` shaped {method: {start_layer: {...}}} (natural set at the top level of each
    entry, unnatural nested) and the scale sweep on the tuning set."""
    model.eval()
    null = {
        kind: score(intervene(model, cases, [], None), cases)
        for kind, cases in sets.items()
        if len(cases)
    }
    reported = [kind for kind in REPORTED if kind in null]
    can_tune = "tune" in null and len(cfg.scales) > 1
    metrics: dict = {}
    sweep: dict = {}
    steps = len(cfg.methods) * len(cfg.layers)
    bar = tqdm(total=steps, desc="interventions", disable=not progress)
    for method in cfg.methods:
        metrics[method] = {}
        for layer in cfg.layers:
            edited = edit_hooks(hooks, layer, cfg.later_layers)
            if method == "linear" and not can_tune:
                edit = linear_editor(linear_probes, cfg.scales[0])
                settings = {"scale": cfg.scales[0]}
            elif method == "linear":
                tuning = {}
                for scale in cfg.scales:
                    logits = intervene(
                        model, sets["tune"], edited, linear_editor(linear_probes, scale)
                    )
                    tuning[scale] = score(logits, sets["tune"])["errors_vs_edited"]
                sweep[str(layer)] = [tuning[s] for s in cfg.scales]
                best = min(cfg.scales, key=lambda s: tuning[s])
                edit = linear_editor(linear_probes, best)
                settings = {"scale": best}
            else:
                edit = gradient_editor(
                    gradient_probes,
                    cfg.gradient_steps,
                    cfg.gradient_step_size,
                    cfg.gradient_confidence,
                )
                settings = {
                    "steps": cfg.gradient_steps,
                    "step_size": cfg.gradient_step_size,
                    "confidence": cfg.gradient_confidence,
                }
            entry: dict = {}
            for kind in reported:
                result = score(intervene(model, sets[kind], edited, edit), sets[kind])
                result["null_errors_vs_edited"] = null[kind]["errors_vs_edited"]
                result["null_errors_vs_original"] = null[kind]["errors_vs_original"]
                if kind == "natural":
                    entry.update(result)
                else:
                    entry[kind] = result
            entry.update(settings, edit_layers=[resid_layer(h) for h in edited])
            entry["edit_hooks"] = edited
            metrics[method][str(layer)] = entry
            bar.update()
    bar.close()
    return metrics, {"null": null, "scales": list(cfg.scales), "tune_errors": sweep}


def top_n(logits: torch.Tensor, n: int) -> list[int]:
    """Squares of the model's ``n`` best moves (logits [61], token 0 is padding)."""
    order = logits[1:].argsort(descending=True)[:n]
    return [int(PLAYABLE_SQUARES[i]) for i in order]
