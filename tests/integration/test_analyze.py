"""`make analyze`: a model we did not train, in a published format, gets the whole report."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from checkpoints import random_tl_state
from conftest import TESTS


def make_analyze(tmp: Path, checkpoint: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "make", "analyze", f"CHECKPOINT={checkpoint}", "FORMAT=transformer_lens",
            "RUN=published", "PRESET=tiny", f"GAMES={tmp}/games.h5",
            f"RUN_DIR={tmp}/runs/published", f"REPORT_DIR={tmp}/reports/published",
            "PROBES_ARGS=min_steps=30 probes=mine_theirs/linear --no-progress",
            "INTERVENTIONS_ARGS=methods=linear linear.scales=1,2 --no-progress",
            *extra,
        ],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=1800,
    )  # fmt: skip


def analyze_and_read(tmp_path: Path, state: dict, corpus: Path) -> dict:
    shutil.copy(corpus, tmp_path / "games.h5")  # the session's corpus: no simulation here
    checkpoint = tmp_path / "synthetic_model.pth"
    torch.save(state, checkpoint)
    done = make_analyze(tmp_path, checkpoint)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "convert_checkpoint.py import" in done.stdout and "train.py" not in done.stdout
    return json.loads((tmp_path / "reports" / "published" / "summary.json").read_text())


# the whole make chain (about 70 s): the default run covers its parts (conversion and every
# stage in-process in test_published.py, the same make targets in test_pipeline.py)
@pytest.mark.slow
def test_analyze_a_transformer_lens_checkpoint(tmp_path, tiny_corpus):
    # LNPre, no unembedding bias: the form the published synthetic_model.pth comes in
    state = random_tl_state(n_layers=2, d=32, h=4, d_mlp=96, norm="LNPre")
    del state["unembed.b_U"]
    summary = analyze_and_read(tmp_path, state, tiny_corpus)
    assert summary["imported"]["format"] == "transformer_lens"
    assert summary["training"] is None and summary["config"]["model"]["d_mlp"] == 96
    # legal moves, the two checks mine/theirs probes alone support, the linear edit
    assert len(summary["checks"]) == 4
    report = (tmp_path / "reports" / "published" / "report.md").read_text()
    assert "not trained here" in report
    missing = subprocess.run(
        ["make", "analyze", "FORMAT=transformer_lens"],
        capture_output=True, text=True, cwd=TESTS.parent,
    )  # fmt: skip
    assert missing.returncode != 0 and "CHECKPOINT=PATH" in missing.stdout + missing.stderr


@pytest.mark.slow
def test_analyze_the_published_shape(tmp_path, tiny_corpus):
    state = random_tl_state(n_layers=8, d=512, h=8, d_mlp=2048, norm="LNPre", scale=0.02)
    summary = analyze_and_read(tmp_path, state, tiny_corpus)
    assert summary["config"]["model"]["n_layers"] == 8
    assert summary["probes"]["layers"] == [str(x) for x in range(9)]
