"""How long one attribution graph takes, ours beside circuit-tracer's on the same model,
transcoders, prefix and target in the same run, with the largest difference between their
shared edges (circuit-tracer 0.5 in its own environment: ``pip install -e ".[circuit]"``).

    python benchmarks/bench_graphs.py --run data/runs/cpu --transcoders reports/cpu/transcoders
        --games data/games-cpu-seed0.h5 [--positions 5]

One position per test game at move numbers spread over the game (10, 20, ...), the target the
first legal move there. Without circuit-tracer installed, ours alone is timed and the line
says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import torch

from othello.corpora.corpus import GamesFile
from othello.world.tokens import encode
from probes.graphs.api import Position, attribution_graph, games_prefix
from probes.stage_spec import load_run_model
from probes.transcoders.result import TranscoderResult


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--transcoders", required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--positions", type=int, default=5)
    args = parser.parse_args()
    model = load_run_model(args.run, "cpu")
    found = TranscoderResult.load(args.transcoders)
    with GamesFile(args.games) as g:
        rows = [int(r) for r in g.select("test", args.positions)]
    tracer = importlib.util.find_spec("circuit_tracer") is not None
    header = ("game", 6), ("ply", 4), ("features", 9), ("ours s", 8), ("c-t s", 8)
    print(" ".join(f"{name:>{width}}" for name, width in header), "max |diff| / max")
    ours_total = theirs_total = 0.0
    for i, row in enumerate(rows):
        moves = games_prefix(args.games, row)
        ply = min(10 * (i + 1), len(moves) - 2)
        position = Position.of(moves, ply)
        square = int(position.legal[0])
        began = time.perf_counter()
        result = attribution_graph(model, found.transcoders, moves, ply, square, found.labels)
        ours = time.perf_counter() - began
        line = f"{row:>6} {ply:>4} {len(result.graph.features):>9} {ours:>8.2f}"
        ours_total += ours
        if tracer:
            from probes.graphs.tracer import compare

            with tempfile.TemporaryDirectory() as folder:
                tokens = torch.as_tensor(encode(position.moves))
                both = compare(model, found.transcoders, tokens, square, Path(folder))
            theirs_total += both["seconds_circuit_tracer"]
            line += f" {both['seconds_circuit_tracer']:>8.2f} {both['relative_difference']:>17.2e}"
        print(line, flush=True)
    mean = ours_total / len(rows)
    if tracer:
        print(f"mean: ours {mean:.2f} s a graph (all of it: forward, graph, pruning, scores, "
              f"grades), circuit-tracer {theirs_total / len(rows):.2f} s (its attribute); "
              f"{theirs_total / ours_total:.1f}x")  # fmt: skip
    else:
        print(f"mean: ours {mean:.2f} s a graph; circuit-tracer is not installed (pip install "
              f'-e ".[circuit]" in an environment of its own) so it was not timed')  # fmt: skip


if __name__ == "__main__":
    main()
