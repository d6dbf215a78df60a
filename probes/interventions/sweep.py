"""The intervention benchmark: every registered editor at every start layer, scored on every
case set, and the choices made on the tuning set alone.

An editor with several candidate settings (the linear edit's scale) is tuned per start layer
on the ``tune`` cases (validation games); the chosen setting is then scored unchanged on every
set. Each method's start layer, and the headline method, are chosen on the ``tune`` scores
too, so no reported figure (natural, unnatural) is fitted to the cases it is reported on.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from tqdm import tqdm

from othello.device import DEVICES
from othello.errors import UserError
from othello.model import GPT, resid_layer
from probes.interventions.cases import Cases
from probes.interventions.editors import EditorSpec, editor
from probes.interventions.run import edit_hooks, intervene, readout_effect
from probes.interventions.scoring import gap_closed, score

TUNE = "tune"  # the set settings, layers and methods are chosen on
NATURAL = "natural"  # the headline reported set


@dataclass
class SweepConfig:
    """What the intervention stage runs. Editor settings live in each editor's own dataclass
    (``linear.scales=...``, ``gradient.steps=...``; see probes/interventions/editors.py)."""

    layers: list[int] | None = None  # start layers (0 = embeddings); None: every probed layer
    methods: tuple[str, ...] = ("linear", "gradient")  # registered editors to run
    later_layers: bool = True  # edit the start layer and every later one (Li et al.)
    n_cases: int | None = None  # cases per reported set (None: a set file's all, else 1000)
    tune_cases: int | None = None  # tuning cases (None: a set file's all, else 200)
    min_tune_cases: int = 20  # fewer cannot choose anything: refused
    advised_tune_cases: int = 100  # fewer: choices are noisy, reported as a warning
    allow_fewer: bool = False  # take fewer cases than asked when a source holds fewer
    gallery: int = 6  # cases drawn before and after the headline edit
    saliency: int = 3  # positions given latent saliency maps
    seed: int = 0
    device: str = "auto"  # where the model and probes run: auto (a GPU if any), cpu, cuda

    def __post_init__(self) -> None:
        for method in self.methods:
            editor(method)  # fail early on a typo
        if self.device not in DEVICES:
            raise UserError(f"device must be one of {DEVICES}, got {self.device!r}")


def tune(model: GPT, tune_cases: Cases, hooks: list[str], spec: EditorSpec, probes, candidates):
    """Score every candidate setting on the tuning cases; return the best candidate, its
    scores (None when there was nothing to choose) and ``{setting: tune errors}``."""
    if len(candidates) == 1:
        return candidates[0], None, {}
    tried = [
        score(intervene(model, tune_cases, hooks, spec.build(probes, c)), tune_cases)
        for c in candidates
    ]
    best = min(range(len(tried)), key=lambda i: tried[i]["errors_vs_edited"])
    curve = {
        spec.describe(c): t["errors_vs_edited"] for c, t in zip(candidates, tried, strict=True)
    }
    return candidates[best], tried[best], curve


def run_intervention_sweep(
    model: GPT,
    sets: dict[str, Cases],
    hooks: dict[int, str],
    probes: dict[str, dict[str, nn.Module]],
    cfg: SweepConfig,
    editor_settings: dict[str, object],
    progress: bool = True,
) -> tuple[dict, dict, dict]:
    """Score every method and start layer on every set.

    ``probes`` maps a probe kind to ``{hook: mine/theirs probe}``. Returns ``scores``
    ``{set: {method: {start_layer: entry}}}`` (each entry: the scores, the unedited model's on
    the same cases, the chosen setting and the edited layers), ``null`` ``{set: scores of the
    unedited model}`` and ``tuning`` ``{method: {start_layer: {setting: tune errors}}}`` for
    editors with more than one candidate setting.
    """
    for needed in (TUNE, NATURAL):
        if needed not in sets:
            raise UserError(f"the sweep needs a {needed!r} case set")
    model.eval()
    null = {name: score(intervene(model, cases, [], None), cases) for name, cases in sets.items()}
    layers = cfg.layers if cfg.layers is not None else sorted(hooks)
    scores: dict = {name: {method: {} for method in cfg.methods} for name in sets}
    tuning: dict = {}
    bar = tqdm(total=len(cfg.methods) * len(layers), desc="interventions", disable=not progress)
    for method in cfg.methods:
        spec, settings = editor(method), editor_settings[method]
        kind_probes = probes[spec.probe_kind(settings)]
        for layer in layers:
            edited = edit_hooks(hooks, layer, cfg.later_layers)
            chosen, tuned, curve = tune(
                model, sets[TUNE], edited, spec, kind_probes, spec.candidates(settings)
            )
            if curve:
                tuning.setdefault(method, {})[str(layer)] = curve
            edit = spec.build(kind_probes, chosen)
            effect = readout_effect(model, sets[NATURAL], edited[0], edit, kind_probes[edited[0]])
            for set_name, cases in sets.items():
                reuse = set_name == TUNE and tuned is not None
                result = tuned if reuse else score(intervene(model, cases, edited, edit), cases)
                scores[set_name][method][str(layer)] = {
                    **result,
                    "null_errors_vs_edited": null[set_name]["errors_vs_edited"],
                    "null_errors_vs_original": null[set_name]["errors_vs_original"],
                    **chosen,
                    "setting": spec.describe(chosen),
                    **(effect if set_name == NATURAL else {}),
                    "edit_layers": [resid_layer(h) for h in edited],
                    "edit_hooks": edited,
                }
            bar.update()
    bar.close()
    return scores, null, tuning


def choose(scores: dict, null: dict) -> dict:
    """Each method's start layer, and the headline method, chosen on the tuning set; with the
    figures of every other set at those choices."""
    by_method = {}
    for method, by_layer in scores[TUNE].items():
        layer = min(by_layer, key=lambda k: (by_layer[k]["errors_vs_edited"], int(k)))
        entry = {"start_layer": layer, "chosen_on": TUNE}
        for set_name in scores:
            e = scores[set_name][method][layer]
            floor = null[set_name]["errors_vs_original"]
            entry[set_name] = {
                "errors_vs_edited": e["errors_vs_edited"],
                "null_errors_vs_edited": e["null_errors_vs_edited"],
                "ratio_to_null": e["errors_vs_edited"] / max(e["null_errors_vs_edited"], 1e-9),
                "floor": floor,
                "gap_closed": gap_closed(e["errors_vs_edited"], e["null_errors_vs_edited"], floor),
                "setting": e["setting"],
            }
        by_method[method] = entry
    headline = min(by_method, key=lambda m: by_method[m][TUNE]["errors_vs_edited"])
    return {
        "by_method": by_method,
        "headline": {
            "method": headline,
            "start_layer": by_method[headline]["start_layer"],
            "chosen_on": TUNE,
        },
    }
