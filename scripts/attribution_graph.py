"""One attribution graph: how the model computes one move at one position.

    python scripts/attribution_graph.py --run RUN_DIR --transcoders DIR --games PATH.h5
        --game I --ply P --move SQUARE --out FILE.json [--node-threshold 0.8]
        [--edge-threshold 0.98]
    python scripts/attribution_graph.py ... --probe SQUARE --probes PROBE_DIR --out FILE.json

The graph of the model's logit for ``--move`` (a square name, e.g. C4) after move ``--ply``
(0-based: the prefix is moves 0..P) of game ``--game`` of the games file, through the
transcoders of a finished transcoder stage (``make transcoders``: DIR holds transcoders/,
labels.json and metrics.json), pruned at the paper's thresholds. Writes FILE.json in
circuit-tracer's graph layout (``metadata``, ``qParams``, ``nodes``, ``links``: its viewer opens
it) with ``scores`` (``replacement``, ``completeness``, ``flanking_share``: the share of the
features' influence carried by features labelled on the squares the rules say decide the move,
``control_share``: the same for another legal move's squares) and FILE.png (the graph drawn
beside the board). Transcoders of another model, a ply past the game's end or a target that is
not a move: one error line, exit 1, nothing written. ``--probe SQUARE`` (with ``--probes``)
graphs the mine/theirs probe's reading of that square ("mine" minus "theirs") at the layer the
probe stage chose on validation games, instead of a move's logit (no rules' grade then).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from othello.common import cli
from othello.common.atomic import write_text


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--transcoders", required=True, help="a finished transcoder stage folder")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--game", type=int, required=True, help="game index in the file")
    parser.add_argument("--ply", type=int, required=True, help="index of the last move read")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--move", help="the target move, a square name (C4)")
    target.add_argument("--probe", help="a square whose probe reading is the target")
    parser.add_argument("--probes", help="the run's probe folder (with --probe)")
    parser.add_argument("--out", required=True, help="the graph's JSON file")
    parser.add_argument("--node-threshold", type=float, default=0.8)
    parser.add_argument("--edge-threshold", type=float, default=0.98)
    args = parser.parse_args(argv)

    from probes.graphs.api import attribution_graph, games_prefix, probe_reading
    from probes.graphs.export import graph_json, summary_line
    from probes.graphs.plots import graph_figure
    from probes.stage_spec import load_run_model

    model = load_run_model(args.run, "cpu")
    moves = games_prefix(args.games, args.game)
    target = args.move or probe_reading(model, args.probes, args.probe)
    result = attribution_graph(model, args.transcoders, moves, args.ply, target,
                               node_threshold=args.node_threshold,
                               edge_threshold=args.edge_threshold)  # fmt: skip
    data = graph_json(
        result, f"game-{args.game}-ply-{args.ply}-{(args.move or args.probe).upper()}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph_figure(data, out.with_suffix(".png"))
    write_text(out, json.dumps(data) + "\n")
    print(summary_line(data, result.seconds))
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main(run)
