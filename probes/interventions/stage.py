"""The intervention stage: check the inputs, run the sweep over every registered editor,
choose layers and methods on the tuning cases, and write metrics, details, tables and figures.

Outputs (under ``out``): ``metrics.json`` with the natural cases' scores at the top level,
``{method: {start_layer: {errors_vs_edited, errors_vs_original, f1_vs_edited, success_rate,
null_errors_vs_edited, null_errors_vs_original, setting, ...}}}``, and every set (natural,
unnatural, tune, and any other in a cases file) in the same shape under ``sets``;
``details.json`` (the unedited scores, the tuning sweep, the choices and what they were made
on); ``tables.md``; ``figures.json`` and the PNGs (:data:`probes.interventions.figures.FIGURES`).
:class:`InterventionResults` reads them back for the report and the explorer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from othello.common import settings as settings_lib
from othello.common.atomic import write_text
from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooked import HookedModel
from othello.model.hooks import hooks_by_layer
from probes.common import ProbeKey
from probes.interventions import figures as stage_figures
from probes.interventions.cases import Cases, build_sets, enough, load_cases
from probes.interventions.editors import EDITORS, chosen_candidate, editor
from probes.interventions.run import edit_hooks
from probes.interventions.sweep import TUNE, SweepConfig, choose, run_intervention_sweep
from probes.published import LI_INTERVENTIONS
from probes.stage_sizes import DEFAULTS
from probes.store import by_hook, load_probes

# sizes drawn from a games file when none is asked: the default preset's
DRAWN_CASES, DRAWN_TUNE_CASES = DEFAULTS.n_cases, DEFAULTS.tune_cases
METRICS, DETAILS, TABLES = "metrics.json", "details.json", "tables.md"


def sweep_settings(overrides: list[str]) -> tuple[SweepConfig, dict[str, object]]:
    """SweepConfig and every registered editor's settings from ``key=value`` words;
    ``METHOD.key=value`` goes to that editor's settings (``linear.scales=1,2``)."""
    plugins = {name: spec.settings for name, spec in EDITORS.items()}
    return settings_lib.apply_with_plugins(SweepConfig(), overrides, plugins)


@dataclass
class Inputs:
    """Everything the stage needs, loaded and checked before anything is written."""

    model: HookedModel
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
        n, n_tune = cfg.n_cases or DRAWN_CASES, cfg.tune_cases or DRAWN_TUNE_CASES
        sets = build_sets(games, n, n_tune, cfg.seed, cfg.allow_fewer)
    else:
        stored, _ = load_cases(set_path)
        if "natural" not in stored:
            raise UserError(f"{set_path}: has no 'natural' set")
        more = "make a bigger set (make_intervention_set.py --n-cases)"
        sets = {}
        for name, cases in stored.items():
            wanted = cfg.tune_cases if name == TUNE else cfg.n_cases
            source = f"{set_path} [{name}]"
            sets[name] = enough(cases, wanted or len(cases), source, more, cfg.allow_fewer)
        if TUNE not in sets:
            n = cfg.tune_cases or DRAWN_TUNE_CASES
            sets.update(build_sets(games, 0, n, cfg.seed, cfg.allow_fewer, names=(TUNE,)))
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
    """Load and check the model, probes and cases; raises a UserError (or FileNotFoundError)
    naming the file before anything is written."""
    path = model_file(run)
    model_sha = file_sha256(path)
    all_probes, meta = load_probes(probe_dir, model_sha256=model_sha)
    device = pick_device(cfg.device)
    model = load_model_file(path, device)
    hooks = hooks_by_layer(meta["hooks"])
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
        found = by_hook(all_probes, ProbeKey("mine_theirs", kind), list(hooks.values()), probe_dir)
        probes[kind] = {h: p.to(device) for h, p in found.items()}
    sets, warnings = case_sets(games, set_path, cfg)
    return Inputs(model, model_sha, hooks, probes, sets, warnings)


