"""Write the report: summary.json, report.md and report.html, with every figure the stages
drew. Which figures to expect is what each stage's result says it drew (its ``figures``); an
expected figure that is not there is named in the report rather than silently left out."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import EVAL_FIGURE, HTML, LEGAL_FIGURE, MARKDOWN, SUMMARY
from probes.report.html_page import render_html
from probes.report.markdown import render_markdown
from probes.report.summary import ReportInputs, build_summary, stage_results
from probes.stage_spec import StageResult

LEGAL_CAPTION = "Legal-move accuracy by move number"


def expected_figures(results: dict[str, StageResult], out: Path) -> dict[str, Path]:
    """``{caption: path}`` of every figure the stages say they drew, in report order."""
    expected = {LEGAL_CAPTION: out / LEGAL_FIGURE}
    for result in results.values():
        expected.update(result.figures())
    return expected


def write_report(inputs: ReportInputs, out: str | os.PathLike) -> dict:
    """Write summary.json, report.md and report.html under ``out``; returns the summary."""
    out = Path(out)
    results = stage_results(inputs)
    summary = build_summary(inputs, results)
    out.mkdir(parents=True, exist_ok=True)
    eval_figure = inputs.eval_dir / EVAL_FIGURE
    if eval_figure.exists():  # copied so the report folder stands alone
        shutil.copyfile(eval_figure, out / LEGAL_FIGURE)
    expected = expected_figures(results, out)
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
