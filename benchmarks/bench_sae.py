"""SAE training throughput: our streamed trainer on a cache beside a plain PyTorch loop of the
same SAE on random data already in memory, and peak memory as the cache grows.

    python benchmarks/bench_sae.py [--acts data/runs/cpu/acts.h5] [--layer 4]

The plain loop is what one writes first: one tensor in RAM, shuffled batches, Adam, the same
TopK SAE and batch size, no checkpoints, no dead-feature bookkeeping. Memory: the trainer run
in a fresh process on the first third and on the whole of the cache (peak RSS of each), to show
it does not grow with the cache (it holds one chunk of games).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from probes.acts.reader import ActsFile
from probes.sae.model import SAEConfig, SparseAutoencoder
from probes.sae.train import train_sae, training_loss

ROOT = Path(__file__).resolve().parent.parent


def plain_loop(d_in: int, cfg: SAEConfig, positions: int) -> float:
    """Activations/s of a bare loop on random in-memory data."""
    torch.manual_seed(0)
    data = torch.randn(positions, d_in)
    sae = SparseAutoencoder(d_in, cfg.expansion * d_in, cfg.architecture, cfg.k)
    sae.initialise(torch.Generator().manual_seed(0), data.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    dead = torch.zeros(sae.d_sae, dtype=torch.bool)
    began = time.perf_counter()
    for batch in torch.randperm(positions).split(cfg.batch_positions):
        loss, _ = training_loss(sae, data[batch], cfg, dead)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return positions / (time.perf_counter() - began)


def peak_rss_mb(acts: str, layer: int, games: int) -> float:
    """Peak RSS of a fresh process training one epoch on the first ``games`` cached games."""
    code = f"""
import resource, tempfile
from probes.acts.reader import ActsFile
from probes.sae.model import SAEConfig
from probes.sae.train import train_sae
class Prefix(ActsFile):
    def split_rows(self, split):
        rows = super().split_rows(split)
        return rows[rows < {games}]
with ActsFile({acts!r}) as a, Prefix({acts!r}) as p, tempfile.TemporaryDirectory() as t:
    train_sae(p, p.hooks[{layer}], SAEConfig(epochs=1), t, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acts", default=str(ROOT / "data" / "runs" / "cpu" / "acts.h5"))
    parser.add_argument("--layer", type=int, default=4)
    args = parser.parse_args()
    cfg = SAEConfig(epochs=2)
    with ActsFile(args.acts) as acts:
        hook = acts.hooks[args.layer]
        d_in, n_games = acts.width(hook), acts.n_games
        with tempfile.TemporaryDirectory() as tmp:
            _, record = train_sae(acts, hook, cfg, tmp, progress=False)
    ours = record["positions"] / record["seconds"]
    plain = plain_loop(d_in, cfg, min(record["positions"], 200_000))
    print(
        f"# bench_sae  {time.strftime('%Y-%m-%d')}  {platform.processor() or 'cpu'}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}"
    )
    print(
        f"SAE: topk k={cfg.k}, {cfg.expansion}x{d_in} = {cfg.expansion * d_in} features, "
        f"batch {cfg.batch_positions}; cache {args.acts}, {hook}"
    )
    label = "streamed trainer (chunks from acts.h5, checkpoints, dead tracking)"
    print(f"{label:66s} {ours:10,.0f} activations/s")
    print(f"{'plain loop (random tensor in memory)':66s} {plain:10,.0f} activations/s")
    print(f"trainer / plain loop: {ours / plain:.2f}")
    third = n_games // 3
    small, whole = (peak_rss_mb(args.acts, args.layer, n) for n in (third, n_games))
    print(
        f"peak RSS, one epoch: {small:,.0f} MB on {third:,} games, {whole:,.0f} MB on {n_games:,}"
    )


if __name__ == "__main__":
    main()
