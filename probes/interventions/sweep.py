"""The intervention benchmark: every registered editor at every start layer, scored on every
case set, and the choices made on the tuning set alone.

An editor with several candidate settings (the linear edit's scale) is tuned per start layer
on the ``tune`` cases (validation games); the chosen setting is then scored unchanged on every
set. Each method's start layer, and the headline method, are chosen on the ``tune`` scores
too, so no reported figure (natural, unnatural) is fitted to the cases it is reported on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from othello.common.device import DEVICES
from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from probes.interventions.cases import Cases
from probes.interventions.editors import editor
from probes.interventions.resume import clean_run, resume
from probes.interventions.run import readout_counts, readout_shares
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
    # cases per reported set and tuning cases (None: a set file's all, else the default
    # preset's, the interventions stage's presets)
    n_cases: int | None = None
    tune_cases: int | None = None
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


def run_intervention_sweep(
    model: HookedModel,
    sets: dict[str, Cases],
    hooks: dict[int, str],
    probes: dict[str, dict[str, nn.Module]],
    cfg: SweepConfig,
    editor_settings: dict[str, object],
    progress: bool = True,
) -> tuple[dict, dict, dict, dict]:
    """Score every method and start layer on every set.

    ``probes`` maps a probe kind to ``{hook: mine/theirs probe}``. Settings are tuned on the
    ``tune`` set first; every other set is then scored at the chosen settings. Returns
    ``scores`` ``{set: {method: {start_layer: entry}}}`` (each entry: the scores, the unedited
    model's on the same cases, the chosen setting and the edited layers), ``null`` ``{set:
    scores of the unedited model}`` and ``tuning`` ``{method: {start_layer: {setting: tune
    errors}}}`` for editors with more than one candidate setting, and ``{method: mean
    optimiser steps per edit}`` for editors that count them (the gradient edit).
    """
    for needed in (TUNE, NATURAL):
        if needed not in sets:
            raise UserError(f"the sweep needs a {needed!r} case set")
    model.eval()
    plan = SweepPlan(model, hooks, probes, cfg, editor_settings)
    order = [TUNE, *(name for name in sets if name != TUNE)]
    bar = tqdm(total=sum(len(sets[name]) for name in order), unit="case", desc="interventions",
               disable=not progress)  # fmt: skip
    null, scores, tuning = {}, {name: {} for name in order}, {}
    for name in order:
        edited = plan.edited_logits(sets[name], name == NATURAL, bar)
        null[name] = score(edited.pop(NULL), sets[name])
        if name == TUNE:
            tuning = plan.choose_settings(edited, sets[TUNE])
        for method, layer in plan.runs():
            scores[name].setdefault(method, {})[str(layer)] = plan.entry(
                method, layer, score(edited[method, layer, plan.chosen[method, layer]],
                                     sets[name]), null[name], name == NATURAL,
            )  # fmt: skip
    bar.close()
    scores = {name: scores[name] for name in sets}
    return scores, {name: null[name] for name in sets}, tuning, plan.steps_per_edit()


NULL = "null"  # the unedited logits, beside the edited ones


class SweepPlan:
    """Every (method, start layer, candidate setting) the sweep runs, the settings chosen on
    the tuning cases, and the edited logits of a case set, computed from one unedited run per
    batch of cases (:mod:`probes.interventions.resume`)."""

    def __init__(self, model, hooks, probes, cfg: SweepConfig, editor_settings: dict) -> None:
        self.model, self.hooks, self.cfg = model, hooks, cfg
        self.layers = cfg.layers if cfg.layers is not None else sorted(hooks)
        self.specs = {m: editor(m) for m in cfg.methods}
        self.candidates = {m: s.candidates(editor_settings[m]) for m, s in self.specs.items()}
        self.probes = {m: probes[s.probe_kind(editor_settings[m])] for m, s in self.specs.items()}
        self.edits = {
            (m, i): s.build(self.probes[m], c)
            for m, s in self.specs.items()
            for i, c in enumerate(self.candidates[m])
        }
        self.chosen: dict[tuple[str, int], int] | None = None  # (method, layer) -> candidate
        self.effects: dict = {}

    def steps_per_edit(self) -> dict[str, float]:
        """Mean optimiser steps per edit of each editor that counts them."""
        out = {}
        for (method, _), edit in self.edits.items():
            stats = getattr(edit, "stats", None)
            if stats:
                out[method] = round(stats["steps"] / max(stats["edits"], 1), 2)
        return out

    def runs(self):
        return [(m, layer) for m in self.cfg.methods for layer in self.layers]

    def _todo(self):
        """(method, layer, candidate) to compute: every candidate until one is chosen."""
        for m, layer in self.runs():
            tried = range(len(self.candidates[m])) if self.chosen is None else [
                self.chosen[m, layer]
            ]  # fmt: skip
            for i in tried:
                yield m, layer, i

    def edited_logits(self, cases: Cases, natural: bool, bar) -> dict:
        """{(method, layer, candidate): logits [K, 61]} and the unedited ones under NULL;
        on the natural set also what each chosen edit does to its probe (readout)."""
        out: dict = {}
        for start in range(0, len(cases), BATCH_CASES):
            batch = cases.take(slice(start, start + BATCH_CASES))
            run = clean_run(self.model, batch)
            out.setdefault(NULL, []).append(run.logits.cpu())
            for m, layer, i in self._todo():
                hooks = {k: h for k, h in self.hooks.items() if k == layer or (
                    self.cfg.later_layers and k > layer)}  # fmt: skip
                logits = resume(self.model, run, batch, layer, hooks, self.edits[m, i])
                out.setdefault((m, layer, i), []).append(logits)
                if natural:
                    self._readout(m, layer, i, run, batch)
            bar.update(len(batch))
        return {key: torch.cat(parts) for key, parts in out.items()}

    def _readout(self, method: str, layer: int, i: int, run, batch: Cases) -> None:
        hook = self.hooks[layer]
        counts = readout_counts(run.resid[layer].float(), hook, batch, self.edits[method, i],
                                self.probes[method][hook])  # fmt: skip
        total = self.effects.setdefault((method, layer), [0.0, 0, 0.0, 0])
        for j, value in enumerate(counts):
            total[j] += value

    def choose_settings(self, edited: dict, tune_cases: Cases) -> dict:
        """Each method's setting per start layer, chosen on the tuning cases; returns the
        tuning curves ``{method: {layer: {setting: errors}}}`` of tuned editors."""
        self.chosen, tuning, self.tuned = {}, {}, {}
        for m, layer in self.runs():
            tried = [score(edited[m, layer, i], tune_cases) for i in range(len(self.candidates[m]))]
            best = min(range(len(tried)), key=lambda i: tried[i]["errors_vs_edited"])
            self.chosen[m, layer] = best
            if len(tried) > 1:
                tuning.setdefault(m, {})[str(layer)] = {
                    self.specs[m].describe(c): t["errors_vs_edited"]
                    for c, t in zip(self.candidates[m], tried, strict=True)
                }
        return tuning

    def entry(self, method: str, layer: int, result: dict, null: dict, natural: bool) -> dict:
        """One table entry: the scores, the unedited model's, the setting, the layers."""
        chosen = self.candidates[method][self.chosen[method, layer]]
        edited = [k for k in sorted(self.hooks) if k == layer or (
            self.cfg.later_layers and k > layer)]  # fmt: skip
        entry = {
            **result,
            "null_errors_vs_edited": null["errors_vs_edited"],
            "null_errors_vs_original": null["errors_vs_original"],
            **chosen,
            "setting": self.specs[method].describe(chosen),
        }
        if natural:
            entry.update(readout_shares(self.effects[method, layer]))
        entry.update(edit_layers=edited, edit_hooks=[self.hooks[k] for k in edited])
        return entry


BATCH_CASES = 256  # cases run together: memory ~ their keys and values at every layer


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
