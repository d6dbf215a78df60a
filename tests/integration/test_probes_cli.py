"""The probe scripts as a user runs them."""

from __future__ import annotations

import json

import pytest
from conftest import run_in_process

from othello.common.hashing import file_sha256
from othello.model.checkpoint import MODEL
from probes.acts.writer import write_cache


def test_cli_fits_probes_and_draws_the_report(tiny_run, tiny_corpus, tmp_path):
    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=150, progress=False)
    result = run_in_process(
        "fit_probes.py",
        "--acts",
        acts,
        "--out",
        tmp_path / "probes",
        "epochs=1",
        "min_steps=50",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "probes" / "metrics.json").read_text())
    for name in ("mine_theirs", "black_white"):
        for kind in ("linear", "mlp"):
            assert set(metrics[name][kind]) == {"0", "1", "2"}
            assert all(0 <= v <= 1 for v in metrics[name][kind].values())
    assert set(metrics["flipped"]) == {"linear"} and set(metrics["legal"]) == {"linear"}
    for name in ("mine_theirs", "black_white"):  # the placed-by rule, a baseline from moves
        assert 0.6 < metrics["baselines"][name]["placed_by"] < 1
    assert metrics["model_sha256"] == file_sha256(tiny_run / MODEL)
    result = run_in_process(
        "probe_report.py",
        "--probes",
        tmp_path / "probes",
        "--control",
        tmp_path / "probes",
        "--out",
        tmp_path / "report",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "report" / "figures.json").read_text())
    assert figures["accuracy_by_layer"]["layers"] == ["0", "1", "2"]
    assert len(figures["direction_cosines"]["cosine"]) == 3
    assert set(figures["accuracy_by_layer"]["placed_by"]) == {"mine_theirs", "black_white"}
    assert len(figures["accuracy_by_move"]["rules"]["mine_theirs placed-by rule"]) == 59
    for name in (
        "accuracy_by_layer",
        "square_heatmaps",
        "accuracy_by_move",
        "confusion",
        "direction_cosines",
    ):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 5000
    missing = run_in_process(
        "fit_probes.py", "--acts", tmp_path / "none.h5", "--out", tmp_path / "p2"
    )
    assert missing.returncode != 0 and "none.h5" in missing.stderr


@pytest.mark.trains
def test_probe_curve_probes_every_snapshot_once(tiny_corpus, tmp_path):
    from othello.training.config import preset
    from othello.training.train import train

    run = tmp_path / "run"
    cfg = preset("tiny", ["max_steps=100", "snapshot_every=50", "eval_every=50", "snapshot_log=0"])
    train(cfg, tiny_corpus, run, progress=False)
    command = ("probe_curve.py", "--run", run, "--games", tiny_corpus)
    command += ("--out", tmp_path / "curve", "--n-games", "150", "--no-progress")
    result = run_in_process(*command)
    assert result.returncode == 0, result.stderr
    curve = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert list(curve["points"]) == ["50", "100"]  # the final snapshot is the model, once
    for point in curve["points"].values():
        assert set(point["layers"]) == {"0", "1", "2"}
        val = point["val_layers"]
        assert point["best_layer"] == max(val, key=val.get) and point["chosen_on"] == "val"
        assert point["best"] == point["layers"][point["best_layer"]]
        assert 0 < point["val_top1_legal"] <= 1
    first, last = curve["points"].values()
    assert first["baselines"] == last["baselines"]  # the same held-out games for every step
    assert first["model_sha256"] != last["model_sha256"]
    assert not list((tmp_path / "curve").glob("*.h5"))  # activations held in memory, not written
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 5000
    again = run_in_process(*command)  # a second run finds every point done and redoes none
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "curve" / "curve.json").read_text()) == curve
    missing = run_in_process(
        "probe_curve.py",
        "--run",
        tmp_path / "none",
        "--games",
        tiny_corpus,
        "--out",
        tmp_path / "c2",
    )
    assert missing.returncode != 0 and "none" in missing.stderr
