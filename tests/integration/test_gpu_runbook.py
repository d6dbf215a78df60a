"""The GPU runbook's dry run on the CPU: the same script and steps with the tiny preset and
the GPU run's training paths (torch.compile, bf16 autocast, batches prepared ahead in a
thread), short training calls that resume twice, and the bundle a slot brings back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import TESTS

from othello.interop.bundle import MAX_FILE_BYTES, MAX_FILES, BundleError, join_bundle
from othello.model.checkpoint import load_model_file
from othello.model.evaluate import evaluate_run
from othello.training.config import TrainConfig
from othello.training.train import train
from probes.acts.writer import write_cache

PAPER_PATHS = (
    "compile=true",
    "compile_backend=aot_eager",
    "amp_on_cpu=true",
    "prefetch=4",
    "batch_size=16",
)


def gpu_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/gpu_run.sh", *args], capture_output=True, text=True,
        cwd=TESTS.parent, timeout=1200,
    )  # fmt: skip


@pytest.mark.trains
def test_dry_run_of_the_whole_runbook(tmp_path):
    out = tmp_path / "out"
    # 30 steps in calls of 12: two resumes on any machine (no step count follows from speed);
    # compiled (aot_eager: inductor's tracing without its code generation), bf16 autocast on
    # the CPU and prefetching, as the paper preset trains on a GPU
    settings = [
        "PRESET=tiny", f"WORK={tmp_path}/work", f"OUT={out}", "BUDGET_MINUTES=30",
        "MAX_STEPS=30", "CALL_STEPS=12", "CALIBRATE_STEPS=30",
        f"TRAIN_ARGS={' '.join(PAPER_PATHS)}",
        "PROBES_ARGS=min_steps=30 probes=mine_theirs/linear",
        "INTERVENTIONS_ARGS=methods=linear linear.scales=1,2",
    ]  # fmt: skip
    done = gpu_run("all", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "training will run max_steps=30" in done.stdout
    assert done.stdout.count("training continues") == 2  # 12, 24, then 30: finished
    files = sorted(p.name for p in out.iterdir())
    assert "summary.json" in files and "report.tar.gz" in files and "weights.json" in files
    assert any(name.startswith("weights.pt.part") for name in files)
    assert len(files) <= MAX_FILES and all(
        p.stat().st_size <= MAX_FILE_BYTES for p in out.iterdir()
    )

    # the joined model is the one an uninterrupted run trains, in bf16
    run = join_bundle(out, tmp_path / "joined").parent
    config = TrainConfig.from_dict(
        json.loads((out / "weights.json").read_text())["run_config"]["config"]
    )
    assert config.compile and config.amp_on_cpu and config.prefetch == 4  # the GPU's paths
    train(config, tmp_path / "work" / "games-tiny.h5", tmp_path / "straight", progress=False)
    straight, joined = load_model_file(tmp_path / "straight"), load_model_file(run)
    for (name, a), b in zip(
        straight.state_dict().items(), joined.state_dict().values(), strict=True
    ):
        assert torch.equal(a.to(torch.bfloat16).float(), b), name
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["training"]["steps"] == config.max_steps
    assert (run / "eval" / "eval.json").exists() and (run / "metrics.jsonl").exists()

    # later stages accept the joined run on a CPU
    games = tmp_path / "work" / "games-tiny.h5"
    assert evaluate_run(run, games, tmp_path / "eval", n_games=50)["games"] == 50
    write_cache(run, games, tmp_path / "acts.h5", n_games=30, progress=False)

    # a damaged part is refused, naming it
    part = out / "weights.pt.part0"
    damaged = bytearray(part.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    part.write_bytes(bytes(damaged))
    try:
        join_bundle(out, tmp_path / "bad")
    except BundleError as exc:
        assert "weights.pt.part0: sha256" in str(exc)
    else:
        raise AssertionError("a corrupted part was accepted")
    assert not Path(tmp_path / "bad" / "model.pt").exists()