def tables(scores: dict, null: dict, choice: dict) -> str:
    """tables.md: one table per case set, every method and start layer."""
    lines = []
    for name, by_method in scores.items():
        lines += [
            f"### {name} cases ({null[name]['cases']}): unedited model "
            f"{null[name]['errors_vs_edited']:.2f} errors vs edited board, "
            f"{null[name]['errors_vs_original']:.2f} vs original",
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
    method, layer = choice["headline"]["method"], int(choice["headline"]["start_layer"])
    spec = editor(method)
    chosen = chosen_candidate(spec, editors[method], scores[TUNE][method][str(layer)])
    edit = spec.build(inputs.probes[spec.probe_kind(editors[method])], chosen)
    hooks = edit_hooks(inputs.hooks, layer, cfg.later_layers)
    label = f"{method} edit from layer {layer} (chosen on the tuning cases)"
    natural = inputs.sets["natural"]
    out = {
        "errors_by_layer": stage_figures.errors_by_layer_data(scores, null),
        "gallery": {
            "edit": label,
            **stage_figures.gallery_data(inputs.model, natural, hooks, edit, cfg.gallery),
        },
        "saliency": {
            "edit": label,
            **stage_figures.saliency_data(inputs.model, natural, hooks, edit, cfg.saliency),
        },
    }
    if tuning:
        out["tuning"] = stage_figures.tuning_data(tuning, null)
    return out


def drawn(figures: dict, cfg: SweepConfig) -> dict[str, str]:
    """``{figure: file}`` of the figures this run draws (none for an empty gallery)."""
    skipped = {"gallery": cfg.gallery == 0, "saliency": cfg.saliency == 0}
    return {
        name: file
        for name, (file, _) in stage_figures.FIGURES.items()
        if name in figures and not skipped.get(name, False)
    }


def run_intervention_stage(
    inputs: Inputs,
    cfg: SweepConfig,
    editors: dict[str, object],
    out: str | os.PathLike,
    progress: bool = True,
) -> InterventionResults:
    """Run the sweep and write everything; returns the results, read back."""
    began = time.perf_counter()
    scores, null, tuning, steps = run_intervention_sweep(
        inputs.model, inputs.sets, inputs.hooks, inputs.probes, cfg, editors, progress
    )
    choice = choose(scores, null)
    figures = figures_data(inputs, cfg, editors, scores, null, tuning, choice)
    details = {
        "null": null,
        "tuning": tuning,
        "choice": choice,
        "sets": {name: len(cases) for name, cases in inputs.sets.items()},
        "warnings": inputs.warnings,
        "config": {
            "sweep": asdict(cfg),
            "editors": {k: dataclasses.asdict(v) for k, v in editors.items() if k in cfg.methods},
        },
        "model_sha256": inputs.model_sha256,
        "published": {"source": LI_INTERVENTIONS.source, **LI_INTERVENTIONS.values},
        "figures": drawn(figures, cfg),
        "steps_per_edit": steps,  # the gradient edit's optimiser steps, per case and layer
        "seconds": round(time.perf_counter() - began, 2),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, file in details["figures"].items():
        stage_figures.FIGURES[name][1](figures[name], out / file)
    write_text(out / stage_figures.FIGURES_JSON, json.dumps(figures) + "\n")
    write_text(out / TABLES, tables(scores, null, choice))
    write_text(out / DETAILS, json.dumps(details, indent=1, default=str) + "\n")
    metrics = {**scores["natural"], "sets": scores}
    write_text(out / METRICS, json.dumps(metrics, indent=1) + "\n")  # last: the stage is done
    return InterventionResults.load(out)


def summary_lines(results: InterventionResults) -> list[str]:
    """What the script prints: warnings, and each method at its start layer chosen on tune."""
    lines = [f"WARNING: {w}" for w in results.warnings]
    for method, c in results.choice["by_method"].items():
        n = c["natural"]
        lines.append(
            f"{method:8s} start layer {c['start_layer']} (chosen on tune): "
            f"{n['errors_vs_edited']:.2f} errors vs edited board on natural cases "
            f"(unedited {n['null_errors_vs_edited']:.2f}, ratio {n['ratio_to_null']:.2f})"
        )
    h = results.headline
    lines.append(f"headline: {h['method']} from layer {h['start_layer']} (chosen on tune)")
    return lines


@dataclass(frozen=True)
class InterventionResults:
    """The stage's metrics.json and details.json, read back: what the report and the explorer
    take from them, so no other module spells their key paths."""

    folder: Path
    scores: dict  # {set: {method: {start_layer: entry}}}
    null: dict  # {set: the unedited model's scores}
    choice: dict  # {"by_method": {...}, "headline": {...}}
    sizes: dict[str, int]
    warnings: list[str]
    figures: dict[str, str]  # figure name -> file drawn in folder
    seconds: float

    @classmethod
    def load(cls, folder: str | os.PathLike) -> InterventionResults:
        folder = Path(folder)
        found = []
        for name in (METRICS, DETAILS):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder / name}: missing; run scripts/intervene.py")
            found.append(json.loads((folder / name).read_text()))
        metrics, details = found
        return cls(
            folder, metrics["sets"], details["null"], details["choice"], details["sets"],
            details["warnings"], details.get("figures", {}), details.get("seconds", 0.0),
        )  # fmt: skip

    @property
    def headline(self) -> dict:
        """The headline method and its start layer, chosen on the tuning cases."""
        return self.choice["headline"]

    def gap_closed(self, case_set: str = "natural") -> float | None:
        """The headline edit's share of the gap closed on ``case_set`` (natural test cases)."""
        return self.choice["by_method"][self.headline["method"]].get(case_set, {}).get("gap_closed")

    def start_layer(self, method: str) -> int:
        return int(self.choice["by_method"][method]["start_layer"])

    def setting(self, method: str, settings: object | None = None) -> dict:
        """The candidate setting ``method`` used at its chosen start layer (on the tuning
        cases; ``settings``: the editor's, defaults when None)."""
        spec = editor(method)
        entry = self.scores[TUNE][method][str(self.start_layer(method))]
        return chosen_candidate(spec, settings or spec.settings(), entry)
