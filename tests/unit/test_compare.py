"""make compare's report (probes.report.compare): each run's figures read from its report, each
kind beside its random-init control, the notes on recurrent edits and on what was not run."""

from __future__ import annotations

import json

import pytest

from othello.common.errors import UserError
from othello.common.files import COMPARE_JSON, COMPARE_MD
from othello.model.config import GPTConfig, LSTMConfig
from othello.model.kinds import build_model
from probes.published import VAFA_INDUCTIVE_BIAS, VAFA_INDUCTIVE_SETTING
from probes.report.compare import FIGURE, write_comparison


def fake_summary(
    model_cfg, top1: float, probe: float, nerode: float, not_run: dict, half: float
) -> dict:
    """The parts of a report's summary.json that the comparison reads."""
    layers = {str(k): probe - 0.01 * (3 - k) for k in range(3)}
    board = {str(k): {"mean": v / 10} for k, v in layers.items()}
    nerode_fig = {"mean": nerode, "stderr": 0.01, "trials": 10}
    control_fig = {"mean": nerode / 2, "stderr": 0.01, "trials": 10}
    return {
        "config": {"model": model_cfg.to_dict(), "batch_size": 64},
        "training": {"steps": 100, "seconds": 60.0, "tokens_per_s": 6000.0},
        "eval": {"top1_legal_accuracy": top1, "games": 196},
        "probes": {
            "accuracy": {"mine_theirs": {"linear": layers}},
            "control": {"mine_theirs": {"linear": {k: 0.6 for k in layers}}},
            "whole_board": {"mine_theirs": {"linear": board}},
            "control_whole_board": {"mine_theirs": {"linear": board}},
            "best": {"mine_theirs/linear": {"layer": "2", "accuracy": probe, "whole_board": 0.1}},
            "control_best": {"mine_theirs/linear": {"layer": "1", "accuracy": 0.6}},
        },
        "interventions": {
            "choice": {
                "headline": {"method": "linear", "start_layer": "1"},
                "by_method": {"linear": {"natural": {"gap_closed": 0.4}}},
            }
        },
        "dynamics": {
            "run": "r",
            "snapshots": [
                {
                    "step": s,
                    "tokens": s * 64 * 59,
                    "training_seconds": s / 2.0,
                    "figures": {"probe_mine_theirs": {"mean": v, "stderr": 0.01}},
                }
                for s, v in ((0, 0.6), (10, 0.65), (100, probe))
            ],
            "phases": {"probe_mine_theirs": {"half_step": half, "ninety_step": 90.0}},
            "order": [],
        },
        "soundness": {
            "search": {
                "attack": "beam",
                "500": {"success_rate": 1 - top1, "searches": 10, "errors_per_1000_calls": 5.0},
                "baseline": {"corpus": {"error_rate": 1 - top1}},
            },
            "random_init": {"beam": {"500": {"success_rate": 1.0}}},
            "errors": {
                "wrong_board_share": {"mean": 0.9},
                "fixed_by_true_board_share": {"mean": 0.7},
                "fixed_by_control_share": {"mean": 0.05},
            },
        },
        "world_model": {
            "top1_legal": {"model": top1, "random_init": 0.15},
            "verdict": [{"figure": "edit: share of the gap closed", "model": 0.4}],
            **{k: nerode_fig for k in ("compression_precision", "distinction_precision")},
            "distinction_recall": nerode_fig,
            "controls": {
                "random_init": {"state": {"board_and_mover": {"distinction_recall": control_fig}}}
            },
            "inductive_bias": {
                "model": {"r_ib": {"mean": 0.8, "stderr": 0.02}, "d_ib": {"mean": 0.9}},
                "random_init": {"r_ib": {"mean": 0.7, "stderr": 0.05}},
            },
            "not_run": not_run,
            "published": {
                "inductive_bias": {
                    "source": VAFA_INDUCTIVE_BIAS.source,
                    "meaning": VAFA_INDUCTIVE_BIAS.meaning,
                    "values": VAFA_INDUCTIVE_BIAS.values,
                    "setting": VAFA_INDUCTIVE_SETTING,
                }
            },
        },
    }


