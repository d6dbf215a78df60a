"""Legal-move accuracy of a trained run on held-out games.

    python scripts/evaluate.py --run RUN_DIR --games PATH.h5 [--n-games K] [--split test]

Prints one JSON object (top1_legal_accuracy, topn_set_errors, ...) and writes it, with a plot
of accuracy by move number, to RUN_DIR/eval/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from othello.atomic import write_text
from othello.checkpoint import load_model
from othello.corpus import SPLIT_NAMES, GamesFile
from othello.evaluate import LegalityCounts, evaluate_games
from othello.plots import accuracy_by_move


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True)
    parser.add_argument("--n-games", type=int, default=10_000)
    parser.add_argument(
        "--split",
        choices=(*SPLIT_NAMES, "all"),
        default="test",
        help="which games to score (default: the held-out test split)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(args.run, device)
    counts = LegalityCounts.zeros()
    with GamesFile(args.games) as games:
        if args.split == "all":
            index = np.arange(min(args.n_games, games.n_games))
        else:
            index = games.split_indices(args.split)[: args.n_games]
        if len(index) == 0:
            sys.exit(f"error: {args.games} has no games in split {args.split!r}")
        for start in range(0, len(index), 4096):
            part = index[start : start + 4096]
            counts.add(
                evaluate_games(model, games.moves[part], games.length[part], args.batch_size)
            )
    summary = {"games": int(len(index)), "split": args.split, **counts.summary()}
    out = Path(args.run) / "eval"
    out.mkdir(exist_ok=True)
    write_text(out / "eval.json", json.dumps(summary, indent=2) + "\n")
    accuracy_by_move(
        summary["top1_legal_accuracy_by_move"],
        out / "accuracy_by_move.png",
        f"{Path(args.run).name}: top-1 legal {100 * summary['top1_legal_accuracy']:.2f}%",
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
