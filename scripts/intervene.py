"""Edit the model's board along probe directions and score its legal-move predictions.

    python scripts/intervene.py --run RUN_DIR --probes PROBE_DIR --games PATH.h5 --out OUT_DIR
        [--method linear|gradient|all] [--n-cases 1000] [--set CASES.h5] [--layers 0,2,3]

Cases come from --set (scripts/make_intervention_set.py) or are drawn from --games with the
same defaults. Writes OUT_DIR/metrics.json ({method: {start_layer: {errors_vs_edited,
errors_vs_original, f1_vs_edited, success_rate, null_errors_vs_edited, ..., unnatural: {...}}}}),
details.json (scale sweep, null baselines, best settings), tables.md, figures.json and the
figures: errors by layer, scale sweep, a gallery of boards before and after, and latent
saliency maps. Every input is checked before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from othello.atomic import write_text
from othello.cache import resid_layer
from othello.checkpoint import file_sha256, load_model, model_file
from othello.corpus import CorpusError
from othello.labels import replay
from probes import intervention_plots as plots
from probes.cases import Cases, build_sets, load_cases, position_cases
from probes.fit import probe_key
from probes.interventions import (
    METHODS,
    gradient_editor,
    intervene,
    latent_saliency,
    linear_editor,
    topn_errors,
)
from probes.store import ProbeMismatchError, load_probes
from probes.sweep import REPORTED, SweepConfig, edit_hooks, run_sweep, top_n

# Li et al. (2023), natural benchmark, MLP probe + gradient edit: mean top-N errors.
PUBLISHED = {"Li et al. edited": 0.12, "Li et al. unedited": 2.68}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--probes", required=True, help="probe directory from fit_probes.py")
    parser.add_argument("--games", required=True, help="games.h5 the cases are drawn from")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--method", default="all", choices=[*METHODS, "all"])
    parser.add_argument("--n-cases", type=int, default=1000, help="cases per reported set")
    parser.add_argument("--tune-cases", type=int, default=200)
    parser.add_argument("--set", help="cases file from make_intervention_set.py")
    parser.add_argument("--layers", help="start layers, comma-separated (default: all probed)")
    parser.add_argument("--scales", default=",".join(map(str, SweepConfig.scales)))
    parser.add_argument(
        "--single-layer", action="store_true", help="edit the start layer only, not later ones"
    )
    parser.add_argument("--gradient-probe", default="mlp", choices=("mlp", "linear"))
    parser.add_argument("--gradient-steps", type=int, default=SweepConfig.gradient_steps)
    parser.add_argument("--gradient-step-size", type=float, default=SweepConfig.gradient_step_size)
    parser.add_argument(
        "--gradient-confidence", type=float, default=SweepConfig.gradient_confidence
    )
    parser.add_argument("--gallery", type=int, default=6, help="cases drawn in the gallery")
    parser.add_argument("--saliency", type=int, default=3, help="positions given saliency maps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace):
    """Everything the run needs, checked: raises ValueError (and friends) before any write."""
    model_path = model_file(args.run)
    model_sha = file_sha256(model_path)
    probes, meta = load_probes(args.probes, model_sha256=model_sha)
    model = load_model(model_path)
    hooks = {resid_layer(h): h for h in meta["hooks"]}
    layers = sorted(hooks)
    if args.layers:
        wanted = [int(x) for x in args.layers.split(",") if x.strip()]
        for layer in wanted:
            if layer not in hooks:
                raise ValueError(
                    f"layer {layer} is out of range: {args.probes} has probes for layers "
                    f"{layers[0]}..{layers[-1]} of this {model.cfg.n_layers}-layer model"
                )
        layers = wanted
    methods = METHODS if args.method == "all" else (args.method,)
    linear, gradient = {}, {}
    for hook in hooks.values():
        for kind, store in (("linear", linear), (args.gradient_probe, gradient)):
            key = probe_key("mine_theirs", kind, hook)
            if key not in probes:
                raise ValueError(f"{args.probes} has no {key} probe; fit mine_theirs {kind} probes")
            store[hook] = probes[key]
    scales = tuple(float(x) for x in args.scales.split(","))
    if args.set:
        sets, _ = load_cases(args.set)
        if "natural" not in sets:
            raise ValueError(f"{args.set}: has no 'natural' set")
        sets = {kind: cases.take(slice(0, args.n_cases)) for kind, cases in sets.items()}
    else:
        sets = build_sets(args.games, args.n_cases, args.tune_cases, args.seed)
    if "linear" in methods and "tune" not in sets and len(scales) > 1:
        raise ValueError(
            f"{args.set} has no 'tune' set to choose the linear scale on: pass one --scales value"
        )
    cfg = SweepConfig(
        layers=layers,
        methods=methods,
        scales=scales,
        later_layers=not args.single_layer,
        gradient_steps=args.gradient_steps,
        gradient_step_size=args.gradient_step_size,
        gradient_confidence=args.gradient_confidence,
    )
    return model, model_sha, hooks, linear, gradient, sets, cfg


def relative_boards(cases: Cases) -> np.ndarray:
    """int8 [K, 64]: each case's board (0 empty, 1 mine, 2 theirs) at its position."""
    boards = replay(cases.moves, cases.length).board_relative()
    return boards[np.arange(len(cases)), cases.position]


