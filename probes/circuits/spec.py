"""The circuit laboratory as a registered :class:`probes.stage_spec.Stage`: how the model
computes its board and its move (attribution, logit lens, heads, the neuron atlas against the
true board with its controls, the causal check, patching)."""

from __future__ import annotations

import os

from probes.circuits.config import SIZES, CircuitsConfig
from probes.circuits.inputs import check_inputs
from probes.circuits.lab import measure_circuits
from probes.circuits.results import CircuitsResult
from probes.circuits.view import CircuitsFolder
from probes.stage_spec import Stage, model_sha256, need
from probes.textcells import cell, percent, times


class CircuitsStage(Stage):
    name = "circuits"
    question = "How does the model compute its board and its move?"
    config = CircuitsConfig
    presets = SIZES
    reads = ("probes",)
    order = 40

    def measure(self, model, games, inputs: dict, cfg: CircuitsConfig) -> CircuitsResult:
        """Every part of the laboratory on ``model`` with the probe stage's result."""
        checked = check_inputs(model, model_sha256(model), need(inputs, "probes", self.name),
                               games, cfg)  # fmt: skip
        return measure_circuits(checked, games, cfg, cfg.progress)

    def load(self, folder: str | os.PathLike) -> CircuitsResult:
        return CircuitsResult.load(folder)

    def section(self, part: dict) -> list[str]:
        return circuits_section(part)

    def view(self, result: CircuitsResult, hooks: dict[int, str]) -> CircuitsFolder:
        return CircuitsFolder.of(result)

    def printed(self, result: CircuitsResult) -> list[str]:
        m = result.metrics
        lines = [f"logit lens (last layer): top-1 legal {100 * m['logit_lens_final']:.1f}%"]
        threshold = m["settings"]["r2_threshold"]
        for layer, n in m["neurons"].items():
            lines.append(
                f"layer {layer}: {100 * n['share']:.1f}% of neurons with test R^2 > "
                f"{threshold:g} (random-init {100 * n['random_init']:.1f}%, shuffled "
                f"{100 * n['shuffled_labels']:.1f}%): {n['verdict']}"
            )
        lines.append(f"ablation ratio (matching / control): {times(m['ablation_ratio'])}")
        lines.append(f"patching: {m['patching_pairs']} pairs")
        return lines + [f"WARNING: {w}" for w in m["warnings"]]


def circuits_section(c: dict) -> list[str]:
    """The circuit laboratory (scripts/circuits.py): lens, attribution, heads, the neuron
    atlas beside its controls and the causal check, patching."""
    pct = percent
    lens, probe = c["logit_lens"], c["probe_mine_theirs_linear"]
    heads, ablation, patching = c["head_classes"], c["ablation"], c["patching"]
    key = next(k for k in next(iter(c["neuron_layers"].values())) if k.startswith("share_r2"))
    parts = ", ".join(f"{k} {v:+.3f}" for k, v in c["attribution_top_parts"].items())
    lines = [
        f"## Circuits ({c['games']['test']} test games for every figure; tree depths, head "
        "classes and the neurons ablated chosen on training and validation games)",
        "",
        "- logit lens, top-1 legal by layer: "
        + ", ".join(f"{k}: {pct(v)} (probe {pct(probe.get(k))})" for k, v in lens.items()),
        f"- direct logit attribution of the predicted move, largest mean parts: {parts} (parts "
        f"sum to the logit within {c['attribution_max_abs_sum_error']:.1e})",
        f"- heads: {heads['mine']} read the mover's own moves, {heads['theirs']} the "
        f"opponent's, {heads['mixed']} both",
        "",
        f"| MLP layer | neurons | test R^2 > {key.rsplit('_', 1)[1]} | random-init control | "
        "shuffled labels | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for layer, s in c["neuron_layers"].items():
        lines.append(
            f"| {layer} | {s['neurons']} | {pct(s[key])} | {pct(s['random_init'])} | "
            f"{pct(s['shuffled_labels'])} | {s['verdict']} |"
        )
    ratio = ablation["ratio"]
    lines += [
        "",
        f"Causal check ({c['ablation_groups']} groups of legality neurons, {ablation['mode']} "
        f"ablation): the square's predicted probability drops {cell(ablation['drop_matching'])}"
        f" points where the rule holds vs {cell(ablation['drop_control'])} elsewhere, ratio "
        f"{times(ratio)}; against positions where the square is "
        f"legal but no rule holds, {times(ablation['ratio_legal_control'])} "
        f"(published: {ablation['published_ratio']}"
        "; Singh et al. report R^2 > 0.7 for 913 of 2,048 layer-5 neurons of the published "
        "model).",
        "",
        *([f"- WARNING: {w}" for w in c["warnings"]] + [""] if c["warnings"] else []),
        "Best-explained neurons (ranked on validation R^2; test R^2 shown): "
        + "; ".join(
            f"L{n['layer']} N{n['neuron']} (R^2 {n['r2_test']:.2f}): {n['rule']}"
            for n in c["top_neurons"][:5]
        ),
        "",
    ]
    if patching["pairs"]:
        at_p = ", ".join(
            f"{k}: {row[0]:.2f}"
            for k, row in zip(patching["layers"], patching["resid"], strict=True)
        )
        lines += [
            f"Activation patching ({patching['pairs']} pairs; {patching['construction']}): "
            f"share restored by the residual stream at the differing move, by layer: {at_p}.",
            "",
        ]
    return lines
