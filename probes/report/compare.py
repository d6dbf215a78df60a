"""One report for models of different kinds trained on the same corpus (``make compare``): the
GPT, the LSTM and the Mamba side by side, each beside its random-init control.

It reads each run's finished report (``summary.json``, with every compared stage: the
registry's, :attr:`probes.stage_spec.Stage.compared`) and computes nothing new: each stage gives
its rows and by-layer series; every figure is one its stage measured on held-out games, with every
choice (probe layer, edit method and layer, accept threshold) made on validation or tuning data
by that stage. Torres's othello_mamba figures, the one published side-by-side of these kinds
on Othello, are quoted once (:data:`probes.published.TORRES_BOARD_ACCURACY`).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.files import COMPARE_JSON, COMPARE_MD, SUMMARY
from othello.common.machine import describe_machine
from othello.model.kinds import build_model, config_from_dict, not_run_notes
from othello.training.config import tokens_seen
from probes.drawing import save_figure
from probes.published import TORRES_BOARD_ACCURACY
from probes.report.summary import read_json
from probes.stages.registry import ordered

FIGURE = "probe_by_layer.png"
SIDES = ("model", "random_init")


def run_entry(report: Path) -> dict:
    """One run's figures for the comparison, read from its report folder: the run's own (its
    model, training, evaluation) and each compared stage's rows (:meth:`Stage.compare_rows`)."""
    summary = read_json(report / SUMMARY)
    missing = [s.name for s in ordered() if s.compared and s.summary_key not in summary]
    if missing:
        raise UserError(
            f"{report / SUMMARY}: no {', '.join(missing)} stage; run make {' '.join(missing)}"
        )
    try:
        return _entry(report, summary)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{report / SUMMARY}: not a finished report (missing {exc})") from exc


def _n_params(model_cfg) -> int:
    """The parameter count of ``model_cfg``'s model, built without memory (meta tensors)."""
    with torch.device("meta"):
        return build_model(model_cfg).n_params()


def _entry(report: Path, summary: dict) -> dict:
    cfg, train = summary["config"], summary["training"] or {}
    model_cfg = config_from_dict(cfg["model"])
    steps = train.get("steps")
    tokens = tokens_seen(cfg, steps) if steps else None
    seconds = train.get("seconds")
    rows = {
        "parameters": {"model": _n_params(model_cfg)},
        "training steps": {"model": steps},
        "tokens seen": {"model": tokens},
        "training seconds": {"model": round(seconds) if seconds else None},
        "top-1 legal (test games)": {"model": summary["eval"]["top1_legal_accuracy"]},
    }
    for spec in ordered():
        if spec.compared:
            rows.update(spec.compare_rows(summary[spec.summary_key]))
    parts = [summary[s.summary_key] for s in ordered() if s.summary_key in summary]
    return {
        "report": str(report),
        "kind": model_cfg.kind,
        "model": model_cfg.describe(),
        "top1_legal_games": summary["eval"].get("games"),
        "trainer_tokens_per_s": train.get("tokens_per_s"),
        "rows": rows,
        "parts": {s.name: summary[s.summary_key] for s in ordered() if s.compared},
        "series": {
            name: series
            for spec in ordered()
            if spec.compared
            for name, series in spec.compare_series(summary[spec.summary_key]).items()
        },
        "not_run": {
            part: why
            for p in parts
            if isinstance(p, dict)
            for part, why in p.get("not_run", {}).items()
        },
    }


