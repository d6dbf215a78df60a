"""Probe figures: accuracy by layer, per-square boards, by move (per square and whole board),
confusion, direction cosines.

Read from the metrics.json and details.json the probe stage wrote (the control: the same
probes fitted on the random-init model's cache); writes figures.json (the data of every
figure) and one PNG per figure. The detail figures show the mine/theirs probe's layer chosen
on validation games.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import probes.plots as plots
from othello.common.atomic import write_text
from othello.common.files import DETAILS, FIGURES_JSON
from probes.common import ProbeKey
from probes.kinds import KINDS
from probes.probe_metrics import ProbeMetrics
from probes.schemes import SCHEMES

# every figure this module draws: name in figures.json -> (its file, how it is drawn)
FIGURES = {
    "accuracy_by_layer": ("accuracy_by_layer.png", plots.accuracy_by_layer),
    "square_heatmaps": ("square_heatmaps.png", plots.square_heatmaps),
    "accuracy_by_move": ("accuracy_by_move.png", plots.accuracy_by_move),
    "confusion": ("confusion.png", plots.confusions),
    "direction_cosines": ("direction_cosines.png", plots.direction_cosines),
}
CAPTIONS = {
    "accuracy_by_layer": "Probe accuracy by layer (Nanda et al.: mine/theirs linear; Li et al.: "
    "black/white)",
    "square_heatmaps": "Per-square accuracy, best layer",
    "accuracy_by_move": "Probe accuracy by move number",
    "confusion": "Confusion per class",
    "direction_cosines": "Cosine of probe directions across layers",
}


def load_details(probe_dir: str | os.PathLike) -> dict:
    """details.json of a probe directory."""
    path = Path(probe_dir) / DETAILS
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run scripts/fit_probes.py first")
    return json.loads(path.read_text())


def accuracy_by_layer(metrics: ProbeMetrics, control: ProbeMetrics | None) -> dict:
    """Every probe's test accuracy by layer, its control's, and the baselines."""
    layers = list(metrics.layers)
    schemes = list(metrics.accuracy)
    series = {
        f"{s}/{kind}": [metrics.accuracy[s][kind][layer] for layer in layers]
        for s in schemes
        for kind in KINDS
        if kind in metrics.accuracy[s]
    }
    control_series = {
        f"{s}/{kind}": [control.accuracy[s][kind][layer] for layer in layers]
        for s in schemes
        for kind in KINDS
        if control is not None and kind in control.accuracy.get(s, {}) and f"{s}/{kind}" in series
    }
    base = metrics.baselines
    return {
        "layers": layers,
        "series": series,
        "control": control_series,
        "majority": {s: base[s]["majority"] for s in schemes},
        "chance": {s: base[s]["chance"] for s in schemes},
        "placed_by": {s: base[s]["placed_by"] for s in schemes if "placed_by" in base[s]},
    }


def detail_figures(metrics: ProbeMetrics, details: dict) -> dict:
    """Per-square, by-move and confusion figures of the board probes at the mine/theirs
    probe's layer chosen on validation."""
    board = [s for s in ("mine_theirs", "black_white") if s in metrics.accuracy]
    if "mine_theirs" in board:
        focus = metrics.best_of("mine_theirs").layer
    else:
        focus = list(metrics.layers)[-1]
    hook = metrics.hook(focus)
    probe = {s: details["probes"][str(ProbeKey(s, "linear", hook))] for s in board}
    base = details["baselines"]
    label = {s: f"{s} linear, layer {focus}" for s in board}
    return {
        "square_heatmaps": {
            "layer": focus,
            "panels": {
                **{label[s]: probe[s]["accuracy_by_square"] for s in board},
                f"majority baseline ({board[0]})": base[board[0]]["majority_by_square"],
            },
        },
        "accuracy_by_move": {
            "layer": focus,
            "series": {label[s]: probe[s]["accuracy_by_move"] for s in board},
            "baselines": {
                f"{s} majority by move": base[s]["majority_by_move_curve"] for s in board
            },
            "rules": {
                f"{s} placed-by rule": base[s]["placed_by_curve"]
                for s in board
                if "placed_by_curve" in base[s]
            },
        },
        "confusion": {
            "layer": focus,
            "panels": {
                label[s]: {"classes": list(SCHEMES[s].classes), "matrix": probe[s]["confusion"]}
                for s in board
            },
        },
    }


def whole_board_curves(
    metrics: ProbeMetrics, details: dict, control: ProbeMetrics | None, layer: str
) -> dict:
    """Whole-board accuracy by move of the board probes at ``layer`` (the by-move figure's
    layer) and of the control's mine/theirs probe at its own chosen layer; empty for probes
    fitted before whole boards were counted."""
    curves = {}
    for s in ("mine_theirs", "black_white"):
        summary = details["probes"].get(str(ProbeKey(s, "linear", metrics.hook(layer))), {})
        if "whole_board_by_move" in summary:
            curves[f"{s} linear, layer {layer}"] = summary["whole_board_by_move"]
    controls = {}
    if curves and control is not None and control.whole_board_by_move:
        chosen = control.whole_board_by_move.get(ProbeKey("mine_theirs", "linear"))
        if chosen is not None:
            label = f"mine_theirs linear, random-init control, layer {chosen['layer']}"
            controls[label] = chosen["by_move"]
    return {"whole_board": curves, "whole_board_control": controls} if curves else {}


def figures(metrics: ProbeMetrics, details: dict, control: ProbeMetrics | None) -> dict:
    """The data of every probe figure (what figures.json holds)."""
    out = {
        "accuracy_by_layer": accuracy_by_layer(metrics, control),
        **detail_figures(metrics, details),
    }
    by_move = out["accuracy_by_move"]
    by_move.update(whole_board_curves(metrics, details, control, by_move["layer"]))
    if "direction_cosines" in details:
        layers, hooks = list(metrics.layers), list(metrics.layers.values())
        out["direction_cosines"] = {
            "layers": [layers[hooks.index(h)] for h in details["direction_cosines"]["hooks"]],
            "cosine": details["direction_cosines"]["cosine"],
        }
    return out


def draw_figures(
    metrics: ProbeMetrics, details: dict, control: ProbeMetrics | None, out: Path
) -> dict:
    """Draw every figure of a fit (beside its control's) into ``out``, with figures.json."""
    data = figures(metrics, details, control)
    out.mkdir(parents=True, exist_ok=True)
    for name, (file, draw) in FIGURES.items():
        if name in data:
            draw(data[name], out / file)
    write_text(out / FIGURES_JSON, json.dumps(data, indent=1) + "\n")
    return data


def write_probe_figures(
    probe_dir: str | os.PathLike, control_dir: str | os.PathLike | None, out: str | os.PathLike
) -> dict:
    """Draw every figure of ``probe_dir`` (beside its control's) into ``out``."""
    metrics, details = ProbeMetrics.load(probe_dir), load_details(probe_dir)
    control = ProbeMetrics.load(control_dir) if control_dir else None
    return draw_figures(metrics, details, control, Path(out))


def drawn(folder: Path) -> dict[str, Path]:
    """``{caption: file}`` of the figures ``folder``'s figures.json says were drawn."""
    path = folder / FIGURES_JSON
    names = json.loads(path.read_text()) if path.exists() else {}
    return {CAPTIONS[n]: folder / FIGURES[n][0] for n in FIGURES if n in names}
