"""One report for models of different kinds trained on the same corpus (``make compare``): the
GPT, the LSTM and the Mamba side by side, each beside its random-init control.

It reads each run's finished report (``summary.json``, with its world-model stage) and
computes nothing new: every figure is one its stage measured on held-out games, with every
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
from othello.common.machine import describe_machine
from othello.model.kinds import build_model, config_from_dict, not_run_notes
from probes.drawing import save_figure
from probes.published import TORRES_BOARD_ACCURACY
from probes.report.summary import read_json
from probes.worldmodel.states import STATE_DEFINITIONS

SUMMARY, COMPARE_JSON, COMPARE_MD = "summary.json", "compare.json", "compare.md"
FIGURE = "probe_by_layer.png"
SIDES = ("model", "random_init")
NERODE = ("compression_precision", "distinction_precision", "distinction_recall")


def _verdict(world: dict, figure: str) -> float | None:
    """The trained model's figure in the world-model stage's verdict table."""
    row = next((r for r in world.get("verdict", []) if r["figure"] == figure), {})
    return row.get("model")


def _by_layer(table: dict | None) -> dict | None:
    if table is None:
        return None
    return {layer: v["mean"] if isinstance(v, dict) else v for layer, v in table.items()}


def run_entry(report: Path) -> dict:
    """One run's figures for the comparison, read from its report folder."""
    summary = read_json(report / SUMMARY)
    if summary.get("world_model") is None:
        raise UserError(f"{report / SUMMARY}: no world-model stage; run make worldmodel first")
    try:
        return _entry(report, summary)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{report / SUMMARY}: not a finished report (missing {exc})") from exc


def _n_params(model_cfg) -> int:
    """The parameter count of ``model_cfg``'s model, built without memory (meta tensors)."""
    with torch.device("meta"):
        return build_model(model_cfg).n_params()


def _entry(report: Path, summary: dict) -> dict:
    world = summary["world_model"]
    cfg, train = summary["config"], summary["training"] or {}
    model_cfg = config_from_dict(cfg["model"])
    probes = summary["probes"]
    interventions = summary["interventions"]
    steps = train.get("steps")
    tokens = steps * cfg["batch_size"] * model_cfg.n_ctx if steps and "batch_size" in cfg else None
    inductive = world.get("inductive_bias", {})
    return {
        "report": str(report),
        "kind": model_cfg.kind,
        "model": model_cfg.describe(),
        "parameters": _n_params(model_cfg),
        "training_steps": steps,
        "tokens_seen": tokens,
        "training_seconds": train.get("seconds"),
        "trainer_tokens_per_s": train.get("tokens_per_s"),
        "top1_legal": {**world["top1_legal"], "model": summary["eval"]["top1_legal_accuracy"]},
        "top1_legal_games": summary["eval"].get("games"),
        "probe_by_layer": {
            "model": probes["accuracy"]["mine_theirs"]["linear"],
            "random_init": probes["control"]["mine_theirs"]["linear"],
        },
        "whole_board_by_layer": {
            "model": _by_layer((probes["whole_board"] or {}).get("mine_theirs", {}).get("linear")),
            "random_init": _by_layer(
                (probes["control_whole_board"] or {}).get("mine_theirs", {}).get("linear")
            ),
        },
        "probe_best": {
            "model": probes["best"].get("mine_theirs/linear"),
            "random_init": probes["control_best"].get("mine_theirs/linear"),
        },
        "edit": {
            "gap_closed": _verdict(world, "edit: share of the gap closed"),
            "choice": interventions["choice"],
        },
        "nerode": {
            key: {"model": world[key]["mean"], **_control_nerode(world, key)} for key in NERODE
        },
        "inductive_bias": {
            key: {side: (inductive.get(side, {}).get(key) or {}).get("mean") for side in SIDES}
            for key in ("r_ib", "d_ib")
        },
        "not_run": world.get("not_run", {}),
    }