def squares(bitboard: int) -> list[int]:
    return [s for s in range(64) if int(bitboard) >> s & 1]


def best_entry(metrics: dict, method: str) -> tuple[str, dict]:
    return min(metrics[method].items(), key=lambda item: item[1]["errors_vs_edited"])


def gallery_data(model, cases: Cases, hooks, edit, count: int) -> dict:
    cases = cases.take(slice(0, count))
    plain = intervene(model, cases, [], None)
    edited = intervene(model, cases, hooks, edit)
    boards = relative_boards(cases)
    errors_before = topn_errors(plain, cases.legal_before)
    errors_after = topn_errors(edited, cases.legal_after)
    items = []
    for k in range(len(cases)):
        before, after = squares(cases.legal_before[k]), squares(cases.legal_after[k])
        items.append(
            {
                "board": boards[k].tolist(),
                "square": int(cases.square[k]),
                "legal_before": before,
                "legal_after": after,
                "top_before": top_n(plain[k], len(before)),
                "top_after": top_n(edited[k], len(after)),
                "errors_before": int(errors_before[k]),
                "errors_after": int(errors_after[k]),
                "title": f"game {int(cases.game[k])}, after move {int(cases.position[k]) + 1}",
            }
        )
    return {"cases": items}


def saliency_data(model, cases: Cases, hooks, edit, count: int) -> dict:
    maps = []
    boards = relative_boards(cases.take(slice(0, count)))
    for k in range(min(count, len(cases))):
        flips = position_cases(cases.moves[k], int(cases.length[k]), int(cases.position[k]))
        item = latent_saliency(model, flips, hooks, edit)
        item["saliency"] = [None if np.isnan(v) else round(v, 5) for v in item["saliency"]]
        item.update(
            board=boards[k].tolist(),
            title=f"game {int(cases.game[k])}, after move {int(cases.position[k]) + 1}",
        )
        maps.append(item)
    return {"maps": maps}


