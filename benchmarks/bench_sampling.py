"""Sampling throughput: continuations through the KV cache beside a full forward per token.

    python benchmarks/bench_sampling.py [--prefixes 4] [--samples 4] [--threads N] [--device cpu]

Each of --prefixes random legal game prefixes (4..55 moves, from the corpus generator) is
continued --samples times to the end of the context, every token drawn from the softmax over
the 60 move tokens (seeded). The baseline is what one writes first: a forward pass over the
whole sequence for every new token. The cached sampler prefills each prefix once, repeats its
rows with ``KVCache.select`` and then calls ``GPT.step`` once per token. Both are batched and
both run only the rows still going (rows sorted by prefix length, so those are a head). Run on
the ``cpu`` preset's shape and the published one, random weights; the two samplers' logits of
the first ``step`` call are compared, and the share of identical continuations printed.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from othello.corpora.generate import make_chunk
from othello.model.gpt import GPT, GPTConfig
from othello.model.kv_cache import KVCache
from othello.world.tokens import PAD_TOKEN, encode

SHAPES = {
    "cpu (4 layers, d128, 4 heads)": GPTConfig(n_layers=4, d_model=128, n_heads=4),
    "published (8 layers, d512, 8 heads)": GPTConfig(n_layers=8, d_model=512, n_heads=8),
}
Sampler = Callable[[GPT, torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def random_prefixes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens [n, longest] (right-padded) and lengths [n] of legal prefixes of 4..55 moves,
    sorted by length so that the rows still sampling at any step are the first ones."""
    moves, length, _ = make_chunk(seed, 0, n, 0.0, 0.0)
    want = np.random.default_rng(seed).integers(4, 56, n)
    lengths = np.sort(np.minimum(want, length))
    keep = np.arange(moves.shape[1]) < lengths[:, None]
    tokens = encode(np.where(keep, moves, -1))[:, : lengths.max()]
    return torch.as_tensor(tokens), torch.as_tensor(lengths, dtype=torch.long)


def draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row from the softmax over the move tokens (never padding)."""
    logits = logits.float().clone()
    logits[:, PAD_TOKEN] = float("-inf")
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def naive(
    model: GPT, prefixes: torch.Tensor, lengths: torch.Tensor, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A full forward over each row's sequence so far for every new token."""
    n_ctx, rows = model.cfg.n_ctx, torch.arange(len(lengths) * samples, device=lengths.device)
    positions = lengths.repeat_interleave(samples)
    seqs = torch.full((len(rows), n_ctx), PAD_TOKEN, device=lengths.device)
    seqs[:, : prefixes.shape[1]] = prefixes.repeat_interleave(samples, 0)
    generator, second = torch.Generator(lengths.device).manual_seed(0), None
    for _ in range(n_ctx - int(lengths[0])):
        n = int((positions < n_ctx).sum())
        logits = model(seqs[:n, : int(positions[n - 1])])[rows[:n], positions[:n] - 1]
        second = logits if second is None and positions[0] > lengths[0] else second
        seqs[rows[:n], positions[:n]] = draw(logits, generator)
        positions[:n] += 1
    return seqs, second


def cached(
    model: GPT, prefixes: torch.Tensor, lengths: torch.Tensor, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefill each prefix once, repeat its rows, then one step per new token."""
    n_ctx, rows = model.cfg.n_ctx, torch.arange(len(lengths) * samples, device=lengths.device)
    cache = KVCache(model.cfg, len(lengths), device=lengths.device)
    first = model.prefill(prefixes, cache)[torch.arange(len(lengths)), lengths - 1]
    repeat = torch.arange(len(lengths), device=lengths.device).repeat_interleave(samples)
    cache, logits, positions = cache.select(repeat), first[repeat], lengths[repeat]
    seqs = torch.full((len(rows), n_ctx), PAD_TOKEN, device=lengths.device)
    seqs[:, : prefixes.shape[1]] = prefixes[repeat]
    generator, second = torch.Generator(lengths.device).manual_seed(0), None
    for _ in range(n_ctx - int(lengths[0])):
        n = int((positions < n_ctx).sum())
        token = draw(logits[:n], generator)
        seqs[rows[:n], positions[:n]] = token
        more = int((positions < n_ctx - 1).sum())  # rows that will need another token
        if more:
            logits = model.step(token[:more], positions[:more], cache.head(more))
            second = logits if second is None else second
        positions[:n] += 1
    return seqs, second


def timed(
    sampler: Sampler,
    model: GPT,
    prefixes: torch.Tensor,
    lengths: torch.Tensor,
    samples: int,
    device: torch.device,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    sampler(model, prefixes[:2], lengths[:2], 1)  # warm-up
    _sync(device)
    began = time.perf_counter()
    seqs, second = sampler(model, prefixes, lengths, samples)
    _sync(device)
    return time.perf_counter() - began, seqs, second


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compare(
    cfg: GPTConfig, prefixes: torch.Tensor, lengths: torch.Tensor, samples: int, device
) -> dict:
    torch.manual_seed(0)
    model = GPT(cfg).to(device).eval()
    with torch.no_grad():
        slow, slow_seqs, slow_second = timed(naive, model, prefixes, lengths, samples, device)
        fast, fast_seqs, fast_second = timed(cached, model, prefixes, lengths, samples, device)
    n = len(fast_second)  # rows the first step call ran; the naive sampler's second forward too
    return {
        "tokens": int((model.cfg.n_ctx - lengths).sum()) * samples,
        "naive": slow,
        "cached": fast,
        "diff": float((slow_second[:n] - fast_second).abs().max()),
        "same": float((slow_seqs == fast_seqs).all(-1).float().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=4)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    device = torch.device(args.device)
    prefixes, lengths = (t.to(device) for t in random_prefixes(args.prefixes, args.seed))
    torch.set_num_threads(args.threads)  # after numba's OpenMP games, which reset the count
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    print(
        f"# bench_sampling  {time.strftime('%Y-%m-%d')}  device={name or 'cpu'}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}"
    )
    print(
        f"{args.prefixes} prefixes x {args.samples} samples, prefix lengths "
        f"{int(lengths.min())}..{int(lengths.max())}, continued to the end of the context"
    )
    print(f"{'shape':37s} {'sampler':26s} {'tokens':>7s} {'seconds':>8s} {'tokens/s':>10s}")
    for shape, cfg in SHAPES.items():
        r = compare(cfg, prefixes, lengths, args.samples, device)
        for sampler, label in (("naive", "full forward per token"), ("cached", "KV cache")):
            rate = r["tokens"] / r[sampler]
            print(f"{shape:37s} {label:26s} {r['tokens']:7d} {r[sampler]:8.2f} {rate:10,.0f}")
        print(
            f"  speed-up {r['naive'] / r['cached']:.1f}x; first step() logits vs full forward: "
            f"max |diff| {r['diff']:.1e}; identical continuations {100 * r['same']:.0f}%"
        )


if __name__ == "__main__":
    main()
