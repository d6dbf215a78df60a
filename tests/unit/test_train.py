"""Training: the tiny preset learns, resume after a kill is exact, configs and checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

from othello.common.errors import UserError
from othello.corpora.generate import generate_corpus, make_chunk
from othello.model import checkpoint
from othello.model.kinds import random_init
from othello.model.run_dir import snapshot_dir, snapshot_models
from othello.training.config import log_snapshot_steps, preset
from othello.training.objectives import legal_move_targets, next_move_loss
from othello.training.train import learning_rate, train
from othello.world.tokens import VOCAB_SIZE, encode


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    path = tmp_path_factory.mktemp("games") / "games.h5"
    return generate_corpus(path, 20_000, seed=11, val_fraction=0.02, progress=False)


def _losses(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").open() if '"loss"' in line]


@pytest.mark.trains
def test_tiny_preset_learns(games, tmp_path):
    cfg = preset("tiny", ["max_steps=150", "eval_every=150"])
    result = train(cfg, games, tmp_path / "run", progress=False)
    losses = _losses(tmp_path / "run")
    assert losses[-1]["loss"] < losses[0]["loss"] - 0.4
    assert result["val_top1_legal_accuracy"] > 0.4  # an untrained model scores about 0.13
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["model"]["n_layers"] == 2 and len(saved["games_sha256"]) == 64
    model = checkpoint.load_model_file(tmp_path / "run")
    assert not model.training


@pytest.mark.trains
def test_resume_after_a_kill_continues_exactly(games, tmp_path):
    cfg = preset("tiny", ["max_steps=40", "log_every=1", "checkpoint_every=15", "eval_every=1000"])
    train(cfg, games, tmp_path / "full", progress=False)
    train(cfg, games, tmp_path / "cut", stop_after_steps=23, progress=False)
    assert not (tmp_path / "cut" / checkpoint.MODEL).exists()  # an unfinished run has no model
    with pytest.raises(UserError, match="--resume"):
        train(cfg, games, tmp_path / "cut", progress=False)
    train(cfg, games, tmp_path / "cut", resume=True, progress=False)
    full = {x["step"]: x["loss"] for x in _losses(tmp_path / "full")}
    cut = {x["step"]: x["loss"] for x in _losses(tmp_path / "cut")}
    assert sorted(cut) == list(range(1, 41))
    for step in range(24, 41):
        assert cut[step] == pytest.approx(full[step], rel=1e-6, abs=1e-7), step
    a = checkpoint.load_model_file(tmp_path / "full").state_dict()
    b = checkpoint.load_model_file(tmp_path / "cut").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.trains
def test_resume_refuses_a_changed_config(games, tmp_path):
    cfg = preset("tiny", ["max_steps=5", "eval_every=1000"])
    train(cfg, games, tmp_path / "run", stop_after_steps=3, progress=False)
    with pytest.raises(ValueError, match="cannot resume"):
        train(
            preset("tiny", ["max_steps=5", "lr=1e-2"]),
            games,
            tmp_path / "run",
            resume=True,
            progress=False,
        )


def test_schedule_warms_up_then_decays():
    cfg = preset("cpu", ["warmup_steps=10", "max_steps=110", "lr=1e-3", "min_lr=1e-4"])
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 9) == pytest.approx(1e-3)
    assert learning_rate(cfg, 60) == pytest.approx(5.5e-4)
    assert learning_rate(cfg, 110) == pytest.approx(1e-4)


def test_overrides_are_checked():
    cfg = preset("cpu", ["n_layers=3", "lr=5e-4", "amp=false"])
    assert cfg.model.n_layers == 3 and cfg.lr == 5e-4 and cfg.amp is False
    with pytest.raises(ValueError, match="unknown setting"):
        preset("cpu", ["learning_rate=1"])
    with pytest.raises(ValueError):
        preset("cpu", ["n_heads=5"])  # 128 is not divisible by 5
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_checkpoints_refuse_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, path)
    with pytest.raises(ValueError, match="not a loadable checkpoint"):
        checkpoint.load(path)


def test_ranks_read_disjoint_shards_of_the_corpus(games):
    from itertools import islice

    from othello.training.game_stream import GameStream

    seen = []
    for rank in (0, 1):
        stream = GameStream(games, 64, seed=0, rank=rank, world=2, block_games=4096)
        seen.append({bytes(game) for batch in islice(iter(stream), 100) for game in batch})
    assert len(seen[0]) > 3000 and len(seen[1]) > 3000
    assert not seen[0] & seen[1]


class _ConstantLogits(torch.nn.Module):
    """A stand-in model whose logits are given, to check the losses by hand."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(tokens.shape[0], tokens.shape[1], -1)


