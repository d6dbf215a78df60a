"""The intervention stage: check the inputs, run the sweep over every registered editor,
choose layers and methods on the tuning cases, and write metrics, details, tables and figures.

Outputs (under ``out``): ``metrics.json`` with the natural cases' scores at the top level,
``{method: {start_layer: {errors_vs_edited, errors_vs_original, f1_vs_edited, success_rate,
null_errors_vs_edited, null_errors_vs_original, setting, ...}}}``, and every set (natural,
unnatural, tune, and any other in a cases file) in the same shape under ``sets``;
``details.json`` (the unedited scores, the tuning sweep, the choices and what they were made
on); ``tables.md``; ``figures.json`` and the PNGs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from othello import settings as settings_lib
from othello.atomic import write_text
from othello.checkpoint import file_sha256, load_model, model_file
from othello.errors import UserError
from othello.labels import replay
from othello.model import GPT, resid_layer
from probes.fit import probe_key, resolve_device
from probes.interventions import plots
from probes.interventions.cases import Cases, build_sets, enough, load_cases, position_cases
from probes.interventions.editors import EDITORS, editor
from probes.interventions.edits import intervene, latent_saliency, topn_errors
from probes.interventions.sweep import TUNE, SweepConfig, choose, edit_hooks, run_sweep, top_n
from probes.report.published import LI_INTERVENTIONS
from probes.store import load_probes

DRAWN_CASES, DRAWN_TUNE_CASES = 1000, 200  # sizes drawn from a games file when none is asked


def load_settings(overrides: list[str]) -> tuple[SweepConfig, dict[str, object]]:
    """SweepConfig and every registered editor's settings from ``key=value`` words;
    ``METHOD.key=value`` goes to that editor's settings (``linear.scales=1,2``)."""
    plugins = {name: spec.settings for name, spec in EDITORS.items()}
    return settings_lib.apply_with_plugins(SweepConfig(), overrides, plugins)


@dataclass
class Inputs:
    """Everything the stage needs, loaded and checked before anything is written."""

    model: GPT
    model_sha256: str
    hooks: dict[int, str]  # residual-stream layer -> hook the probes read
    probes: dict[str, dict[str, nn.Module]]  # probe kind -> {hook: mine/theirs probe}
    sets: dict[str, Cases]
    warnings: list[str] = field(default_factory=list)


def case_sets(
    games: str | os.PathLike, set_path: str | os.PathLike | None, cfg: SweepConfig
) -> tuple[dict[str, Cases], list[str]]:
    """The case sets, of the sizes asked: from a cases file (``set_path``) or drawn from the
    games. A file without tuning cases gets them from the games' validation split."""
    if set_path is None:
        sets = build_sets(
            games,
            cfg.n_cases or DRAWN_CASES,
            cfg.tune_cases or DRAWN_TUNE_CASES,
            cfg.seed,
            cfg.allow_fewer,
        )
    else:
        stored, _ = load_cases(set_path)
        if "natural" not in stored:
            raise UserError(f"{set_path}: has no 'natural' set")
        more = "make a bigger set (make_intervention_set.py --n-cases)"
        sets = {}
        for kind, cases in stored.items():
            wanted = cfg.tune_cases if kind == TUNE else cfg.n_cases
            source = f"{set_path} [{kind}]"
            sets[kind] = enough(cases, wanted or len(cases), source, more, cfg.allow_fewer)
        if TUNE not in sets:
            n = cfg.tune_cases or DRAWN_TUNE_CASES
            sets.update(build_sets(games, 0, n, cfg.seed, cfg.allow_fewer, kinds=(TUNE,)))
    n_tune = len(sets[TUNE])
    if n_tune < cfg.min_tune_cases:
        raise UserError(
            f"only {n_tune} tuning cases: at least {cfg.min_tune_cases} are needed to choose "
            "settings, layers and methods (tune_cases=N, a bigger corpus)"
        )
    warnings = []
    if n_tune < cfg.advised_tune_cases:
        warnings.append(
            f"only {n_tune} tuning cases (advised >= {cfg.advised_tune_cases}): the chosen "
            "settings, layers and method are noisy"
        )
    return sets, warnings


