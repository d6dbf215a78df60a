"""The neuron atlas layer by layer: trees for every neuron of the chosen layers and for the two
controls, the weight maps, and one record per neuron (:mod:`probes.circuits.neurons` says what
each part means).

Outputs: ``records`` (neurons.json: layer, neuron, r2_test, rule, ... and its layer's control
shares under ``controls``), ``layers`` (the per-layer summary: share of neurons with test R^2
above the threshold beside the random-init and shuffled-label controls, and the verdict) and
``arrays`` (atlas.npz: the 8x8 maps, logit effects and top-activating positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from othello.model.gpt import GPT
from othello.world.squares import square_name
from probes.circuits.neurons import (
    Sample,
    layer_verdict,
    logit_effects,
    promoted_and_suppressed,
    share_above,
    top_positions,
    weight_maps,
)
from probes.circuits.positions import feature_names
from probes.circuits.trees import TreeData, TreeResult, TreeSettings, fit_trees


@dataclass
class AtlasSettings:
    """The atlas's settings, without defaults: they are CircuitsConfig's, and
    :func:`probes.circuits.stage.atlas_settings` builds these from them."""

    trees: TreeSettings
    r2_threshold: float
    control_neurons: int  # neurons per layer in each control (0: all)
    margin: float  # a layer's share must beat both controls by this much ...
    ratio: float  # ... and be this many times the larger
    top_k: int  # top-activating test positions kept per neuron
    workers: int  # tree-fitting threads


@dataclass
class AtlasResult:
    records: list[dict]
    layers: dict[str, dict]
    arrays: dict[str, np.ndarray]
    fits: dict[int, list[TreeResult]]  # per layer, every neuron's tree
    means: dict[int, np.ndarray]  # per layer, each neuron's mean training activation


def control_columns(width: int, n: int, seed: int, layer: int) -> np.ndarray:
    """The neurons of a layer the controls use: ``n`` of them chosen by seed (all for 0)."""
    if n <= 0 or n >= width:
        return np.arange(width)
    return np.sort(np.random.default_rng([seed, layer]).choice(width, n, replace=False))


def layer_data(samples: tuple[Sample, Sample, Sample], model: int, layer: int) -> TreeData:
    parts = [(s.features, s.acts[model][layer].astype(np.float32)) for s in samples]
    return TreeData.of(*[a for pair in parts for a in pair])


def atlas_layer(
    samples: tuple[Sample, Sample, Sample], layer: int, cfg: AtlasSettings, progress: bool
) -> tuple[list[TreeResult], dict]:
    """Every neuron's tree at ``layer`` and the layer's summary beside its controls."""
    real = layer_data(samples, 0, layer)
    width = real.y_train.shape[1]
    fits = fit_trees(real, list(range(width)), cfg.trees, cfg.workers, f"trees L{layer}", progress)
    sample = control_columns(width, cfg.control_neurons, cfg.trees.seed, layer)
    random_init = layer_data(samples, 1, layer)
    rand = fit_trees(
        random_init,
        list(range(len(sample))),
        cfg.trees,
        cfg.workers,
        f"random-init L{layer}",
        progress,
    )
    shuffled = real.shuffled(cfg.trees.seed + layer)
    shuf = fit_trees(shuffled, list(sample), cfg.trees, cfg.workers, f"shuffled L{layer}", progress)
    t = cfg.r2_threshold
    controls = {
        "random_init": share_above([f.r2_test for f in rand], t),
        "shuffled_labels": share_above([f.r2_test for f in shuf], t),
    }
    share = share_above([f.r2_test for f in fits], t)
    summary = {
        f"share_r2_above_{t:g}": share,
        **controls,
        "share_on_control_sample": share_above([fits[i].r2_test for i in sample], t),
        "neurons": width,
        "control_neurons": len(sample),
        "mean_r2_test": float(np.mean([f.r2_test for f in fits if f.r2_test is not None] or [0])),
        "verdict": layer_verdict(share, controls, cfg.margin, cfg.ratio),
    }
    return fits, summary


def neuron_record(layer: int, neuron: int, fit: TreeResult, maps: dict, effects) -> dict:
    """One neuron's entry of neurons.json."""
    names = feature_names()
    promotes, suppresses = promoted_and_suppressed(effects)
    strongest = {m: int(np.nanargmax(np.abs(v))) for m, v in maps.items() if np.isfinite(v).any()}
    return {
        "layer": layer,
        "neuron": neuron,
        "r2_test": _round(fit.r2_test),
        "r2_val": _round(fit.r2_val),
        "depth": fit.depth,
        "rule": fit.rule,
        "conditions": [[names[c], v] for c, v in fit.conditions],
        "rule_mean": round(fit.rule_mean, 5),
        "rule_samples": fit.rule_samples,
        "promotes": promotes,
        "suppresses": suppresses,
        "reads": {m: [square_name(s), round(float(maps[m][s]), 4)] for m, s in strongest.items()},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def run_atlas(
    model: GPT,
    directions: dict,
    samples: tuple[Sample, Sample, Sample],
    layers: list[int],
    cfg: AtlasSettings,
    progress: bool = True,
) -> AtlasResult:
    """The atlas of ``layers``: ``samples`` (train, val, test) hold the real model's
    activations (index 0) and the random-init control's on :func:`control_columns` (1)."""
    records, summaries, fits_by_layer, means = [], {}, {}, {}
    arrays: dict[str, list] = {}
    for layer in layers:
        fits, summary = atlas_layer(samples, layer, cfg, progress)
        maps = weight_maps(model, layer, directions[layer])
        effects = logit_effects(model, layer)
        summaries[str(layer)] = summary
        controls = {
            k: summary[k]
            for k in summary
            if k.startswith("share_r2") or k in ("random_init", "shuffled_labels")
        }
        for n, fit in enumerate(fits):
            record = neuron_record(layer, n, fit, {m: v[n] for m, v in maps.items()}, effects[n])
            records.append({**record, "controls": controls})
        fits_by_layer[layer] = fits
        means[layer] = samples[0].acts[0][layer].astype(np.float32).mean(0)
        test_acts = samples[2].acts[0][layer].astype(np.float32)
        per_layer = {f"map_{m}": v.astype(np.float16) for m, v in maps.items()}
        per_layer |= {
            "logit_effect": effects.astype(np.float16),
            "r2_test": np.array(
                [np.nan if f.r2_test is None else f.r2_test for f in fits], np.float32
            ),
        }
        per_layer |= top_positions(samples[2], test_acts, cfg.top_k)
        for key, value in per_layer.items():
            arrays.setdefault(key, []).append(value)
    stacked = {k: np.stack(v) for k, v in arrays.items()} | {"layers": np.array(layers)}
    return AtlasResult(records, summaries, stacked, fits_by_layer, means)
