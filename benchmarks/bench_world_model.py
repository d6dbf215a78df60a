"""The Myhill-Nerode tests at Vafa et al.'s default sizes, timed, beside the naive sampler.

    python benchmarks/bench_world_model.py [--run data/runs/cpu] [--games data/games-cpu-seed0.h5]
        [--shapes cpu,published] [--trials 1000] [--samples 30] [--naive-trials 20] [--threads 2]

For each model (a run's, or a shape at random weights): states from ``--game-samples`` test
games, ``--trials`` compression and distinction trials of ``--samples`` continuations each
(their defaults: 10,000, 1,000, 30), every continuation drawn and judged through the model's
decoding cache (``probes.worldmodel.decoding``), timed apart from the boundaries of one and two
moves enumerated on the same trials (ours, not theirs). The baseline, measured in the same run on
``--naive-trials`` trials, is the naive sampler a first version writes: a full forward over
the whole sequence for every new token (``Acceptor.sample``); its seconds per trial are
scaled to the same trial count. Targets on 2 cores: the cpu model <= 5 minutes, the published
shape <= 20 minutes.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from othello.corpora.corpus import GamesFile, gather_rows
from othello.model.checkpoint import load_model_file
from othello.model.gpt import GPT, GPTConfig
from othello.model.run_dir import read_record
from probes.worldmodel.accept_rule import model_acceptor
from probes.worldmodel.acceptors import Acceptor, ModelAcceptor
from probes.worldmodel.nerode import (
    NerodeSettings,
    compression_trials,
    distinction_trials,
    exact_scores,
    nerode_scores,
)
from probes.worldmodel.states import state_pool

STATE = "board_and_mover"
SHAPES = {
    "cpu": GPTConfig(n_layers=4, d_model=128, n_heads=4),
    "published": GPTConfig(n_layers=8, d_model=512, n_heads=8),
}


class NaiveSampling(ModelAcceptor):
    """The same acceptor the way a first version computes it: a full forward over the whole
    sequence for every new token sampled and for every row judged."""

    sample = Acceptor.sample
    first_rejected = Acceptor.first_rejected
    next_weights = Acceptor.next_weights
    sample_judged = Acceptor.sample_judged


def timed(acceptor, pool, settings) -> tuple[float, float, dict]:
    """Seconds of Vafa et al.'s sampled tests, seconds of the enumerated boundaries on the same
    trials (drawn again from the same seed), and the sampled figures."""
    start = time.perf_counter()
    scores = nerode_scores(acceptor, pool, replace(settings, exact=False))
    sampled = time.perf_counter() - start
    rng = np.random.default_rng(settings.seed)  # nerode_scores draws these first, in this order
    comp = compression_trials(pool, settings.trials, rng)
    dist = distinction_trials(pool, settings.trials, rng)
    start = time.perf_counter()
    exact_scores(acceptor, pool, comp, dist, settings.batch_trials)
    return sampled, time.perf_counter() - start, scores


def measure(name: str, acceptor: ModelAcceptor, pool, args) -> None:
    settings = NerodeSettings(trials=args.trials, suffix_samples=args.samples, progress=False)
    seconds, exact_seconds, scores = timed(acceptor, pool, settings)
    naive = replace(settings, trials=args.naive_trials)
    baseline = NaiveSampling(acceptor.model, acceptor.rule, acceptor.cut)
    naive_seconds, naive_exact, _ = timed(baseline, pool, naive)
    scale = args.trials / args.naive_trials
    figures = " ".join(
        f"{k.split('_')[0][:4]}.{k.split('_')[1][:4]} {scores[k]['mean']:.3f}"
        for k in ("compression_precision", "distinction_precision", "distinction_recall")
    )
    print(
        f"{name:<28} sampled (Vafa et al.) {seconds:7.1f} s, naive {naive_seconds * scale:8.1f} s"
        f" ({naive_seconds * scale / seconds:5.1f}x)   enumerated {exact_seconds:6.1f} s, naive "
        f"{naive_exact * scale:8.1f} s   (naive from {args.naive_trials} trials)   {figures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run directory: its model is measured first")
    parser.add_argument("--games", default="data/games-cpu-seed0.h5")
    parser.add_argument("--shapes", default="published", help="random-weight shapes to time")
    parser.add_argument("--game-samples", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--naive-trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with GamesFile(args.games) as g:
        index = g.select("test", args.game_samples, allow_fewer=True)
        pool = state_pool(gather_rows(g.moves, index), gather_rows(g.length, index), STATE)
        val = g.select("val", 1000, allow_fewer=True)
        val_games = gather_rows(g.moves, val), gather_rows(g.length, val)
    torch.set_num_threads(args.threads)  # after numba's first kernels, which reset it
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} threads; {len(index):,} test games, {len(pool.state):,} prefixes, "
          f"{args.trials} trials x {args.samples} continuations per test")  # fmt: skip
    if args.run:  # its own accept rule (a legal_set model's threshold chosen on val games)
        target = read_record(args.run).config.get("target", "sampled")
        acceptor, _ = model_acceptor(load_model_file(args.run).eval(), target, *val_games)
        measure(f"run {args.run} ({target})", acceptor, pool, args)
    for shape in filter(None, args.shapes.split(",")):
        torch.manual_seed(0)
        measure(f"{shape} shape, random init", ModelAcceptor(GPT(SHAPES[shape]).eval()), pool, args)


if __name__ == "__main__":
    main()
