"""Neuron atlas time: trees for every MLP neuron (and both controls) of a model, beside a plain
forward pass over the same games; and the explorer's neuron page latency.

    python benchmarks/bench_circuits.py [--shape cpu|paper|both|none] [--workers N]
        [--explorer] [--run data/runs/cpu --probes DIR --circuits DIR --games PATH.h5]

Shapes: the ``cpu`` preset's (4 layers, d_model 128, 512 neurons per layer) and the published
one (8 layers, d_model 512, 2,048 neurons per layer), both with *random weights* and random
probe directions: the atlas's cost depends on the shape and the sample sizes, not on what the
weights learned (a tree's cost is its sorting of the same binary features). Settings are
CircuitsConfig's defaults (4,000 training positions, depth up to 8, 128 control neurons per
layer and control). Targets (issue "circuits"): cpu shape <= 5 min, published <= 30 min on
2 cores. ``--explorer``: the neuron page (/api/neuron, median of 20 through Flask's test
client) of the run given, or of a random ``cpu``-shape model with a small circuits folder made
here (target <= 200 ms for the cpu model), beside the other circuit routes.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from bench_explore import median_ms, random_run
from probes.circuits.stage import CircuitsConfig, atlas_settings, run_circuits, split_rows

from othello.corpora.corpus import GamesFile
from othello.corpora.generate import generate_corpus
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from probes.circuits.atlas import run_atlas
from probes.circuits.directions import MAPS
from probes.circuits.passes import atlas_samples
from probes.circuits.positions import batches
from probes.explorer.api import open_explorer
from probes.explorer.server import create_app

SHAPES = {
    "cpu": GPTConfig(n_layers=4, d_model=128, n_heads=4),
    "paper": GPTConfig(n_layers=8, d_model=512, n_heads=8),
}


@torch.no_grad()
def forward_seconds(model: GPT, games: GamesFile, rows: dict, batch_games: int) -> float:
    """One plain forward pass over every game the atlas reads (train, val and test rows)."""
    began = time.perf_counter()
    for split_rows_ in rows.values():
        for batch in batches(games, split_rows_, batch_games):
            model(batch.tokens())
    return time.perf_counter() - began


def atlas_seconds(shape: str, games_path: Path, workers: int) -> tuple[float, float, float, int]:
    """(atlas wall seconds, its CPU seconds over every thread, forward seconds, neurons) for a
    random model of ``shape``. CPU seconds do not depend on what else the machine runs: on an
    idle machine of C cores the wall time is about CPU / C."""
    torch.manual_seed(0)
    model, control = GPT(SHAPES[shape]).eval(), GPT(SHAPES[shape]).eval()
    cfg = CircuitsConfig(workers=workers)
    layers = list(range(model.cfg.n_layers))
    d = model.cfg.d_model
    directions = {layer: {m: torch.randn(d, 64) for m in MAPS} for layer in layers}
    with GamesFile(games_path) as g:
        rows = split_rows(g, cfg)
        forward = forward_seconds(model, g, rows, cfg.batch_games)
        began, cpu = time.perf_counter(), time.process_time()
        sizes = {"train": cfg.tree_positions, "val": cfg.val_positions, "test": cfg.test_positions}
        samples = atlas_samples(
            (model, control),
            g,
            rows,
            sizes,
            layers,
            cfg.control_neurons,
            cfg.seed,
            cfg.batch_games,
            True,
        )
        run_atlas(model, directions, samples, layers, atlas_settings(cfg), True)
        atlas, cpu = time.perf_counter() - began, time.process_time() - cpu
    return atlas, cpu, forward, model.cfg.mlp_width * len(layers)


def random_cpu_run(tmp: Path, games: Path) -> tuple[Path, Path, Path]:
    """A random ``cpu``-shape run with random linear probes and a small circuits folder."""
    torch.manual_seed(0)
    random_run(tmp, GPT(SHAPES["cpu"]).eval(), "3", mlp=False)
    small = CircuitsConfig(
        tree_positions=500,
        val_positions=300,
        test_positions=300,
        max_depth=3,
        control_neurons=8,
        patch_pairs=10,
        ablation_games=10,
    )
    run_circuits(tmp / "run", games, tmp / "probes", tmp / "circuits", small, progress=False)
    return tmp / "run", tmp / "probes", tmp / "circuits"


def explorer_latency(run, games, probes, circuits) -> None:
    """Median latency of the circuit routes at one position of a test game."""
    explorer = open_explorer(run, [games], probes, {"circuits": circuits})
    client = create_app(explorer).test_client()
    game, ply = int(explorer.test_rows[0][0]), 30
    routes = {
        "neuron page (/api/neuron)": f"/api/neuron?game={game}&ply={ply}&layer=2&neuron=7",
        "most active neurons (/api/neurons)": f"/api/neurons?game={game}&ply={ply}",
        "logit attribution (/api/attribution)": f"/api/attribution?game={game}&ply={ply}",
    }
    for label, url in routes.items():
        assert client.get(url).status_code == 200, client.get(url).json
        print(f"  {label:40s} {median_ms(lambda url=url: client.get(url)):8.1f} ms")
    for at in (ply, 20, 40, 12, 50):  # a position with a one-move-different pair to patch
        url = f"/api/patching?game={game}&ply={at}"
        answer = client.get(url)
        if answer.status_code == 200:
            ms = median_ms(lambda url=url: client.get(url), 5)
            print(f"  {f'patching (/api/patching, ply {at})':40s} {ms:8.1f} ms")
            return
        print(f"  patching at ply {at}: {answer.json['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("cpu", "paper", "both", "none"), default="both")
    parser.add_argument("--workers", type=int, default=0, help="tree threads (0: every core)")
    parser.add_argument("--explorer", action="store_true", help="time the neuron page too")
    for name in ("--run", "--probes", "--circuits", "--games"):
        parser.add_argument(name, help="a real run for --explorer (default: a random cpu shape)")
    args = parser.parse_args()
    workers = args.workers or os.cpu_count() or 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}, tree workers {workers}; random weights"
    )
    with tempfile.TemporaryDirectory() as tmp:
        games = generate_corpus(
            Path(tmp) / "games.h5",
            3000,
            seed=0,
            val_fraction=0.1,
            test_fraction=0.1,
            progress=False,
        )
        shapes = {"both": ("cpu", "paper"), "none": ()}.get(args.shape, (args.shape,))
        for shape in shapes:
            atlas, cpu, forward, neurons = atlas_seconds(shape, games, workers)
            target = 300 if shape == "cpu" else 1800
            print(
                f"{shape:>5} shape: atlas {atlas:7.1f} s for {neurons:,} neurons "
                f"({1000 * atlas / neurons:.1f} ms/neuron; target <= {target} s), plain "
                f"forward over the same games {forward:.2f} s; atlas CPU {cpu:.0f} s over all "
                f"threads (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
            )
        if args.explorer:
            if args.run:
                print(f"explorer on {args.run}:")
                explorer_latency(args.run, args.games, args.probes, args.circuits)
            else:
                print("explorer on a random cpu-shape model (4 layers, d_model 128):")
                run, probes, circuits = random_cpu_run(Path(tmp), games)
                explorer_latency(run, games, probes, circuits)


if __name__ == "__main__":
    main()
