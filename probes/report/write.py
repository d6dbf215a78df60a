"""Write the report: summary.json, report.md and report.html, with every figure the stages
drew. Which figures to expect is what each stage recorded it drew (its figures.json or
details.json), under the file names the drawing module defines; an expected figure that is
not there is named in the report rather than silently left out."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from othello.common.atomic import write_text
from othello.model.evaluate import EVAL_FIGURE
from probes import figures as probe_figures
from probes.circuits.stage import CircuitsResults
from probes.interventions import figures as intervention_figures
from probes.interventions.stage import InterventionResults
from probes.published import LI_INTERVENTIONS
from probes.report.html_page import render_html
from probes.report.markdown import render_markdown
from probes.report.summary import ReportInputs, build_summary
from probes.sae.stage import FEATURE_PAGES

LEGAL_FIGURE = "legal_accuracy_by_move.png"  # the eval figure, copied beside the report
SUMMARY, MARKDOWN, HTML = "summary.json", "report.md", "report.html"

CAPTIONS = {
    "accuracy_by_layer": "Probe accuracy by layer (Nanda et al.: mine/theirs linear; Li et al.: "
    "black/white)",
    "square_heatmaps": "Per-square accuracy, best layer",
    "accuracy_by_move": "Probe accuracy by move number",
    "confusion": "Confusion per class",
    "direction_cosines": "Cosine of probe directions across layers",
    "errors_by_layer": "Intervention errors by start layer (Li et al.: {edited} edited vs {null} "
    "unedited)".format(**LI_INTERVENTIONS.values["natural"]),
    "tuning": "Editor settings tried on the tuning cases",
    "gallery": "Intervention gallery (headline edit)",
    "saliency": "Latent saliency maps (Li et al.'s attribution method)",
}


def expected_figures(inputs: ReportInputs, summary: dict, out: Path) -> dict[str, Path]:
    """``{caption: path}`` of every figure the stages say they drew."""
    data = inputs.probe_figures / probe_figures.FIGURES_JSON
    drawn = json.loads(data.read_text()) if data.exists() else probe_figures.FIGURES
    expected = {"Legal-move accuracy by move number": out / LEGAL_FIGURE}
    for name, (file, _) in probe_figures.FIGURES.items():
        if name in drawn:
            expected[CAPTIONS[name]] = inputs.probe_figures / file
    results = InterventionResults.load(inputs.interventions)
    for name, file in (results.figures or _all(intervention_figures.FIGURES)).items():
        expected[CAPTIONS.get(name, name)] = inputs.interventions / file
    if inputs.sae is not None:
        first = next(iter(summary["sae"]))
        expected[f"SAE feature pages ({first})"] = inputs.sae / first / FEATURE_PAGES
    if inputs.circuits is not None:
        expected.update(CircuitsResults.load(inputs.circuits).report_figures())
    return expected


def _all(figures: dict) -> dict[str, str]:
    return {name: file for name, (file, _) in figures.items()}


def write_report(inputs: ReportInputs, out: str | os.PathLike) -> dict:
    """Write summary.json, report.md and report.html under ``out``; returns the summary."""
    out = Path(out)
    summary = build_summary(inputs)
    out.mkdir(parents=True, exist_ok=True)
    eval_figure = inputs.eval_dir / EVAL_FIGURE
    if eval_figure.exists():  # copied so the report folder stands alone
        shutil.copyfile(eval_figure, out / LEGAL_FIGURE)
    expected = expected_figures(inputs, summary, out)
    figures = {c: os.path.relpath(p, out) for c, p in expected.items() if p.exists()}
    missing = [f"{c} ({p})" for c, p in expected.items() if not p.exists()]
    summary["missing_figures"] = missing
    markdown = render_markdown(summary, figures, missing)
    for name, text in (  # summary.json last: its presence means the report is complete
        (MARKDOWN, markdown),
        (HTML, render_html(markdown, out)),
        (SUMMARY, json.dumps(summary, indent=1) + "\n"),
    ):
        write_text(out / name, text)
    return summary
