"""Training and evaluation scripts as a user runs them, and DDP under torchrun."""

from __future__ import annotations

import json

import pytest
from conftest import run_in_process, run_script

from othello import checkpoint
from othello.generate import generate_corpus


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    path = tmp_path_factory.mktemp("games") / "games.h5"
    return generate_corpus(path, 20_000, seed=11, val_fraction=0.02, progress=False)


def test_cli_train_and_evaluate(games, tmp_path):
    run = tmp_path / "run"
    trained = run_in_process(
        "train.py",
        "--preset",
        "tiny",
        "--games",
        games,
        "--out",
        run,
        "--no-progress",
        "max_steps=30",
    )
    assert trained.returncode == 0, trained.stderr
    out = run_in_process(
        "evaluate.py", "--run", run, "--games", games, "--n-games", "100", "--split", "val"
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert 0 < result["top1_legal_accuracy"] <= 1 and result["topn_set_errors"] >= 0
    assert (run / "eval" / "accuracy_by_move.png").stat().st_size > 1000


@pytest.mark.slow
def test_torchrun_two_processes_train_with_ddp(games, tmp_path):
    """DistributedDataParallel on CPU (gloo): two ranks, sharded blocks, one model."""
    run = tmp_path / "ddp"
    result = run_script(
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "scripts/train.py",
        "--preset",
        "tiny",
        "--games",
        games,
        "--out",
        run,
        "--no-progress",
        "max_steps=20",
        "threads=1",
        "block_games=4096",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint.load_model(run).cfg.n_layers == 2
    state = checkpoint.load(run / checkpoint.CHECKPOINT)
    assert len(state["data"]) == 2  # each rank's own position in its shard
