"""`make compare PRESET=tiny`: the GPT, an LSTM and a Mamba through every stage and the
world-model tests on one corpus, then one report with each kind beside its control (slow: about
eighteen minutes on 2 cores with the dynamics and soundness stages; `make test-all` runs it)."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import TESTS
from test_pipeline import WORLD_MODEL_ARGS


@pytest.mark.slow
@pytest.mark.trains
def test_make_compare_runs_every_kind_and_writes_one_report(tmp_path):
    pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    done = subprocess.run(
        [
            "make", "compare", "PRESET=tiny", f"GAMES={tmp_path}/games.h5",
            f"RUNS={tmp_path}/runs", f"REPORTS={tmp_path}/reports",
            "TRAIN_ARGS=max_steps=100",
            "PROBES_ARGS=min_steps=100 probes=mine_theirs/linear --no-progress",
            "INTERVENTIONS_ARGS=gradient.probe=linear gradient.steps=20 --no-progress",
            f"WORLDMODEL_ARGS={' '.join(WORLD_MODEL_ARGS)}",
        ],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / "reports" / "compare-tiny"
    result = json.loads((folder / "compare.json").read_text())
    runs = {r["kind"]: r for r in result["runs"]}
    assert list(runs) == ["gpt", "lstm", "mamba"]
    for kind, r in runs.items():
        rows = r["rows"]
        assert rows["training steps"]["model"] == 100
        assert rows["tokens seen"]["model"] == 100 * 64 * 59
        legal = rows["top-1 legal (world-model test games)"]
        assert 0 < legal["random_init"] < legal["model"] <= 1, kind
        assert set(r["series"]["mine/theirs linear probe per square"]["model"]) == {"0", "1", "2"}
        for key in ("compression precision", "distinction precision", "distinction recall"):
            row = rows[f"{key} (true state, sampled)"]
            assert all(0 <= row[side] <= 1 for side in ("model", "random_init"))
        search = rows["beam search: an illegal top move within 100 calls"]  # the soundness rows
        assert 0 <= search["model"] <= search["random_init"] <= 1, kind
        assert 0 <= rows["errors on a wrong board"]["model"] <= 1
        assert rows["step at 50% of the rise: top1_legal"]["model"] is not None  # the dynamics
    assert runs["gpt"]["not_run"] == {}
    for kind in ("lstm", "mamba"):
        assert "MLP neurons" in runs[kind]["not_run"]["neuron_simulation"]
    text = (folder / "compare.md").read_text()
    assert "| figure | gpt | gpt random-init | lstm | lstm random-init | mamba |" in text
    assert "When the board forms" in text and (folder / "dynamics_by_kind.png").exists()
    assert "its recurrent state" in text
