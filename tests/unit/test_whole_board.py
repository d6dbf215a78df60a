"""Whole-board accuracy: counted by hand, merged across games, written by the probe stage,
read back (and refused from an older metrics.json), and shown in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from othello.common.errors import UserError
from othello.common.files import METRICS
from probes.acts.arrays import ArraySource
from probes.common import ProbeKey
from probes.fit import FitConfig
from probes.metrics import ProbeCounts, evaluate_probes
from probes.plots import accuracy_by_move
from probes.probe_metrics import ProbeMetrics, whole_board_table
from probes.probe_section import probe_section
from probes.probe_stage import build_metrics

HOOKS = ("blocks.0.hook_resid_pre", "blocks.0.hook_resid_post")


class ReadLabels(torch.nn.Module):
    """A 'probe' whose activations are the one-hot labels: it reads back what it is given."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (64, 3))


def test_whole_board_counted_by_hand():
    # two games of 3 and 2 positions; one square wrong at game 0's move 1 and game 1's move 0
    counts = ProbeCounts.zeros(3)
    moves, game = np.array([0, 1, 2, 0, 1]), np.array([0, 0, 0, 1, 1])
    y = np.zeros((5, 64), np.int64)
    pred = y.copy()
    pred[1, 7] = pred[3, 40] = 2
    counts.add(moves, game, y, pred)
    assert counts.whole_board.tolist()[:3] == [1, 1, 1] and counts.positions.tolist()[:3] == [
        2,
        2,
        1,
    ]
    s = counts.summary()
    assert s["whole_board_accuracy"] == pytest.approx(3 / 5)
    assert s["accuracy"] == pytest.approx((5 * 64 - 2) / (5 * 64))  # per square: 99.4%
    assert s["whole_board_by_move"][:3] == [0.5, 0.5, 1.0] and len(s["whole_board_by_move"]) == 59
    # over games: w = (2, 1), n = (3, 2), r = 0.6, residuals +-0.2: sqrt(2 * 0.08) / 5
    assert s["whole_board_stderr"] == pytest.approx(0.08)
    assert s["games"] == 2


