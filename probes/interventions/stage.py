"""The intervention stage's work: check the inputs, run the sweep over every registered editor
and choose layers and methods on the tuning cases; the result
(:class:`probes.interventions.results.InterventionResult`) writes the folder."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from torch import nn

from othello.common import settings as settings_lib
from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from othello.model.hooks import hooks_by_layer
from probes.common import ProbeKey
from probes.interventions import figures as stage_figures
from probes.interventions.cases import Cases, build_sets, enough, load_cases
from probes.interventions.editors import EDITORS, chosen_candidate, editor
from probes.interventions.results import InterventionResult
from probes.interventions.run import edit_hooks, intervene
from probes.interventions.scoring import topn_errors
from probes.interventions.sweep import TUNE, SweepConfig, choose, run_intervention_sweep
from probes.published import LI_INTERVENTIONS
from probes.store import by_hook

# cases drawn from a games file when no number is asked: the default preset's sizes
DRAWN_CASES, DRAWN_TUNE_CASES = 1000, 200


def sweep_settings(overrides: list[str]) -> tuple[SweepConfig, dict[str, object]]:
    """SweepConfig and every registered editor's settings from ``key=value`` words;
    ``METHOD.key=value`` goes to that editor's settings (``linear.scales=1,2``)."""
    plugins = {name: spec.settings for name, spec in EDITORS.items()}
    return settings_lib.apply_with_plugins(SweepConfig(), overrides, plugins)


@dataclass
class InterventionInputs:
    """Everything the sweep needs, loaded and checked before anything is written."""

    model: HookedModel
    model_sha256: str | None
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


def check_inputs(
    model: HookedModel,
    model_sha256: str | None,
    fitted: tuple[dict, dict],
    games: str | os.PathLike,
    set_path: str | os.PathLike | None,
    cfg: SweepConfig,
    editor_settings: dict[str, object],
    where: str = "the probes",
) -> InterventionInputs:
    """Check the probes (``fitted``: the probes and what probes.pt records beside them) and
    the layers, and load the cases; raises a UserError naming the file before anything is
    written."""
    all_probes, meta = fitted
    hooks = hooks_by_layer(meta["hooks"])
    probed = sorted(hooks)
    for layer in cfg.layers or []:
        if layer not in hooks:
            raise UserError(
                f"layer {layer} is out of range: {where} has probes for layers "
                f"{probed[0]}..{probed[-1]} of this {model.cfg.n_layers}-layer model"
            )
    device = next(model.parameters()).device
    probes: dict[str, dict[str, nn.Module]] = {}
    for method in cfg.methods:
        kind = editor(method).probe_kind(editor_settings[method])
        found = by_hook(all_probes, ProbeKey("mine_theirs", kind), list(hooks.values()), where)
        probes[kind] = {h: p.to(device) for h, p in found.items()}
    sets, warnings = case_sets(games, set_path, cfg)
    return InterventionInputs(model, model_sha256, hooks, probes, sets, warnings)


def figures_data(inputs: InterventionInputs, cfg: SweepConfig, scores, null, tuning, headline):
    """The data of every figure; the gallery and saliency maps use the headline edit
    (:func:`headline_edit`)."""
    hooks, edit, label = headline
    natural = inputs.sets["natural"]
    out = {"errors_by_layer": stage_figures.errors_by_layer_data(scores, null)}
    if cfg.gallery:
        gallery = stage_figures.gallery_data(inputs.model, natural, hooks, edit, cfg.gallery)
        out["gallery"] = {"edit": label, **gallery}
    if cfg.saliency:
        saliency = stage_figures.saliency_data(inputs.model, natural, hooks, edit, cfg.saliency)
        out["saliency"] = {"edit": label, **saliency}
    if tuning:
        out["tuning"] = stage_figures.tuning_data(tuning, null)
    return out


def headline_edit(inputs: InterventionInputs, cfg: SweepConfig, editors, scores, choice):
    """The headline edit as chosen on the tuning cases: its hooks, the edit and its label."""
    method, layer = choice["headline"]["method"], int(choice["headline"]["start_layer"])
    spec = editor(method)
    chosen = chosen_candidate(spec, editors[method], scores[TUNE][method][str(layer)])
    edit = spec.build(inputs.probes[spec.probe_kind(editors[method])], chosen)
    hooks = edit_hooks(inputs.hooks, layer, cfg.later_layers)
    return hooks, edit, f"{method} edit from layer {layer} (chosen on the tuning cases)"


def case_errors(inputs: InterventionInputs, hooks: list[str], edit) -> dict[str, np.ndarray]:
    """Each natural case's top-N errors under the headline edit and without it, against the
    edited board's legal moves, and without it against the real board's (the floor): the
    share of the gap closed is ``sum(null - edited) / sum(null - floor)``, so these are its
    units for a standard error or a resample."""
    cases = inputs.sets["natural"]
    plain = intervene(inputs.model, cases, [], None)
    edited = intervene(inputs.model, cases, hooks, edit)
    return {
        "edited": topn_errors(edited, cases.legal_after),
        "null": topn_errors(plain, cases.legal_after),
        "floor": topn_errors(plain, cases.legal_before),
    }


def drawn(figures: dict) -> dict[str, str]:
    """``{figure: file}`` of the figures this run draws (no gallery or saliency maps when
    none was asked)."""
    return {name: file for name, (file, _) in stage_figures.FIGURES.items() if name in figures}


def measure_interventions(
    inputs: InterventionInputs,
    cfg: SweepConfig,
    editors: dict[str, object],
    progress: bool = True,
) -> InterventionResult:
    """Run the sweep and make the choices; nothing is written."""
    began = time.perf_counter()
    scores, null, tuning, steps = run_intervention_sweep(
        inputs.model, inputs.sets, inputs.hooks, inputs.probes, cfg, editors, progress
    )
    choice = choose(scores, null)
    headline = headline_edit(inputs, cfg, editors, scores, choice)
    figures = figures_data(inputs, cfg, scores, null, tuning, headline)
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
        "figures": drawn(figures),
        "steps_per_edit": steps,  # the gradient edit's optimiser steps, per case and layer
        "seconds": round(time.perf_counter() - began, 2),
    }
    return InterventionResult(
        scores, null, choice, details["sets"], inputs.warnings, details["figures"],
        details["seconds"], details=details, figure_data=figures,
        case_errors=case_errors(inputs, *headline[:2]),
    )  # fmt: skip