def compare_runs(reports: list[Path]) -> dict:
    """compare.json: every run's entry, the published side-by-side and the notes."""
    if len(reports) < 2:
        raise UserError("compare needs at least two report folders")
    runs = [run_entry(Path(r)) for r in reports]
    notes = []
    for r in runs:
        notes += not_run_notes(r["kind"])
        notes += [f"{r['kind']}: {part} not run: {why}" for part, why in r["not_run"].items()]
    return {
        "runs": runs,
        "published": {
            "source": TORRES_BOARD_ACCURACY.source,
            "meaning": TORRES_BOARD_ACCURACY.meaning,
            "values": TORRES_BOARD_ACCURACY.values,
        },
        "notes": notes,
        "machine": describe_machine(),
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """compare.md: the side-by-side table (each kind beside its control), probe accuracy by
    layer, the published figures and the notes."""
    runs = result["runs"]
    head = " | ".join(f"{r['kind']} | {r['kind']} random-init" for r in runs)
    lines = ["# Beyond the transformer: the same tests on every kind of model", ""]
    lines += [f"- {r['kind']}: {r['model']} (`{r['report']}`)" for r in runs]
    lines += ["", f"| figure | {head} |", "|---|" + "---:|" * (2 * len(runs))]

    for name in runs[0]["rows"]:
        cells = " | ".join(
            f"{_fmt(r['rows'][name].get('model'))} | {_fmt(r['rows'][name].get('random_init'))}"
            for r in runs
        )
        lines.append(f"| {name} | {cells} |")
    for name in runs[0]["series"]:
        lines += ["", f"{name}, by residual layer:", ""]
        for r in runs:
            for side in SIDES:
                by_layer = r["series"][name].get(side) or {}
                cells = ", ".join(f"{k}: {100 * v:.1f}%" for k, v in by_layer.items())
                lines.append(f"- {r['kind']} {side.replace('_', '-')}: {cells or '-'}")
    for spec in ordered():
        lines += spec.compare_lines(stage_parts(runs, spec.name))
    pub = result["published"]
    lines += ["", f"Published, for reference ({pub['source']}; {pub['meaning']}):", ""]
    lines += [
        f"- {name}: {v['cell']}% per cell, {v['board']}% whole boards"
        for name, v in pub["values"].items()
    ]
    if result["notes"]:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in result["notes"]]
    machine = result["machine"]
    lines += ["", f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}"]
    lines += ["", f"![probes by layer]({FIGURE})", ""]
    lines += [f"![{caption}]({file})\n" for caption, file in result.get("figures", {}).items()]
    return "\n".join(lines)


def by_layer_figure(runs: list[dict], path: Path) -> None:
    """Every compared stage's by-layer series (the probes' per square and whole board), each
    kind (solid) beside its random-init control (dashed), one panel per series."""
    names = list(runs[0]["series"])
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for name, ax in zip(names, axes[0], strict=True):
        for r in runs:
            for side, style in (("model", "-"), ("random_init", "--")):
                table = r["series"][name].get(side)
                if table:
                    x = [int(k) for k in table]
                    label = r["kind"] + (" random-init" if side == "random_init" else "")
                    ax.plot(x, [100 * v for v in table.values()], style, marker=".", label=label)
        ax.set_xlabel("residual layer (0 = embeddings)")
        ax.set_ylabel(f"{name} (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Test games, by layer, for each kind of model", fontsize=9)
    save_figure(fig, path)


def stage_parts(runs: list[dict], name: str) -> dict[str, dict]:
    """Each run's part of stage ``name`` by its kind, when every run has one (else none)."""
    parts = {r["kind"]: r["parts"][name] for r in runs if name in r.get("parts", {})}
    return parts if len(parts) == len(runs) else {}


def write_comparison(reports: list[Path], out: Path) -> dict:
    """compare.json, compare.md and the figures in ``out``: the by-layer series and each
    compared stage's own across the runs."""
    result = compare_runs(reports)
    out.mkdir(parents=True, exist_ok=True)
    by_layer_figure(result["runs"], out / FIGURE)
    result["figures"] = {}
    for spec in ordered():
        if parts := stage_parts(result["runs"], spec.name):
            result["figures"].update(spec.compare_figures(parts, out))
    write_text(out / COMPARE_MD, markdown(result))
    write_text(out / COMPARE_JSON, json.dumps(result, indent=2) + "\n")
    return result
