"""The intervention scripts as a user runs them, and their refusals."""

from __future__ import annotations

import json

from conftest import run_in_process

from othello.model.checkpoint import control_model
from probes.acts.writer import write_cache
from probes.fit import FitConfig
from probes.probe_stage import run_probe_stage


def test_intervene_cli_writes_metrics_and_refuses_bad_input(tiny_run, tiny_corpus, tmp_path):
    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=300, progress=False)
    run_probe_stage(acts, tmp_path / "probes", FitConfig(probes=("mine_theirs/linear",)), False)
    made = run_in_process(
        "make_intervention_set.py", "--games", tiny_corpus, "--out",
        tmp_path / "cases.h5", "--n-cases", 60, "--tune-cases", 30,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    common = ["--run", tiny_run, "--probes", tmp_path / "probes", "--games", tiny_corpus]
    out = tmp_path / "out"
    done = run_in_process(
        "intervene.py", *common, "--out", out, "--set", tmp_path / "cases.h5",
        "gradient.probe=linear", "gradient.steps=20", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "WARNING: only 30 tuning cases" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"linear", "gradient", "sets"}
    assert set(metrics["sets"]) == {"natural", "unnatural", "tune"}
    for kind, n in (("natural", 60), ("unnatural", 60), ("tune", 30)):
        for method in ("linear", "gradient"):
            assert set(metrics["sets"][kind][method]) == {"0", "1", "2"}
            assert all(e["cases"] == n for e in metrics["sets"][kind][method].values())
    assert metrics["linear"] == metrics["sets"]["natural"]["linear"]
    details = json.loads((out / "details.json").read_text())
    choice = details["choice"]
    for method in ("linear", "gradient"):  # each start layer is the best on the tuning cases
        tune = metrics["sets"]["tune"][method]
        chosen = choice["by_method"][method]["start_layer"]
        assert tune[chosen]["errors_vs_edited"] == min(e["errors_vs_edited"] for e in tune.values())
        assert (
            choice["by_method"][method]["natural"]["errors_vs_edited"]
            == (metrics[method][chosen]["errors_vs_edited"])
        )
        # the linear scale at each layer is the one the tuning sweep scored best
        if method == "linear":
            for layer, tried in details["tuning"]["linear"].items():
                best = min(tried, key=tried.get)
                assert metrics["linear"][layer]["setting"] == best
    head = choice["headline"]
    assert choice["by_method"][head["method"]]["tune"]["errors_vs_edited"] == min(
        c["tune"]["errors_vs_edited"] for c in choice["by_method"].values()
    )
    for figure in ("errors_by_layer", "gallery", "saliency", "tuning"):
        assert (out / f"{figure}.png").stat().st_size > 0
    assert "| linear | 0" in (out / "tables.md").read_text()

    # bad input: a clear error and nothing written
    bad_cases = tmp_path / "bad.h5"
    bad = run_in_process(
        "make_intervention_set.py", "--games", tiny_corpus, "--out", bad_cases,
        "--case", "0:0:A1",
    )  # fmt: skip
    assert bad.returncode != 0 and "game 0 ply 0: square A1 is empty" in bad.stderr
    assert not bad_cases.exists()
    refused = {
        "layer 7 is out of range": ["layers=0,7"],
        "fitted on another model": ["--run", control_model(tiny_run)],
        "holds 60 cases, 500 asked": ["--set", tmp_path / "cases.h5", "n_cases=500"],
        "gradient.steps='many': expected int": ["gradient.steps=many"],
        "unknown setting 'scale'": ["scale=2"],
    }
    for message, extra in refused.items():
        target = tmp_path / "refused"
        args = [*common, "--out", target, "n_cases=20", "gradient.probe=linear", "--no-progress"]
        args += extra
        result = run_in_process("intervene.py", *args)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert not target.exists()
