"""The circuit laboratory's parts run on one model: direct logit attribution
(:mod:`.attribution`), the logit lens (:mod:`.lens`), heads (:mod:`.heads`), the neuron atlas
with its controls (:mod:`.atlas`, :mod:`.neurons`, :mod:`.trees`), the causal check of the
legality rules (:mod:`.ablation`) and activation patching, exact (:mod:`.patching`) and by its
gradient approximation (:mod:`.attribution_patching`). Every figure is on held-out (test)
games; every choice (tree depth, head classes, which neurons to ablate) is made on training
or validation games."""

from __future__ import annotations

import os
import time
from dataclasses import asdict

from othello.common.files import (
    ABLATION,
    ATTRIBUTION,
    ATTRIBUTION_PATCHING,
    HEADS,
    LOGIT_LENS,
    NEURON_LAYERS,
    NEURONS,
    PATCHING,
)
from othello.corpora.corpus import GamesFile
from probes.circuits.ablation import ablation_check, legality_groups
from probes.circuits.atlas import AtlasResult, run_atlas
from probes.circuits.config import CircuitsConfig, atlas_settings
from probes.circuits.heads import heads_summary
from probes.circuits.inputs import CircuitsInputs
from probes.circuits.passes import atlas_samples, head_classes_pass, patching_pass, test_pass
from probes.circuits.results import CircuitsResult, neuron_page_data


def measure_circuits(
    inputs: CircuitsInputs, games: str | os.PathLike, cfg: CircuitsConfig, progress: bool = True
) -> CircuitsResult:
    """Run every part on the checked inputs; nothing is written."""
    seconds: dict[str, float] = {}
    with GamesFile(games) as g:
        outputs, atlas, positions = analyse(inputs, g, cfg, Laps(seconds), progress)
    metrics = headline(inputs, cfg, outputs, positions, seconds)
    return CircuitsResult(
        None, metrics, outputs[NEURONS], outputs[NEURON_LAYERS], outputs[ATTRIBUTION],
        outputs[LOGIT_LENS], outputs[HEADS], outputs[ABLATION], outputs[PATCHING],
        outputs[ATTRIBUTION_PATCHING], arrays=atlas.arrays,
        pages=neuron_page_data(atlas, cfg.pages),
    )  # fmt: skip