@pytest.fixture
def reports(tmp_path):
    gpt, lstm = GPTConfig(n_layers=2, d_model=16, n_heads=2), LSTMConfig(n_layers=2, d_model=16)
    folders = []
    for name, cfg, top1, not_run, half in (
        ("gpt", gpt, 0.95, {}, 40.0),
        (
            "lstm",
            lstm,
            0.9,
            {"neuron_simulation": "needs MLP neurons; a lstm model has none"},
            20.0,
        ),
    ):
        folder = tmp_path / name
        folder.mkdir()
        summary = fake_summary(cfg, top1, 0.8, 0.5, not_run, half)
        (folder / "summary.json").write_text(json.dumps(summary))
        folders.append(folder)
    return folders


def test_the_comparison_reads_each_run_and_sets_it_beside_its_control(reports, tmp_path):
    result = write_comparison(reports, tmp_path / "out")
    gpt, lstm = result["runs"]
    assert (gpt["kind"], lstm["kind"]) == ("gpt", "lstm")
    rows = lstm["rows"]  # every compared stage's rows, each beside its control
    assert rows["parameters"]["model"] == build_model(LSTMConfig(n_layers=2, d_model=16)).n_params()
    assert rows["tokens seen"]["model"] == 100 * 64 * 59 and rows["training seconds"]["model"] == 60
    assert rows["top-1 legal (test games)"]["model"] == 0.9
    assert rows["top-1 legal (world-model test games)"]["random_init"] == 0.15
    key = "distinction recall (true state, sampled)"
    assert rows[key] == {"model": 0.5, "random_init": 0.25}
    assert rows["probe per square, mine/theirs linear (layer on val)"]["model"] == 0.8
    assert rows["inductive bias D-IB"] == {"model": 0.9, "random_init": None}
    assert rows["edit: share of the gap closed"]["model"] == 0.4
    assert any("lstm model's layer at a position also reaches" in n for n in result["notes"])
    assert not any("a gpt model" in n for n in result["notes"])
    assert "lstm: neuron_simulation not run: needs MLP neurons" in " ".join(result["notes"])
    text = (tmp_path / "out" / COMPARE_MD).read_text()
    assert "| top-1 legal (world-model test games) | 0.950 | 0.150 | 0.900 | 0.150 |" in text
    assert "first in tokens: lstm; first in training seconds: lstm" in text  # the dynamics'
    assert "| lstm | 0.800 | 0.900 | 0.563 ± 0.030 | 0.610 ± 0.034 |" in text  # Vafa et al.
    assert (tmp_path / "out" / "dynamics_by_kind.png").stat().st_size > 0
    assert "Mamba 9M: 98.77% per cell, 67% whole boards" in text  # othello_mamba, quoted once
    assert json.loads((tmp_path / "out" / COMPARE_JSON).read_text())["runs"][1]["kind"] == "lstm"
    assert "beam search: an illegal top move within 500 calls" in text  # the soundness rows
    assert (tmp_path / "out" / FIGURE).stat().st_size > 0


def test_an_unfinished_run_or_a_single_run_is_refused(reports, tmp_path):
    summary = json.loads((reports[1] / "summary.json").read_text())
    del summary["world_model"]
    (reports[1] / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UserError, match="lstm/summary.json: no worldmodel stage"):
        write_comparison(reports, tmp_path / "out")
    with pytest.raises(UserError, match="at least two"):
        write_comparison(reports[:1], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    summary = json.loads((reports[0] / "summary.json").read_text())
    del summary["probes"]["control_best"]
    (reports[0] / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UserError, match="gpt/summary.json: not a finished report .*control_best"):
        write_comparison(reports, tmp_path / "out")
