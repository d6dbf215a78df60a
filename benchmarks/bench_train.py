"""Training throughput: our trainer on a preset beside a bare PyTorch loop of the same model.

    python benchmarks/bench_train.py [--preset cpu] [--steps 60] [--device cuda]
        [--peak-tflops 989] [--cpu-bf16] [--snapshots 300]

The bare loop is what a researcher would write first: the same model (any kind: ``--preset
lstm-cpu``, ``mamba-cpu``), random token batches
already in memory, forward, backward, AdamW step. Our trainer adds streaming from games.h5,
the LR schedule, clipping, logging and checkpoints; the ratio shows what those cost, and the
trainer's share of time waiting for data is printed. Model FLOPs utilisation (MFU) is printed
against the device's dense peak (from the GPU's name, or --peak-tflops). --cpu-bf16 also
times bf16 autocast against float32 on the CPU, for the preset's training step and for a
forward pass of the paper shape (what the cache and interventions run), and says whether the
CPU has native bf16 (AVX512-BF16 or AMX). --snapshots N times N trainer steps with the
preset's log-spaced snapshots (snapshot_log) and without, alternating, in the same run: the
snapshots' cost (their schedule over N steps is denser than over the preset's own, so this is
an upper bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from othello.corpora.generate import generate_corpus
from othello.model.gpt import GPT
from othello.model.kinds import build_model
from othello.training.config import preset
from othello.training.flops import flops_per_token, peak_flops
from othello.training.objectives import next_move_loss
from othello.training.train import train


def bare_loop(cfg, steps: int, device: torch.device, cpu_bf16: bool = False) -> float:
    """Tokens/s of the plainest loop over the same model and batch size."""
    torch.manual_seed(0)
    model = build_model(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    batch = torch.randint(1, 61, (cfg.batch_size, 60), device=device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if device.type == "cuda" or cpu_bf16
        else nullcontext()
    )
    for step in range(steps + 5):
        if step == 5:  # warm-up excluded
            _sync(device)
            began = time.perf_counter()
        with autocast:
            loss = next_move_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return steps * cfg.batch_size * cfg.model.n_ctx / (time.perf_counter() - began)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def forward_tokens_per_s(bf16: bool, steps: int = 10) -> float:
    """Forward passes of the paper shape (8 layers, d512) over 64 games, on the CPU."""
    model = GPT(preset("paper").model).eval()
    tokens = torch.randint(1, 61, (64, 59))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with torch.inference_mode(), autocast:
        model(tokens)
        began = time.perf_counter()
        for _ in range(steps):
            model(tokens)
    return steps * tokens.numel() / (time.perf_counter() - began)


def snapshot_cost(cfg, steps: int, games: Path, rounds: int = 3) -> tuple[float, float]:
    """Median wall seconds of ``steps`` trainer steps with the preset's log-spaced snapshots
    and without them, the two runs alternating."""
    import statistics

    seconds: dict[int, list[float]] = {cfg.snapshot_log or 24: [], 0: []}
    for _ in range(rounds):
        for n in seconds:
            run_cfg = dataclasses.replace(cfg, max_steps=steps, snapshot_log=n)
            with tempfile.TemporaryDirectory() as tmp:
                began = time.perf_counter()
                train(run_cfg, games, Path(tmp) / "run", progress=False)
                seconds[n].append(time.perf_counter() - began)
    with_them, without = (statistics.median(v) for v in seconds.values())
    return with_them, without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="dense peak for MFU")
    parser.add_argument("--cpu-bf16", action="store_true", help="also time bf16 on the CPU")
    parser.add_argument("--snapshots", type=int, default=0, help="also time N steps with and "
                        "without log-spaced snapshots")  # fmt: skip
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = preset(
        args.preset,
        [
            f"max_steps={args.steps + 10}",
            "log_every=10",
            f"eval_every={10**9}",
            f"checkpoint_every={10**9}",
            *args.overrides,
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        games = generate_corpus(
            Path(tmp) / "games.h5", max(200_000, 2 * cfg.batch_size * 200), seed=0, progress=False
        )
        train(cfg, games, Path(tmp) / "run", progress=False)
        lines = [json.loads(x) for x in (Path(tmp) / "run" / "metrics.jsonl").open()]
        if args.snapshots:
            with_them, without = snapshot_cost(cfg, args.snapshots, games)
            print(f"{args.snapshots} trainer steps: {with_them:.1f} s with log-spaced snapshots, "
                  f"{without:.1f} s without ({100 * (with_them / without - 1):+.1f}%)")  # fmt: skip
    logged = [x for x in lines if "tokens_per_s" in x][1:]  # skip warm-up
    ours = sum(x["tokens_per_s"] for x in logged) / len(logged)
    wait = sum(x["data_wait_share"] for x in logged) / len(logged)
    bare = bare_loop(cfg, args.steps, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    print(
        f"# bench_train  {time.strftime('%Y-%m-%d')}  preset={args.preset}  device={name}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}"
    )
    print(
        f"model: {cfg.model.describe()}, {build_model(cfg.model).n_params():,} parameters; "
        f"batch {cfg.batch_size} games"
    )
    print(
        f"{'trainer (streamed games.h5, schedule, clipping, logging)':60s} {ours:12,.0f} tokens/s"
    )
    print(f"{'bare PyTorch loop (random in-memory batch)':60s} {bare:12,.0f} tokens/s")
    print(
        f"trainer / bare loop: {ours / bare:.2f}; trainer's time waiting for data {100 * wait:.1f}%"
    )
    peak = peak_flops(device, cfg.amp, args.peak_tflops)
    achieved = ours * flops_per_token(cfg.model)
    print(
        f"model FLOPs: {achieved / 1e12:.3f} TFLOP/s"
        + (f", MFU {100 * achieved / peak:.1f}% of {peak / 1e12:.0f} TFLOP/s" if peak else "")
    )
    if args.cpu_bf16:
        print(f"native bf16 on this CPU (AVX512-BF16 or AMX): {native_bf16()}")
        cpu = torch.device("cpu")
        fp32, bf16 = bare_loop(cfg, args.steps, cpu), bare_loop(cfg, args.steps, cpu, True)
        print(
            f"training step, float32 {fp32:,.0f} vs bf16 {bf16:,.0f} tokens/s ({bf16 / fp32:.2f}x)"
        )
        f32, b16 = forward_tokens_per_s(False), forward_tokens_per_s(True)
        print(
            f"paper-shape forward, fp32 {f32:,.0f} vs bf16 {b16:,.0f} tokens/s ({b16 / f32:.2f}x)"
        )


if __name__ == "__main__":
    main()
