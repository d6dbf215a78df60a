"""The intervention stage's result: the scores of every editor at every start layer on every
case set, the unedited model's, and the choices made on the tuning cases; in memory after a
sweep, or read back from a finished folder.

A folder holds ``metrics.json`` (the natural cases' scores at the top level, ``{method:
{start_layer: {errors_vs_edited, errors_vs_original, f1_vs_edited, success_rate,
null_errors_vs_edited, ...}}}``, and every set in the same shape under ``sets``),
``details.json`` (the unedited scores, the tuning sweep, the choices and what they were made
on), ``tables.md``, ``figures.json`` and the figures (:data:`probes.interventions.figures.FIGURES`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import DETAILS, FIGURES_JSON, METRICS, TABLES
from probes.interventions import figures as stage_figures
from probes.interventions.editors import chosen_candidate, editor
from probes.interventions.sweep import TUNE
from probes.published import LI_INTERVENTIONS

CAPTIONS = {
    "errors_by_layer": "Intervention errors by start layer (Li et al.: {edited} edited vs "
    "{null} unedited)",
    "tuning": "Editor settings tried on the tuning cases",
    "gallery": "Intervention gallery (headline edit)",
    "saliency": "Latent saliency maps (Li et al.'s attribution method)",
}


@dataclass
class InterventionResult:
    """What the report, the explorer and the world-model verdict take from the stage, so no
    other module spells its files' key paths; ``details`` and ``figure_data`` are held only
    between a sweep and :meth:`save`."""

    scores: dict  # {set: {method: {start_layer: entry}}}
    null: dict  # {set: the unedited model's scores}
    choice: dict  # {"by_method": {...}, "headline": {...}}
    sizes: dict[str, int]
    warnings: list[str]
    drawn: dict[str, str]  # figure name -> file drawn in the folder
    seconds: float
    folder: Path | None = None
    details: dict = field(default_factory=dict, repr=False)
    figure_data: dict = field(default_factory=dict, repr=False)
    # each natural case's errors under the headline edit (stage.case_errors), in memory only
    case_errors: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> InterventionResult:
        folder = Path(folder)
        found = []
        for name in (METRICS, DETAILS):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder / name}: missing; run scripts/intervene.py")
            found.append(json.loads((folder / name).read_text()))
        metrics, details = found
        return cls(
            metrics["sets"], details["null"], details["choice"], details["sets"],
            details["warnings"], details.get("figures", {}), details.get("seconds", 0.0),
            folder,
        )  # fmt: skip

    def save(self, folder: str | os.PathLike) -> None:
        """Every file, the figures included; metrics.json last (the stage is done)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, file in self.drawn.items():
            stage_figures.FIGURES[name][1](self.figure_data[name], out / file)
        write_text(out / FIGURES_JSON, json.dumps(self.figure_data) + "\n")
        write_text(out / TABLES, tables(self.scores, self.null, self.choice))
        write_text(out / DETAILS, json.dumps(self.details, indent=1, default=str) + "\n")
        metrics = {**self.scores["natural"], "sets": self.scores}
        write_text(out / METRICS, json.dumps(metrics, indent=1) + "\n")
        self.folder = out

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

    def summary(self) -> dict:
        """summary.json's part: the natural cases' scores, every reported set, the unedited
        model, the choices made on the tuning cases."""
        return {
            "metrics": self.scores["natural"],
            "sets": {k: v for k, v in self.scores.items() if k != TUNE},
            "sizes": self.sizes,
            "null": self.null,
            "choice": self.choice,
            "warnings": self.warnings,
        }

    def figures(self) -> dict[str, Path]:
        published = LI_INTERVENTIONS.values["natural"]
        return {
            CAPTIONS.get(name, name).format(**published): self.folder / file
            for name, file in self.drawn.items()
        }


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


def summary_lines(results: InterventionResult) -> list[str]:
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