def tables(metrics: dict, details: dict) -> str:
    lines = []
    for kind in REPORTED:
        null = details["null"].get(kind)
        if null is None:
            continue
        lines += [
            f"### {kind} cases ({null['cases']}): unedited model "
            f"{null['errors_vs_edited']:.2f} errors vs edited board, "
            f"{null['errors_vs_original']:.2f} vs original",
            "",
            "| method | start layer | setting | errors vs edited | errors vs original | F1 | "
            "exact |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, by_layer in metrics.items():
            for layer, entry in by_layer.items():
                row = entry if kind == "natural" else entry[kind]
                setting = (
                    f"scale {entry['scale']:g}"
                    if "scale" in entry
                    else f"p>={entry['confidence']:g}"
                )
                lines.append(
                    f"| {method} | {layer} | {setting} | {row['errors_vs_edited']:.2f} | "
                    f"{row['errors_vs_original']:.2f} | {row['f1_vs_edited']:.3f} | "
                    f"{100 * row['success_rate']:.1f}% |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    try:
        model, model_sha, hooks, linear, gradient, sets, cfg = prepare(args)
    except (ProbeMismatchError, CorpusError, ValueError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")
    metrics, details = run_sweep(
        model, sets, hooks, linear, gradient, cfg, progress=not args.no_progress
    )
    reported = [kind for kind in REPORTED if kind in sets]
    details["best"] = {}
    for method in metrics:
        layer, entry = best_entry(metrics, method)
        details["best"][method] = {
            "start_layer": layer,
            "errors_vs_edited": entry["errors_vs_edited"],
            "null_errors_vs_edited": entry["null_errors_vs_edited"],
            "ratio_to_null": entry["errors_vs_edited"] / max(entry["null_errors_vs_edited"], 1e-9),
        }
    details.update(
        config={**vars(args), "sweep": asdict(cfg)},
        model_sha256=model_sha,
        sets={kind: len(cases) for kind, cases in sets.items()},
        published=PUBLISHED,
    )

    show_method = "linear" if "linear" in metrics else next(iter(metrics))
    layer, entry = best_entry(metrics, show_method)
    show_hooks = edit_hooks(hooks, int(layer), cfg.later_layers)
    edit = (
        linear_editor(linear, entry["scale"])
        if show_method == "linear"
        else gradient_editor(
            gradient, cfg.gradient_steps, cfg.gradient_step_size, cfg.gradient_confidence
        )
    )
    label = f"{show_method} edit from layer {layer}"
    figures = {
        "errors_by_layer": {
            "layers": [str(x) for x in cfg.layers],
            "series": {
                f"{method}/{kind}": [
                    (e if kind == "natural" else e[kind])["errors_vs_edited"]
                    for e in by_layer.values()
                ]
                for method, by_layer in metrics.items()
                for kind in reported
            },
            "null": {kind: details["null"][kind]["errors_vs_edited"] for kind in reported},
            "published": PUBLISHED,
        },
        "gallery": {
            "edit": label,
            **gallery_data(model, sets["natural"], show_hooks, edit, args.gallery),
        },
        "saliency": {
            "edit": label,
            **saliency_data(model, sets["natural"], show_hooks, edit, args.saliency),
        },
    }
    if "linear" in metrics and details["tune_errors"]:
        figures["scale_sweep"] = {
            "scales": details["scales"],
            "series": {f"layer {k}": v for k, v in details["tune_errors"].items()},
            "null": details["null"]["tune"]["errors_vs_edited"],
        }
    details["seconds"] = round(time.perf_counter() - began, 2)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plots.errors_by_layer(figures["errors_by_layer"], out / "errors_by_layer.png")
    if args.gallery:
        plots.gallery(figures["gallery"], out / "gallery.png")
    if args.saliency:
        plots.saliency_maps(figures["saliency"], out / "saliency.png")
    if "scale_sweep" in figures:
        plots.scale_sweep(figures["scale_sweep"], out / "scale_sweep.png")
    write_text(out / "figures.json", json.dumps(figures) + "\n")
    write_text(out / "tables.md", tables(metrics, details))
    write_text(out / "details.json", json.dumps(details, indent=1, default=str) + "\n")
    write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    print(tables(metrics, details))
    for method, best in details["best"].items():
        print(
            f"{method:8s} best start layer {best['start_layer']}: "
            f"{best['errors_vs_edited']:.2f} errors vs edited board "
            f"(unedited {best['null_errors_vs_edited']:.2f}, ratio {best['ratio_to_null']:.2f})"
        )
    print(f"wrote {out}/metrics.json in {details['seconds']:.1f} s")


if __name__ == "__main__":
    main()
