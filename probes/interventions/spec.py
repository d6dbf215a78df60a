"""The intervention stage as a registered :class:`probes.stage_spec.Stage`: edit the model's
board along the probes (every registered editor, every start layer) and score whether its
legal-move predictions follow the edited board (Li et al.; Nanda et al.)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from othello.common import settings as settings_lib
from probes.interventions.editors import EDITORS
from probes.interventions.results import InterventionResult, summary_lines
from probes.interventions.stage import (
    DRAWN_CASES,
    DRAWN_TUNE_CASES,
    check_inputs,
    measure_interventions,
)
from probes.interventions.sweep import TUNE, SweepConfig
from probes.interventions.view import InterventionView
from probes.published import LI_INTERVENTIONS
from probes.stage_spec import Stage, StageJob, model_sha256, need

REPORTED = ("natural", "unnatural")  # case sets the report tabulates (tune only chooses)
OWN = ("cases", "progress")  # InterventionConfig's own keys
_CPU = {"n_cases": DRAWN_CASES, "tune_cases": DRAWN_TUNE_CASES}


@dataclass
class InterventionConfig:
    """The sweep's settings (:class:`SweepConfig`: ``methods=linear``, ``layers=1,2``,
    ``n_cases=500``), each editor's (``linear.scales=1,2,4``, ``gradient.steps=50``) and the
    cases file (None: cases drawn from the games)."""

    sweep: SweepConfig = field(default_factory=SweepConfig)
    editors: dict[str, Any] = field(
        default_factory=lambda: {name: spec.settings() for name, spec in EDITORS.items()}
    )
    cases: str | None = None  # a cases file (make_intervention_set.py)
    progress: bool = True

    @property
    def device(self) -> str:
        return self.sweep.device


class InterventionStage(Stage):
    name = "interventions"
    question = "Does the model follow an edited board (one disc flipped along the probes)?"
    config = InterventionConfig
    presets = {"tiny": {"n_cases": 100, "tune_cases": 100}, "cpu": _CPU, "paper": _CPU}
    reads = ("probes",)
    files = ("cases",)
    in_report = True
    compared = True
    order = 20

    def parse(self, words: list[str]) -> InterventionConfig:
        """Its own keys (:data:`OWN`), ``METHOD.key=value`` for an editor, the rest the
        sweep's."""
        own = [w for w in words if w.partition("=")[0] in OWN]
        rest = [w for w in words if w.partition("=")[0] not in OWN]
        cfg = settings_lib.apply_overrides(InterventionConfig(), own)
        plugins = {name: spec.settings for name, spec in EDITORS.items()}
        sweep, editors = settings_lib.apply_with_plugins(SweepConfig(), rest, plugins)
        return dataclasses.replace(cfg, sweep=sweep, editors=editors)

    def describe_settings(self) -> str:
        editors = "\n".join(
            f"{name}.* ({spec.summary}):\n{settings_lib.describe(spec.settings())}"
            for name, spec in EDITORS.items()
        )
        return f"{settings_lib.describe(SweepConfig())}\n{editors}"

    def measure(self, model, games, inputs: dict, cfg: InterventionConfig) -> InterventionResult:
        """The sweep on ``model`` with the probes stage's result (``inputs["probes"]``)."""
        probes = need(inputs, "probes", self.name)
        sha = model_sha256(model)
        where = str(probes.folder) if probes.folder else "the probes"
        checked = check_inputs(
            model, sha, probes.probes(sha), games, cfg.cases, cfg.sweep, cfg.editors, where
        )
        return measure_interventions(checked, cfg.sweep, cfg.editors, cfg.progress)

    def run(self, job: StageJob) -> InterventionResult:
        if "cases" in job.files:
            job.cfg.cases = str(job.files["cases"])
        return super().run(job)

    def load(self, folder: str | os.PathLike) -> InterventionResult:
        return InterventionResult.load(folder)

    def section(self, part: dict) -> list[str]:
        return intervention_section(part)

    def view(self, result: InterventionResult, hooks: dict[int, str]) -> InterventionView:
        return InterventionView(result)

    def printed(self, result: InterventionResult) -> list[str]:
        return summary_lines(result)

    def compare_rows(self, part: dict) -> dict[str, dict[str, Any]]:
        headline = part["choice"]["headline"]["method"]
        gap = part["choice"]["by_method"][headline].get("natural", {}).get("gap_closed")
        return {"edit: share of the gap closed": {"model": gap, "random_init": None}}


def intervention_section(inter: dict) -> list[str]:
    """report.md's intervention section: every method at every start layer on every reported
    set, the chosen layer in bold, beside the unedited model and the published figure."""
    null = inter["null"]
    headline = inter["choice"]["headline"]
    lines = [
        "## Interventions (mean top-N errors vs the edited board)",
        "",
        "Unedited model: "
        + ", ".join(
            f"{kind} {null[kind]['errors_vs_edited']:.2f} vs edited board / "
            f"{null[kind]['errors_vs_original']:.2f} vs original"
            for kind in REPORTED
            if kind in null
        )
        + ". Settings, start layers and the headline method "
        f"({headline['method']} from layer {headline['start_layer']}) are chosen on "
        f"{inter['sizes'][TUNE]} tuning cases from validation games; the chosen start layer "
        "is **bold**.",
        "",
        "| method | start layer | setting | "
        + " | ".join(f"{kind} vs edited" for kind in REPORTED if kind in inter["sets"])
        + " | natural vs original | natural F1 | natural exact | probe reads target | other "
        "squares changed |",
        "|---|---|---|" + "---|" * (5 + len([k for k in REPORTED if k in inter["sets"]])),
    ]
    for method, by_layer in inter["metrics"].items():
        chosen = inter["choice"]["by_method"][method]["start_layer"]
        for layer, e in by_layer.items():
            cells = " | ".join(
                f"{inter['sets'][kind][method][layer]['errors_vs_edited']:.2f}"
                for kind in REPORTED
                if kind in inter["sets"]
            )
            name = f"**{layer}**" if layer == chosen else layer
            lines.append(
                f"| {method} | {name} | {e['setting']} | {cells} | "
                f"{e['errors_vs_original']:.2f} | {e['f1_vs_edited']:.3f} | "
                f"{100 * e['success_rate']:.1f}% | {100 * e['probe_target_reached']:.1f}% | "
                f"{100 * e['probe_others_changed']:.2f}% |"
            )
    lines += [
        "",
        "The last two columns: at the start layer, the share of cases whose edited square the "
        "followed probe now reads as the target, and the share of the other 63 squares whose "
        "reading the edit changed.",
        "",
        f"Published: {LI_INTERVENTIONS.source}; {LI_INTERVENTIONS.meaning}.",
    ]
    return lines + [f"- WARNING: {w}" for w in inter["warnings"]]