def _control_nerode(world: dict, key: str) -> dict:
    """The random-init control's figure under the true state (the model's own is that one)."""
    control = world.get("controls", {}).get("random_init", {}).get("state", {})
    true_state = control.get(STATE_DEFINITIONS[0], {})
    return {"random_init": (true_state.get(key) or {}).get("mean")}


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


def figures(r: dict, side: str) -> dict:
    """The table's rows for one run and side (the model or its random-init control; None where
    a figure is the trained model's only)."""
    own = side == "model"
    best = r["probe_best"][side] or {}
    out = {
        "parameters": r["parameters"] if own else None,
        "training steps": r["training_steps"] if own else None,
        "tokens seen": r["tokens_seen"] if own else None,
        "training seconds": round(r["training_seconds"]) if own and r["training_seconds"] else None,
        "top-1 legal (test games)": r["top1_legal"].get(side),
        "probe per square, mine/theirs linear (layer on val)": best.get("accuracy"),
        "probe whole board, same layer": best.get("whole_board"),
        "edit: share of the gap closed": r["edit"]["gap_closed"] if own else None,
    }
    for key in NERODE:
        out[key.replace("_", " ") + " (true state, sampled)"] = r["nerode"][key][side]
    out["inductive bias R-IB"] = r["inductive_bias"]["r_ib"][side]
    out["inductive bias D-IB"] = r["inductive_bias"]["d_ib"][side]
    return out


def markdown(result: dict) -> str:
    """compare.md: the side-by-side table (each kind beside its control), probe accuracy by
    layer, the published figures and the notes."""
    runs = result["runs"]
    head = " | ".join(f"{r['kind']} | {r['kind']} random-init" for r in runs)
    lines = ["# Beyond the transformer: the same tests on every kind of model", ""]
    lines += [f"- {r['kind']}: {r['model']} (`{r['report']}`)" for r in runs]
    lines += ["", f"| figure | {head} |", "|---|" + "---:|" * (2 * len(runs))]

    table = [{side: figures(r, side) for side in SIDES} for r in runs]
    for name in table[0]["model"]:
        cells = " | ".join(
            f"{_fmt(t['model'][name])} | {_fmt(t['random_init'][name])}" for t in table
        )
        lines.append(f"| {name} | {cells} |")
    lines += ["", "Probe per square (mine/theirs, linear, test games) by residual layer:", ""]
    for r in runs:
        for side in SIDES:
            by_layer = r["probe_by_layer"][side]
            cells = ", ".join(f"{k}: {100 * v:.1f}%" for k, v in by_layer.items())
            lines.append(f"- {r['kind']} {side.replace('_', '-')}: {cells}")
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
    return "\n".join(lines)


def probe_by_layer(runs: list[dict], path: Path) -> None:
    """Probe accuracy per square and whole board by residual layer, each kind (solid) beside
    its random-init control (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, ax, label in (
        ("probe_by_layer", axes[0], "per square (%)"),
        ("whole_board_by_layer", axes[1], "whole board (%)"),
    ):
        for r in runs:
            for side, style in (("model", "-"), ("random_init", "--")):
                table = r[key][side]
                if table:
                    x = [int(k) for k in table]
                    name = r["kind"] + (" random-init" if side == "random_init" else "")
                    ax.plot(x, [100 * v for v in table.values()], style, marker=".", label=name)
        ax.set_xlabel("residual layer (0 = embeddings)")
        ax.set_ylabel(f"mine/theirs linear probe, {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Probes on test games, by layer, for each kind of model", fontsize=9)
    save_figure(fig, path)


def write_comparison(reports: list[Path], out: Path) -> dict:
    """compare.json, compare.md and the by-layer figure in ``out``."""
    result = compare_runs(reports)
    out.mkdir(parents=True, exist_ok=True)
    probe_by_layer(result["runs"], out / FIGURE)
    write_text(out / COMPARE_MD, markdown(result))
    write_text(out / COMPARE_JSON, json.dumps(result, indent=2) + "\n")
    return result