def test_legal_set_target_scores_every_square_on_its_own():
    moves, _, _ = make_chunk(3, 0, 4, 0.0, 0.0)
    tokens = torch.as_tensor(encode(moves))
    targets = legal_move_targets(moves)
    n_legal = (targets[0, 0, 1:] > 0).sum().item()  # legal replies to the first move
    assert n_legal == 3  # after any first move the second player has exactly 3 replies
    zero = _ConstantLogits(torch.zeros(1, 1, VOCAB_SIZE))
    loss = next_move_loss(zero, tokens, targets, "legal_set")
    assert loss.item() == pytest.approx(60 * math.log(2), rel=1e-6)  # p = 1/2 on each square
    # logits that put +10 on exactly the legal squares of every position score near zero
    exact = torch.where(targets[:, :, :] > 0, 10.0, -10.0)
    loss = next_move_loss(_ConstantLogits(exact), tokens, targets, "legal_set")
    assert loss.item() < 60 * math.log1p(math.exp(-10)) * 1.01
    with pytest.raises(ValueError, match="legal-move targets"):
        next_move_loss(zero, tokens, None, "legal_set")


@pytest.mark.trains
def test_snapshots_keep_the_weights_along_training(games, tmp_path):
    cfg = preset("tiny", ["max_steps=30", "snapshot_every=10", "eval_every=1000", "snapshot_log=0"])
    train(cfg, games, tmp_path / "run", progress=False)
    kept = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir())
    assert kept == ["step-000010", "step-000020", "step-000030"]
    first = checkpoint.load_model_file(snapshot_dir(tmp_path / "run", 10)).state_dict()
    last = checkpoint.load_model_file(snapshot_dir(tmp_path / "run", 30)).state_dict()
    final = checkpoint.load_model_file(tmp_path / "run").state_dict()
    assert all(torch.equal(last[k], final[k]) for k in final)
    assert not all(torch.equal(first[k], final[k]) for k in final)


@pytest.mark.trains
def test_log_spaced_snapshots_start_at_the_initialisation_and_change_nothing(games, tmp_path):
    """The tiny preset keeps its weights at log-spaced steps from step 0 (the random-init
    control's weights) to the last; the trained weights are those of a run without them."""
    steps = ["max_steps=60", "eval_every=1000", "checkpoint_every=1000"]
    train(preset("tiny", steps), games, tmp_path / "log", progress=False)
    train(preset("tiny", [*steps, "snapshot_log=0"]), games, tmp_path / "none", progress=False)
    kept = sorted(snapshot_models(tmp_path / "log"))
    assert kept == log_snapshot_steps(60, 24) and kept[0] == 0 and len(kept) >= 8
    assert not (tmp_path / "none" / "snapshots").exists()
    with_them = checkpoint.load_model_file(tmp_path / "log").state_dict()
    without = checkpoint.load_model_file(tmp_path / "none").state_dict()
    assert all(torch.equal(with_them[k], without[k]) for k in without)
    first = checkpoint.load_model_file(snapshot_dir(tmp_path / "log", 0))
    control = random_init(first)
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), control.state_dict().values(), strict=True)
    )


def test_log_snapshot_steps_are_spaced_in_log_step():
    assert (
        log_snapshot_steps(300, 24)[:6] == [0, 1, 2, 3, 4, 5]
        and log_snapshot_steps(300, 24)[-1] == 300
    )
    steps = log_snapshot_steps(5800, 24)
    # past the rounding of the small steps
    ratios = [b / a for a, b in zip(steps[8:], steps[9:], strict=False)]
    assert len(steps) == 23 and max(ratios) / min(ratios) < 1.05
    assert log_snapshot_steps(100, 0) == [] and log_snapshot_steps(100, 1) == [0]
    assert (
        preset("paper").snapshot_log == 0
        and preset("cpu").snapshot_log == preset("lstm-cpu").snapshot_log > 0
    )


@pytest.mark.trains
@pytest.mark.parametrize("kind", ["lstm", "mamba"])
def test_each_kind_trains_and_its_run_records_its_kind(games, tmp_path, kind):
    if kind == "mamba":
        pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    cfg = preset(f"{kind}-tiny", ["max_steps=60", "eval_every=60", "warmup_steps=10"])
    train(cfg, games, tmp_path / "run", progress=False)
    losses = _losses(tmp_path / "run")
    assert losses[-1]["loss"] < losses[0]["loss"] - 0.1  # it learns (the Mamba slowest at first)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["model"]["kind"] == kind
    assert checkpoint.load_model_file(tmp_path / "run", kind=kind).cfg == cfg.model


def test_the_kinds_presets_match_the_gpts_corpus_and_tokens():
    for size in ("tiny", "cpu", "paper"):
        gpt = preset(size)
        for kind in ("lstm", "mamba"):
            other = preset(f"{kind}-{size}")
            assert other.model.kind == kind and other.n_games == gpt.n_games
            assert (other.batch_size, other.target, other.seed) == (gpt.batch_size, gpt.target, 0)
            if size == "paper":  # on a GPU: the same tokens
                assert other.max_steps == gpt.max_steps
