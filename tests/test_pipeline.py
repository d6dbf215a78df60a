"""`make all` on the tiny preset, end to end, and the report it writes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import TESTS

from probes.report import render_html


def make_all(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "make", "all", "PRESET=tiny", f"GAMES={tmp}/games.h5", f"RUN_DIR={tmp}/run",
            f"REPORT_DIR={tmp}/report", "PROBE_GAMES=300", "N_CASES=100",
            "TRAIN_ARGS=max_steps=150", "FIT_ARGS=min_steps=100 mlp_schemes= --no-progress",
            "INTERVENE_ARGS=gradient.probe=linear gradient.steps=50 --no-progress",
            *extra,
        ],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=900,
    )  # fmt: skip


def test_make_all_runs_the_pipeline_and_writes_the_report(tmp_path):
    done = make_all(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = tmp_path / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["config"]["model"]["n_layers"] == 2
    assert summary["training"]["steps"] == 150
    assert 0 < summary["eval"]["top1_legal_accuracy"] <= 1
    accuracy = summary["probes"]["accuracy"]["mine_theirs"]["linear"]
    assert list(accuracy) == ["0", "1", "2"] and all(0.3 < a <= 1 for a in accuracy.values())
    metrics = summary["interventions"]["metrics"]
    assert set(metrics) == {"linear", "gradient"} and set(metrics["linear"]) == {"0", "1", "2"}
    claims = [c["claim"] for c in summary["checks"]]
    assert any("linear" in c for c in claims) and any("random-init" in c for c in claims)
    assert all(c["reproduced"] in (True, False, None) for c in summary["checks"])
    markdown = (report / "report.md").read_text()
    assert "## What reproduced" in markdown and "| mine_theirs | linear |" in markdown
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 8  # every figure embedded, no links out
    assert '<img src="' not in page.replace('<img src="data:', "")
    assert "summary.json" in done.stdout  # the closing summary names the outputs

    # a second run with nothing changed does no work
    again = make_all(tmp_path)
    assert again.returncode == 0 and "scripts/" not in again.stdout, again.stdout


def test_report_html_is_self_contained(tmp_path):
    from othello.plots import plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "a.png")
    page = render_html("# Title\n\n| a | b |\n|---|---|\n| 1 | `x` |\n\n![cap](a.png)\n", tmp_path)
    assert "<h1>Title</h1>" in page and "<td><code>x</code></td>" in page
    assert 'src="data:image/png;base64,' in page
