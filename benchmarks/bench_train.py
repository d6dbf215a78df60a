"""Training throughput: our trainer on a preset beside a bare PyTorch loop of the same model.

    python benchmarks/bench_train.py [--preset cpu] [--steps 60]

The bare loop is what a researcher would write first: the same GPT, random token batches
already in memory, forward, backward, AdamW step. Our trainer adds streaming from games.h5,
the LR schedule, clipping, logging and checkpoints; the ratio shows what those cost. On a GPU
the model FLOPs utilisation (MFU) against the card's dense bf16 peak is printed too.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from othello.config import preset
from othello.generate import generate_corpus
from othello.model import GPT
from othello.objectives import next_move_loss
from othello.train import train

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def flops_per_token(model: GPT) -> float:
    """6 N for the weights (forward and backward) plus attention's 12 L T d (PaLM, app. B)."""
    cfg = model.cfg
    n_weights = sum(
        p.numel()
        for name, p in model.named_parameters()
        if name not in ("embed.weight", "pos_embed")
    )
    return 6 * n_weights + 12 * cfg.n_layers * cfg.n_ctx * cfg.d_model


def bare_loop(cfg, steps: int, device: torch.device) -> float:
    """Tokens/s of the plainest loop over the same model and batch size."""
    torch.manual_seed(0)
    model = GPT(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    batch = torch.randint(1, 61, (cfg.batch_size, 60), device=device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
    logged = [x["tokens_per_s"] for x in lines if "tokens_per_s" in x][1:]  # skip warm-up
    ours = sum(logged) / len(logged)
    bare = bare_loop(cfg, args.steps, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    print(
        f"# bench_train  {time.strftime('%Y-%m-%d')}  preset={args.preset}  device={name}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}"
    )
    print(
        f"model: {cfg.model.n_layers} layers, d_model {cfg.model.d_model}, "
        f"{GPT(cfg.model).n_params():,} parameters; batch {cfg.batch_size} games"
    )
    print(
        f"{'trainer (streamed games.h5, schedule, clipping, logging)':60s} {ours:12,.0f} tokens/s"
    )
    print(f"{'bare PyTorch loop (random in-memory batch)':60s} {bare:12,.0f} tokens/s")
    print(f"trainer / bare loop: {ours / bare:.2f}")
    if device.type == "cuda":
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        achieved = ours * flops_per_token(GPT(cfg.model)) / 1e12
        mfu = f"{100 * achieved / peak:.1f}% of {peak:.0f}" if peak else "peak unknown"
        print(f"model FLOPs: {achieved:.1f} TFLOP/s, MFU {mfu} TFLOP/s (dense bf16)")


if __name__ == "__main__":
    main()