def planted_source(test_rows: np.ndarray, n_games: int = 12) -> ArraySource:
    """Activations that are the labels one-hot, with one square corrupted every fifth
    position of odd games, so the whole-board count is known."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (n_games, 59, 64)).astype(np.int8)
    acts = np.eye(3, dtype=np.float32)[labels].reshape(n_games, 59, 64 * 3)
    corrupt = np.zeros((n_games, 59), bool)
    corrupt[1::2, ::5] = True
    acts[corrupt, :3] = np.roll(acts[corrupt, :3], 1, axis=-1)  # square 0 reads wrong
    valid = np.arange(59)[None, :] < rng.integers(20, 60, n_games)[:, None]
    split = np.full(n_games, 1, np.int8)
    split[test_rows] = 2
    source = ArraySource({h: acts for h in HOOKS}, {"board_relative": labels}, valid, split)
    source.expected_whole = int((valid & ~corrupt)[test_rows].sum())
    return source


def test_evaluate_counts_whole_boards_and_counts_merge_across_games():
    key = ProbeKey("mine_theirs", "linear", HOOKS[0])
    probes = {key: ReadLabels()}
    everything = planted_source(np.arange(12))
    whole = evaluate_probes(everything, probes, "test", chunk_games=5)[key]
    assert whole.whole_board.sum() == everything.expected_whole
    one_by_one = evaluate_probes(everything, probes, "test", chunk_games=1)[key]
    first, rest = (
        evaluate_probes(planted_source(rows), probes, "test")[key]
        for rows in (np.arange(7), np.arange(7, 12))
    )
    for merged in (first + rest, one_by_one):
        for name in ("correct", "positions", "confusion", "whole_board", "game_moments"):
            np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    assert (first + rest).whole_board_record() == whole.whole_board_record()
    assert whole.whole_board_record()["games"] == 12


def stage_metrics(tmp_path) -> dict:
    source = planted_source(np.arange(6, 12))
    cfg = FitConfig(probes=("mine_theirs/linear",))
    probes = {ProbeKey("mine_theirs", "linear", h): ReadLabels() for h in HOOKS}
    counts = {s: evaluate_probes(source, probes, s) for s in ("val", "test")}
    metrics = build_metrics(counts, {"mine_theirs": {"chance": 1 / 3}}, cfg, list(HOOKS))
    (tmp_path / METRICS).write_text(json.dumps(metrics))
    return metrics


def test_stage_metrics_hold_whole_board_tables_and_the_reader_refuses_old_files(tmp_path):
    metrics = stage_metrics(tmp_path)
    source = planted_source(np.arange(6, 12))
    assert set(metrics["whole_board"]) == {"val", "test"}
    record = metrics["whole_board"]["test"]["mine_theirs"]["linear"]["0"]
    assert set(record) == {"mean", "stderr", "positions", "games"}
    assert record["mean"] == pytest.approx(source.expected_whole / record["positions"], abs=1e-6)
    assert 0 < record["stderr"] < 0.1 and record["games"] == 6
    best = metrics["best"]["mine_theirs/linear"]
    assert best["layer"] == "0" and best["whole_board"] == record["mean"]  # ties: the earliest
    by_move = metrics["whole_board_by_move"]["mine_theirs/linear"]
    assert by_move["layer"] == "0" and by_move["by_move"][0] < 1 == by_move["by_move"][1]
    assert metrics["mine_theirs"]["linear"]["0"] > 0.99  # the per-square table is unchanged
    table = whole_board_table(tmp_path)
    assert table["mine_theirs"]["linear"]["1"] == record  # layer 1 reads the same arrays
    loaded = ProbeMetrics.load(tmp_path)
    assert loaded.best[ProbeKey("mine_theirs", "linear")].whole_board == record["mean"]
    old = {k: v for k, v in metrics.items() if not k.startswith("whole_board")}
    for b in old["best"].values():
        del b["whole_board"], b["whole_board_stderr"]
    (tmp_path / METRICS).write_text(json.dumps(old))
    assert ProbeMetrics.load(tmp_path).whole_board is None  # older files still load
    with pytest.raises(UserError, match=r"metrics\.json has no whole-board accuracy"):
        whole_board_table(tmp_path)
    with pytest.raises(UserError, match=r"missing"):
        whole_board_table(tmp_path / "nowhere")


def test_report_shows_whole_board_beside_per_square_and_draws_its_panel(tmp_path):
    best = {"layer": "1", "accuracy": 0.99, "whole_board": 0.5, "whole_board_stderr": 0.02}
    control = {"layer": "0", "accuracy": 0.6, "whole_board": 0.0, "whole_board_stderr": 0.0}
    record = {"mean": 0.25, "stderr": 0.01, "positions": 100, "games": 5}
    probes = {
        "layers": ["0", "1"],
        "train_games": 10, "val_games": 2, "test_games": 5,
        "accuracy": {"mine_theirs": {"linear": {"0": 0.9, "1": 0.99}}},
        "best": {"mine_theirs/linear": best},
        "control_best": {"mine_theirs/linear": control},
        "whole_board": {"mine_theirs": {"linear": {"0": record, "1": {**record, "mean": 0.5,
                                                                      "stderr": 0.02}}}},
        "baselines": {"mine_theirs": {"chance": 1 / 3, "majority": 0.5, "majority_by_move": 0.6}},
        "warnings": [],
    }  # fmt: skip
    text = "\n".join(probe_section(probes))
    assert "| mine_theirs | linear | 90.00 | **99.00** | 60.00 (0) |" in text
    assert "| mine_theirs | linear | 25.0 | **50.0 ± 2.0** | 0.0 ± 0.0 (0) |" in text
    probes["whole_board"] = None  # probes fitted before whole boards were counted
    assert "Whole-board accuracy: not in these probes' metrics.json" in "\n".join(
        probe_section(probes)
    )
    curve = [0.5] * 59
    data = {"series": {"a": curve}, "baselines": {"b": curve}, "whole_board": {"a": curve},
            "whole_board_control": {"control": [0.0] * 59}}  # fmt: skip
    accuracy_by_move(data, tmp_path / "by_move.png")
    assert (tmp_path / "by_move.png").stat().st_size > 0