def prepare(
    run: str | os.PathLike,
    probe_dir: str | os.PathLike,
    games: str | os.PathLike,
    set_path: str | os.PathLike | None,
    cfg: SweepConfig,
    editor_settings: dict[str, object],
) -> Inputs:
    """Load and check the model, probes and cases; raises ValueError (or FileNotFoundError)
    naming the file before anything is written."""
    path = model_file(run)
    model_sha = file_sha256(path)
    all_probes, meta = load_probes(probe_dir, model_sha256=model_sha)
    device = resolve_device(cfg.device)
    model = load_model(path, device)
    hooks = {resid_layer(h): h for h in meta["hooks"]}
    probed = sorted(hooks)
    for layer in cfg.layers or []:
        if layer not in hooks:
            raise UserError(
                f"layer {layer} is out of range: {probe_dir} has probes for layers "
                f"{probed[0]}..{probed[-1]} of this {model.cfg.n_layers}-layer model"
            )
    probes: dict[str, dict[str, nn.Module]] = {}
    for method in cfg.methods:
        kind = editor(method).probe_kind(editor_settings[method])
        for hook in hooks.values():
            key = probe_key("mine_theirs", kind, hook)
            if key not in all_probes:
                raise UserError(f"{probe_dir} has no {key} probe; fit mine_theirs {kind} probes")
            probes.setdefault(kind, {})[hook] = all_probes[key].to(device)
    sets, warnings = case_sets(games, set_path, cfg)
    return Inputs(model, model_sha, hooks, probes, sets, warnings)


def relative_boards(cases: Cases) -> np.ndarray:
    """int8 [K, 64]: each case's board (0 empty, 1 mine, 2 theirs) at its position."""
    boards = replay(cases.moves, cases.length).board_relative()
    return boards[np.arange(len(cases)), cases.position]


def squares(bitboard: int) -> list[int]:
    return [s for s in range(64) if int(bitboard) >> s & 1]


def gallery_data(model: GPT, cases: Cases, hooks: list[str], edit, count: int) -> dict:
    """Boards before and after the edit with both legal sets and the model's top-N."""
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


def saliency_data(model: GPT, cases: Cases, hooks: list[str], edit, count: int) -> dict:
    """Li et al.'s latent saliency maps for the first ``count`` cases' positions."""
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


