"""scripts/world_model.py on the tiny model and on the engine: the metrics.json keys the
outside checks read, and refusals (bad paths, probes of another model, a bad setting) that
write nothing."""

from __future__ import annotations

import json

import pytest
from conftest import run_in_process

from othello.model.checkpoint import control_model

SMALL = [
    "game_samples=200", "val_games=40", "nerode.trials=16", "nerode.suffix_samples=4",
    "inductive.n_tasks=2", "inductive.train_examples=40", "inductive.steps=10",
    "inductive.train_games=100", "inductive.anchors=20", "inductive.orders_per_anchor=4",
    "simulation.train_games=30", "simulation.val_games=20", "simulation.test_games=20",
    "simulation.tree_positions=400", "simulation.val_positions=200", "simulation.max_depth=3",
    "simulation.workers=1", "patch_pairs=10",
]  # fmt: skip
NERODE = ("compression_precision", "distinction_precision", "distinction_recall")


def world_model(*args) -> tuple[dict, str]:
    done = run_in_process("world_model.py", *args, "--no-progress", *SMALL)
    assert done.returncode == 0, done.stderr
    out = args[args.index("--out") + 1]
    return json.loads((out / "metrics.json").read_text()), done.stdout


def test_the_tiny_model_gets_every_figure_with_its_controls(
    tiny_run, tiny_corpus, tiny_probes, tmp_path
):
    m, stdout = world_model("--run", tiny_run, "--games", tiny_corpus, "--probes", tiny_probes,
                            "--out", tmp_path / "wm")  # fmt: skip
    for state in ("board_and_mover", "board_only"):
        for key in NERODE:
            entry = m["state"][state][key]
            assert {"mean", "stderr", "trials"} <= set(entry) and entry["trials"] == 16
            assert 0 <= entry["mean"] <= 1
    assert m["compression_precision"] == m["state"]["board_and_mover"]["compression_precision"]
    engine = m["controls"]["engine"]["state"]["board_and_mover"]
    assert all(engine[k]["mean"] == 1.0 for k in NERODE)
    assert (
        m["controls"]["input_ignoring"]["state"]["board_only"]["distinction_recall"]["mean"] < 0.2
    )
    assert set(m["whole_board_accuracy"]["mine_theirs"]["linear"]) == {"0", "1", "2"}
    assert set(m["inductive_bias"]) == {"model", "random_init"}
    assert {"r_ib", "d_ib"} <= set(m["inductive_bias"]["model"])
    assert set(m["neuron_simulation"]["layers"]) == {"0", "1"}
    assert m["attribution_patching"]["pairs"] > 0
    assert m["accept_rule"]["model"]["cut"] == 0.01  # the tiny preset is softmax-trained
    figures = [row["figure"] for row in m["verdict"]]
    assert "top-1 legal" in figures and "distinction recall (board_and_mover, sampled)" in figures
    assert "| figure | model | random-init | engine |" in stdout


def test_the_engine_scores_one(tiny_corpus, tmp_path):
    m, _ = world_model("--engine", "--games", tiny_corpus, "--out", tmp_path / "engine")
    for state in ("board_and_mover", "board_only"):
        assert all(m["state"][state][k]["mean"] == 1.0 for k in NERODE)
    assert m["subject"]["kind"] == "engine" and "inductive_bias" in m["not_run"]


@pytest.mark.parametrize("case", ["no run", "no games", "another model", "bad setting"])
def test_world_model_refuses_and_writes_nothing(case, tiny_run, tiny_corpus, tiny_probes, tmp_path):
    args = {"--run": tiny_run, "--games": tiny_corpus, "--probes": tiny_probes}
    setting = "nerode.trials=x" if case == "bad setting" else "parts=nerode"
    if case == "no run":
        args["--run"] = tmp_path / "nowhere"
    elif case == "no games":
        args["--games"] = tmp_path / "missing.h5"
    elif case == "another model":
        args["--run"] = control_model(tiny_run).parent  # its random-init control
    out = tmp_path / "out"
    flat = [str(x) for pair in args.items() for x in pair]
    done = run_in_process("world_model.py", *flat, "--out", out, "--no-progress", setting)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert not out.exists()
