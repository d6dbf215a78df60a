"""scripts/dynamics.py on a tiny run with log-spaced snapshots: the files the outside checks
read, step 0 equal to the existing stages' random-init control on the same games, a killed run
resuming from the snapshots already measured, and the refusals that write nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import run_in_process

from othello.model.checkpoint import load_model_file, save_model
from othello.model.config import GPTConfig
from othello.model.kinds import build_model
from othello.model.run_dir import snapshot_dir, snapshot_models
from probes.formation.measures import DynamicsConfig
from probes.formation.spec import TINY
from probes.stages.registry import stage
from probes.worldmodel.stage import split_games

SMALL = ["games=60", "probe_games=100", "val_games=40", "cases=30", "tune_cases=25",
         "trials=8", "suffix_samples=3", "state_games=150", "inductive_tasks=1",
         "inductive_anchors=20", "inductive_steps=10", "probe_min_steps=20"]  # fmt: skip
FIGURES = ("top1_legal", "probe_mine_theirs", "whole_board_mine_theirs",
           "compression_precision", "distinction_recall")  # fmt: skip


@pytest.fixture(scope="module")
def snap_run(tiny_corpus, tmp_path_factory):
    """A tiny run of 60 steps keeping 5 log-spaced snapshots (step 0 among them)."""
    from othello.training.config import preset
    from othello.training.train import train

    run = tmp_path_factory.mktemp("dyn") / "run"
    cfg = preset("tiny", ["max_steps=60", "snapshot_log=5", "eval_every=1000"])
    train(cfg, tiny_corpus, run, progress=False)
    return run


@pytest.fixture(scope="module")
def measured(snap_run, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("dyn-out") / "dynamics"
    done = run_in_process("dynamics.py", "--run", snap_run, "--games", tiny_corpus, "--out", out,
                          "--preset", "tiny", "--no-progress", *SMALL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_dynamics_writes_every_snapshots_figures_and_phases(measured, snap_run):
    data = json.loads((measured / "dynamics.json").read_text())
    steps = [s["step"] for s in data["snapshots"]]
    assert steps == sorted(snapshot_models(snap_run)) and steps[0] == 0 and len(steps) >= 4
    for snap in data["snapshots"]:
        assert snap["tokens"] == snap["step"] * 64 * 59  # batch 64, 59 positions
        for name in FIGURES:
            assert set(snap["figures"][name]) == {"mean", "stderr"}, name
    assert data["warnings"] == []  # the tiny corpus holds every game and case asked
    for name, p in data["phases"].items():
        assert {"half_step", "ninety_step", "sudden_share"} <= set(p), name
    first, last = data["snapshots"][0]["figures"], data["snapshots"][-1]["figures"]
    assert last["top1_legal"]["mean"] > first["top1_legal"]["mean"] + 0.2  # it learned
    assert (measured / "dynamics.png").stat().st_size > 10_000
    assert (measured / "step-000000" / "probes" / "probes.pt").exists()
    # every board figure on its own games: the flipped probe and the mine/theirs split apart
    units = np.load(measured / "units" / "step-000000.npz")
    games = units["probe_mine_theirs.num"].shape
    assert "probe_flipped" in first and units["probe_flipped.num"].shape == games
    split = ("mine_theirs_placed_colour", "mine_theirs_flipped_since")
    assert all(units[f"{name}.num"].shape == games for name in split)
    discs = sum(units[f"{name}.den"] for name in split)  # each disc in one part of the split
    assert (discs <= units["probe_mine_theirs.den"]).all() and discs.sum() > 0
    edit = last["edit_gap_closed"]  # a ratio over the natural cases, with its standard error
    assert edit["mean"] is None or edit["stderr"] is not None


def test_step_zero_is_the_random_init_control_of_the_existing_stages(
    measured, snap_run, tiny_corpus
):
    from othello.corpora.corpus import GamesFile
    from othello.model.evaluate import evaluate_games
    from othello.model.kinds import random_init

    cfg = stage("dynamics").configure("tiny", SMALL)
    step0 = json.loads((measured / "dynamics.json").read_text())["snapshots"][0]["figures"]
    control = random_init(load_model_file(snap_run))
    with GamesFile(tiny_corpus) as g:  # the world-model stage's control, same test games
        moves, length = split_games(g, "test", cfg.games, True)
    legal = evaluate_games(control, moves, length).summary()["top1_legal_accuracy"]
    assert step0["top1_legal"]["mean"] == pytest.approx(legal, abs=1e-12)
    probes_cfg = stage("probes").configure(None, [f"games={cfg.probe_games}", "progress=false"])
    probes_cfg.fit = cfg.probe_fit()  # the probe stage, the dynamics' fit, the control beside
    result = stage("probes").measure(load_model_file(snap_run), tiny_corpus, {}, probes_cfg)
    assert step0["probe_mine_theirs"]["mean"] == pytest.approx(
        result.control.best_of("mine_theirs").accuracy, abs=1e-6
    )


def test_a_killed_run_resumes_from_the_snapshots_already_measured(measured, snap_run, tiny_corpus):
    record = json.loads((measured / "snapshots.json").read_text())
    last = max(record["snapshots"], key=int)
    kept = {k: v["seconds"] for k, v in record["snapshots"].items() if k != last}
    del record["snapshots"][last]
    (measured / "snapshots.json").write_text(json.dumps(record))
    (measured / "metrics.json").unlink()
    again = run_in_process("dynamics.py", "--run", snap_run, "--games", tiny_corpus, "--out",
                           measured, "--preset", "tiny", "--no-progress", *SMALL)  # fmt: skip
    assert again.returncode == 0, again.stderr
    after = json.loads((measured / "snapshots.json").read_text())["snapshots"]
    assert {k: v["seconds"] for k, v in after.items() if k != last} == kept  # not measured again
    assert last in after and (measured / "metrics.json").exists()


@pytest.mark.parametrize("case", ["no snapshots", "another shape", "another corpus"])
def test_bad_inputs_are_one_error_line_and_nothing_written(case, snap_run, tiny_corpus, tmp_path):
    run, games = tmp_path / "run", tiny_corpus
    shutil.copytree(snap_run, run)
    if case == "no snapshots":
        shutil.rmtree(run / "snapshots")
    elif case == "another shape":
        other = build_model(GPTConfig(n_layers=1, d_model=32, n_heads=2))
        save_model(other, snapshot_dir(run, 0) / "model.pt", {"step": 0})
    else:
        from othello.corpora.generate import generate_corpus

        games = generate_corpus(tmp_path / "other.h5", 2000, seed=99, progress=False)
    out = tmp_path / "out"
    done = run_in_process("dynamics.py", "--run", run, "--games", games, "--out", out,
                          "--no-progress", *SMALL)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    named = {"no snapshots": str(run), "another shape": "model.pt", "another corpus": "other.h5"}
    assert named[case] in lines[0]
    assert not out.exists()


def test_the_tiny_preset_sizes_fit_the_tiny_corpus():
    """make's tiny corpus holds about 200 games in each of its validation and test splits."""
    cfg = DynamicsConfig(**TINY)
    assert max(cfg.games, cfg.probe_games, cfg.state_games, cfg.cases) <= 200
    assert cfg.val_games + cfg.tune_cases <= 200 and cfg.tune_cases >= 20