class Laps:
    """Seconds of each part, recorded into a dict as the parts finish."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds, self.clock = seconds, time.perf_counter()

    def __call__(self, name: str) -> None:
        self.seconds[name] = round(time.perf_counter() - self.clock, 2)
        self.clock = time.perf_counter()


def analyse(
    inputs: CircuitsInputs, g: GamesFile, cfg: CircuitsConfig, lap: Laps, progress: bool
) -> tuple[dict, AtlasResult, dict]:
    """Every part on the open games file: the outputs by file name, the atlas, the sizes of
    its position samples."""
    model, rows = inputs.model, inputs.rows
    attribution, lens, test_heads = test_pass(
        model, inputs.directions, g, rows["test"], cfg.batch_games, progress
    )
    val_heads = head_classes_pass(model, g, rows["val"], cfg.batch_games)
    heads = heads_summary(val_heads, test_heads, cfg.head_threshold)
    lap("attribution_lens_heads")
    sizes = {"train": cfg.tree_positions, "val": cfg.val_positions, "test": cfg.test_positions}
    samples = atlas_samples(
        (model, inputs.control),
        g,
        rows,
        sizes,
        inputs.layers,
        cfg.control_neurons,
        cfg.seed,
        cfg.batch_games,
        progress,
    )
    atlas = run_atlas(
        model, inputs.directions, samples, inputs.layers, atlas_settings(cfg), progress
    )
    lap("atlas")
    groups = legality_groups(atlas.fits, cfg.r2_threshold, cfg.ablation_groups)
    test_rows = rows["test"][: cfg.ablation_games]
    ablation = ablation_check(
        model, g, test_rows, groups, atlas.means, cfg.ablation, cfg.batch_games, progress
    )
    lap("ablation")
    patching, approx = patching_pass(
        model, g, rows["test"], cfg.patch_pairs, cfg.patch_follow, cfg.seed
    )
    lap("patching")
    outputs = {
        NEURONS: atlas.records,
        NEURON_LAYERS: atlas.layers,
        ATTRIBUTION: attribution,
        LOGIT_LENS: lens,
        HEADS: heads,
        ABLATION: ablation,
        PATCHING: patching,
        ATTRIBUTION_PATCHING: approx,
    }
    splits = ("train", "val", "test")
    return outputs, atlas, {s: len(x.where) for s, x in zip(splits, samples, strict=True)}


def headline(
    inputs: CircuitsInputs, cfg: CircuitsConfig, outputs: dict, positions: dict, seconds: dict
) -> dict:
    """metrics.json: the figures a reader looks for first, what they were measured on, the
    settings and the time each part took."""
    layers, lens = outputs[NEURON_LAYERS], outputs[LOGIT_LENS]
    share_key = f"share_r2_above_{cfg.r2_threshold:g}"
    attribution = outputs[ATTRIBUTION]
    means = dict(zip(attribution["parts"], attribution["predicted"]["mean"], strict=True))
    top_parts = sorted(means, key=lambda k: -abs(means[k]))[:5]
    classes = [c for row in outputs[HEADS]["classes"] for c in row]
    patching = outputs[PATCHING]
    return {
        "model_sha256": inputs.model_sha256,
        "games_sha256": inputs.games_sha256,
        "games_file": inputs.games_file,
        "games_count": inputs.games_count,
        "games": {split: int(len(r)) for split, r in inputs.rows.items()},
        "positions": positions,
        "device": inputs.device,
        "logit_lens_final": lens[max(lens, key=int)],
        "logit_lens": lens,
        "probe_mine_theirs_linear": inputs.probe_accuracy,
        "attribution_top_parts": {k: means[k] for k in top_parts},
        "attribution_max_abs_sum_error": attribution["max_abs_sum_error"],
        "head_classes": {c: classes.count(c) for c in ("mine", "theirs", "mixed")},
        "neurons": {
            k: {
                "share": v[share_key],
                "random_init": v["random_init"],
                "shuffled_labels": v["shuffled_labels"],
                "verdict": v["verdict"],
            }
            for k, v in layers.items()
        },
        "ablation_ratio": outputs[ABLATION]["ratio"],
        "ablation_groups": len(outputs[ABLATION]["groups"]),
        "patching_pairs": patching["pairs"],
        "patching_resid_at_p": [row[0] for row in patching["resid"]],
        "attribution_patching": {
            k: outputs[ATTRIBUTION_PATCHING][k] for k in ("correlation", "seconds", "speedup")
        },
        "settings": {k: v for k, v in asdict(cfg).items() if k != "progress"},
        "seconds": seconds,
        "warnings": inputs.warnings + shortfalls(cfg, outputs, positions),
    }


def shortfalls(cfg: CircuitsConfig, outputs: dict, positions: dict) -> list[str]:
    """What the parts got less of than the settings asked: tree positions (the games hold
    fewer), patching pairs (too few valid one-move-different games), legality groups (too few
    neurons with such rules above the threshold on validation)."""
    out = []
    for split, key in (("train", "tree"), ("val", "val"), ("test", "test")):
        asked = getattr(cfg, f"{key}_positions")
        if positions[split] < asked:
            out.append(
                f"only {positions[split]:,} {split} positions for the trees, "
                f"{key}_positions={asked:,} asked: the {split} games hold no more"
            )
    patching = outputs[PATCHING]
    if patching["pairs"] < cfg.patch_pairs:
        out.append(
            f"patching: {patching['pairs']} pairs, patch_pairs={cfg.patch_pairs} asked "
            f"({patching['candidate_pairs']} valid one-move-different games, "
            f"{patching['pairs_with_different_top_moves']} with different top moves)"
        )
    groups = len(outputs[ABLATION]["groups"])
    if groups < cfg.ablation_groups:
        out.append(
            f"ablation: {groups} groups of legality neurons (validation R^2 > "
            f"{cfg.r2_threshold:g}), ablation_groups={cfg.ablation_groups} asked"
        )
    return out