def tables(scores: dict, null: dict, choice: dict) -> str:
    """tables.md: one table per case set, every method and start layer."""
    lines = []
    for kind, by_method in scores.items():
        lines += [
            f"### {kind} cases ({null[kind]['cases']}): unedited model "
            f"{null[kind]['errors_vs_edited']:.2f} errors vs edited board, "
            f"{null[kind]['errors_vs_original']:.2f} vs original",
            "",
            "| method | start layer | setting | errors vs edited | errors vs original | F1 | "
            "exact |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, by_layer in by_method.items():
            chosen = choice["by_method"][method]["start_layer"]
            for layer, row in by_layer.items():
                mark = " (chosen on tune)" if layer == chosen else ""
                lines.append(
                    f"| {method} | {layer}{mark} | {row['setting']} | "
                    f"{row['errors_vs_edited']:.2f} | {row['errors_vs_original']:.2f} | "
                    f"{row['f1_vs_edited']:.3f} | {100 * row['success_rate']:.1f}% |"
                )
        lines.append("")
    return "\n".join(lines)


def figures_data(inputs: Inputs, cfg: SweepConfig, editors, scores, null, tuning, choice):
    """The data of every figure; the gallery and saliency maps use the headline choice."""
    reported = [kind for kind in scores if kind != TUNE]
    layers = list(next(iter(scores[TUNE].values())))
    headline = choice["headline"]
    method, layer = headline["method"], int(headline["start_layer"])
    spec = editor(method)
    entry = scores[TUNE][method][str(layer)]
    chosen = {k: entry[k] for k in spec.candidates(editors[method])[0]}  # its setting
    edit = spec.build(inputs.probes[spec.probe_kind(editors[method])], chosen)
    hooks = edit_hooks(inputs.hooks, layer, cfg.later_layers)
    label = f"{method} edit from layer {layer} (chosen on the tuning cases)"
    published = LI_INTERVENTIONS.values["natural"]
    out = {
        "errors_by_layer": {
            "layers": layers,
            "series": {
                f"{m}/{kind}": [scores[kind][m][x]["errors_vs_edited"] for x in layers]
                for m in scores[TUNE]
                for kind in reported
            },
            "null": {kind: null[kind]["errors_vs_edited"] for kind in reported},
            "published": {
                "Li et al. edited (natural)": published["edited"],
                "Li et al. unedited (natural)": published["null"],
            },
        },
        "gallery": {
            "edit": label,
            **gallery_data(inputs.model, inputs.sets["natural"], hooks, edit, cfg.gallery),
        },
        "saliency": {
            "edit": label,
            **saliency_data(inputs.model, inputs.sets["natural"], hooks, edit, cfg.saliency),
        },
    }
    if tuning:
        out["tuning"] = {
            m: {
                "settings": list(next(iter(by_layer.values()))),
                "series": {f"layer {x}": list(v.values()) for x, v in by_layer.items()},
                "null": null[TUNE]["errors_vs_edited"],
            }
            for m, by_layer in tuning.items()
        }
    return out


def run_intervention_stage(
    inputs: Inputs,
    cfg: SweepConfig,
    editors: dict[str, object],
    out: str | os.PathLike,
    progress: bool = True,
) -> tuple[dict, dict]:
    """Run the sweep and write everything; returns (metrics, details)."""
    began = time.perf_counter()
    scores, null, tuning = run_sweep(
        inputs.model, inputs.sets, inputs.hooks, inputs.probes, cfg, editors, progress
    )
    choice = choose(scores, null)
    figures = figures_data(inputs, cfg, editors, scores, null, tuning, choice)
    details = {
        "null": null,
        "tuning": tuning,
        "choice": choice,
        "sets": {kind: len(cases) for kind, cases in inputs.sets.items()},
        "warnings": inputs.warnings,
        "config": {
            "sweep": asdict(cfg),
            "editors": {k: dataclasses.asdict(v) for k, v in editors.items() if k in cfg.methods},
        },
        "model_sha256": inputs.model_sha256,
        "published": {"source": LI_INTERVENTIONS.source, **LI_INTERVENTIONS.values},
        "seconds": round(time.perf_counter() - began, 2),
    }
    metrics = {**scores["natural"], "sets": scores}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots.errors_by_layer(figures["errors_by_layer"], out / "errors_by_layer.png")
    if cfg.gallery:
        plots.gallery(figures["gallery"], out / "gallery.png")
    if cfg.saliency:
        plots.saliency_maps(figures["saliency"], out / "saliency.png")
    if "tuning" in figures:
        plots.tuning_sweep(figures["tuning"], out / "tuning.png")
    write_text(out / "figures.json", json.dumps(figures) + "\n")
    write_text(out / "tables.md", tables(scores, null, choice))
    write_text(out / "details.json", json.dumps(details, indent=1, default=str) + "\n")
    write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")  # last: done
    return metrics, details


def summary_lines(details: dict) -> list[str]:
    """What the script prints: warnings, and each method at its start layer chosen on tune."""
    lines = [f"WARNING: {w}" for w in details["warnings"]]
    for method, c in details["choice"]["by_method"].items():
        n = c["natural"]
        lines.append(
            f"{method:8s} start layer {c['start_layer']} (chosen on tune): "
            f"{n['errors_vs_edited']:.2f} errors vs edited board on natural cases "
            f"(unedited {n['null_errors_vs_edited']:.2f}, ratio {n['ratio_to_null']:.2f})"
        )
    h = details["choice"]["headline"]
    lines.append(f"headline: {h['method']} from layer {h['start_layer']} (chosen on tune)")
    return lines
