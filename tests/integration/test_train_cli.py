"""Training and evaluation scripts as a user runs them, and DDP under torchrun."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_in_process, run_script

from othello.corpora.generate import generate_corpus
from othello.model import checkpoint
from othello.model.gpt import GPT
from othello.model.run_dir import CHECKPOINT
from othello.training.config import preset
from othello.training.game_stream import Batches, GameStream
from othello.training.objectives import next_move_loss
from othello.training.train import learning_rate, make_optimizer


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    path = tmp_path_factory.mktemp("games") / "games.h5"
    return generate_corpus(path, 20_000, seed=11, val_fraction=0.02, progress=False)


@pytest.mark.trains
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


def test_training_into_an_existing_run_is_one_error_line(tiny_corpus, tmp_path):
    """A run directory that holds a checkpoint is refused before anything is written, with
    one line naming it and the two ways on (--resume, another --out), not a traceback."""
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes(b"")
    result = run_in_process(
        "train.py", "--preset", "tiny", "--games", tiny_corpus, "--out", run, "--no-progress"
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {run}") and "--resume" in lines[0] and "--out" in lines[0]
    assert sorted(p.name for p in run.iterdir()) == [CHECKPOINT]


@pytest.mark.slow
def test_torchrun_two_processes_train_with_ddp(games, tmp_path):
    """DistributedDataParallel on CPU (gloo): two ranks, each on its own shard of blocks, take
    one step whose gradient is the average of theirs; one process taking the same step on
    both ranks' batches (the mean of their two losses) reaches the same weights."""
    run = tmp_path / "ddp"
    overrides = ("max_steps=1", "threads=1", "block_games=4096", "warmup_steps=1")
    result = run_script(
        "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "scripts/train.py",
        "--preset", "tiny", "--games", games, "--out", run, "--no-progress", *overrides,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    state = checkpoint.load(run / CHECKPOINT)
    assert len(state["data"]) == 2  # each rank's own position in its shard
    cfg = preset("tiny", list(overrides))
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model)
    initial = model.embed.weight.detach().clone()
    optimizer = make_optimizer(model, cfg)
    losses = []
    for rank in (0, 1):
        stream = GameStream(games, cfg.batch_size // 2, cfg.seed, "train", rank, 2, 4096)
        tokens, targets, _ = Batches(stream, cfg, torch.device("cpu")).next()
        losses.append(next_move_loss(model, tokens, targets, cfg.target))
    optimiser_step_on((losses[0] + losses[1]) / 2, model, optimizer, cfg)
    ddp_model = checkpoint.load_model_file(run)
    for name, a in model.state_dict().items():
        torch.testing.assert_close(a, ddp_model.state_dict()[name], atol=1e-6, rtol=1e-5)
    assert (model.embed.weight - initial).abs().max() > 1e-4  # the step moved the weights


def optimiser_step_on(loss, model, optimizer, cfg) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(cfg, 0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
