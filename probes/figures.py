"""Probe figures: accuracy by layer, per-square boards, by move, confusion, direction cosines.

Read from the metrics.json and details.json the probe stage wrote (the control: the same
probes fitted on the random-init model's cache); writes figures.json (the data of every
figure) and one PNG per figure. The detail figures show the mine/theirs probe's layer chosen
on validation games.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from othello.atomic import write_text
from probes import plots
from probes.kinds import KINDS
from probes.schemes import SCHEMES


def load(probe_dir: str | os.PathLike) -> tuple[dict, dict]:
    """metrics.json and details.json of a probe directory."""
    folder = Path(probe_dir)
    found = []
    for name in ("metrics.json", "details.json"):
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run scripts/fit_probes.py first")
        found.append(json.loads(path.read_text()))
    return found[0], found[1]


def accuracy_by_layer(metrics: dict, control: dict | None) -> dict:
    """Every probe's test accuracy by layer, its control's, and the baselines."""
    layers = list(metrics["layers"])
    schemes = [s for s in SCHEMES if s in metrics]
    series = {
        f"{s}/{kind}": [metrics[s][kind][layer] for layer in layers]
        for s in schemes
        for kind in KINDS
        if kind in metrics[s]
    }
    control_series = {
        key: [control[key.split("/")[0]][key.split("/")[1]][layer] for layer in layers]
        for key in series
        if control is not None and key.split("/")[1] in control.get(key.split("/")[0], {})
    }
    base = metrics["baselines"]
    return {
        "layers": layers,
        "series": series,
        "control": control_series,
        "majority": {s: base[s]["majority"] for s in schemes},
        "chance": {s: base[s]["chance"] for s in schemes},
        "placed_by": {s: base[s]["placed_by"] for s in schemes if "placed_by" in base[s]},
    }


def detail_figures(metrics: dict, details: dict) -> dict:
    """Per-square, by-move and confusion figures of the board probes at the mine/theirs
    probe's layer chosen on validation."""
    board = [s for s in ("mine_theirs", "black_white") if s in metrics]
    focus = (
        metrics["best"]["mine_theirs/linear"]["layer"]
        if "mine_theirs" in board
        else (list(metrics["layers"])[-1])
    )
    hook = metrics["layers"][focus]
    probe = {s: details["probes"][f"{s}/linear/{hook}"] for s in board}
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


def figures(metrics: dict, details: dict, control: dict | None) -> dict:
    """The data of every probe figure (what figures.json holds)."""
    out = {
        "accuracy_by_layer": accuracy_by_layer(metrics, control),
        **detail_figures(metrics, details),
    }
    if "direction_cosines" in details:
        layers, hooks = list(metrics["layers"]), list(metrics["layers"].values())
        out["direction_cosines"] = {
            "layers": [layers[hooks.index(h)] for h in details["direction_cosines"]["hooks"]],
            "cosine": details["direction_cosines"]["cosine"],
        }
    return out


DRAWN = {
    "accuracy_by_layer": plots.accuracy_by_layer,
    "square_heatmaps": plots.square_heatmaps,
    "accuracy_by_move": plots.accuracy_by_move,
    "confusion": plots.confusions,
    "direction_cosines": plots.direction_cosines,
}


def write_probe_figures(
    probe_dir: str | os.PathLike, control_dir: str | os.PathLike | None, out: str | os.PathLike
) -> dict:
    """Draw every figure of ``probe_dir`` (beside its control's) into ``out``."""
    metrics, details = load(probe_dir)
    control = load(control_dir)[0] if control_dir else None
    data = figures(metrics, details, control)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in DRAWN.items():
        if name in data:
            draw(data[name], out / f"{name}.png")
    write_text(out / "figures.json", json.dumps(data, indent=1) + "\n")
    return data
