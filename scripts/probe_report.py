"""Probe figures: accuracy by layer, per-square boards, by move, confusion, direction cosines.

    python scripts/probe_report.py --probes PROBE_DIR [--control CONTROL_PROBE_DIR] --out DIR

Reads the metrics.json and details.json that fit_probes.py wrote; writes DIR/figures.json
(the data of every figure) and one PNG per figure. The control is the same probes fitted on
the random-init model's cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from othello.atomic import write_text
from probes import plots
from probes.schemes import SCHEMES


def load(probe_dir: str) -> tuple[dict, dict]:
    folder = Path(probe_dir)
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        details = json.loads((folder / "details.json").read_text())
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc.filename}: missing; run scripts/fit_probes.py first")
    return metrics, details


def figures(metrics: dict, details: dict, control: dict | None) -> dict:
    layers = list(metrics["layers"])
    hooks = list(metrics["layers"].values())
    schemes = [s for s in SCHEMES if s in metrics]
    series = {
        f"{s}/{kind}": [metrics[s][kind][layer] for layer in layers]
        for s in schemes
        for kind in ("linear", "mlp")
        if kind in metrics[s]
    }
    control_series = {}
    if control is not None:
        control_series = {
            key: [control[key.split("/")[0]][key.split("/")[1]][layer] for layer in layers]
            for key in series
            if key.split("/")[1] in control.get(key.split("/")[0], {})
        }
    board = [s for s in ("mine_theirs", "black_white") if s in schemes]
    best = {s: metrics["best"][f"{s}/linear"]["layer"] for s in board}
    focus = best.get("mine_theirs", layers[-1])  # the layer the detail figures show
    focus_hook = metrics["layers"][focus]
    probe = details["probes"]
    out = {
        "accuracy_by_layer": {
            "layers": layers,
            "series": series,
            "control": control_series,
            "majority": {s: metrics["baselines"][s]["majority"] for s in schemes},
            "chance": {s: metrics["baselines"][s]["chance"] for s in schemes},
            "placed_by": {
                s: metrics["baselines"][s]["placed_by"]
                for s in schemes
                if "placed_by" in metrics["baselines"][s]
            },
        },
        "square_heatmaps": {
            "layer": focus,
            "panels": {
                **{
                    f"{s} linear, layer {focus}": probe[f"{s}/linear/{focus_hook}"][
                        "accuracy_by_square"
                    ]
                    for s in board
                },
                f"majority baseline ({board[0]})": details["baselines"][board[0]][
                    "majority_by_square"
                ],
            },
        },
        "accuracy_by_move": {
            "layer": focus,
            "series": {
                f"{s} linear, layer {focus}": probe[f"{s}/linear/{focus_hook}"]["accuracy_by_move"]
                for s in board
            },
            "baselines": {
                f"{s} majority by move": details["baselines"][s]["majority_by_move_curve"]
                for s in board
            },
            "rules": {
                f"{s} placed-by rule": details["baselines"][s]["placed_by_curve"]
                for s in board
                if "placed_by_curve" in details["baselines"][s]
            },
        },
        "confusion": {
            "layer": focus,
            "panels": {
                f"{s} linear, layer {focus}": {
                    "classes": list(SCHEMES[s].classes),
                    "matrix": probe[f"{s}/linear/{focus_hook}"]["confusion"],
                }
                for s in board
            },
        },
    }
    if "direction_cosines" in details:
        out["direction_cosines"] = {
            "layers": [layers[hooks.index(h)] for h in details["direction_cosines"]["hooks"]],
            "cosine": details["direction_cosines"]["cosine"],
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", required=True, help="fit_probes.py output directory")
    parser.add_argument("--control", help="the random-init control's probe directory")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    metrics, details = load(args.probes)
    control = load(args.control)[0] if args.control else None
    data = figures(metrics, details, control)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in (
        ("accuracy_by_layer", plots.accuracy_by_layer),
        ("square_heatmaps", plots.square_heatmaps),
        ("accuracy_by_move", plots.accuracy_by_move),
        ("confusion", plots.confusions),
        ("direction_cosines", plots.direction_cosines),
    ):
        if name in data:
            draw(data[name], out / f"{name}.png")
    write_text(out / "figures.json", json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(data)} figures to {out}")


if __name__ == "__main__":
    main()
