"""Legal-move accuracy of a trained run on held-out games.

    python scripts/evaluate.py --run RUN_DIR --games PATH.h5 [--out DIR] [--n-games K]
        [--split test] [--allow-fewer]

Prints one JSON object (top1_legal_accuracy, topn_set_errors, ...) and writes it, with a plot
of accuracy by move number, to DIR (default RUN_DIR/eval). Without --n-games every game of the
split is scored, at most 10,000; asking for more games than the split holds is refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from othello.common import cli
from othello.corpora.corpus import SPLIT_NAMES
from othello.model.evaluate import evaluate_run


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True)
    parser.add_argument("--out", help="output directory (default RUN_DIR/eval)")
    parser.add_argument("--n-games", type=int, default=None)
    parser.add_argument(
        "--split",
        choices=(*SPLIT_NAMES, "all"),
        default="test",
        help="which games to score (default: the held-out test split)",
    )
    parser.add_argument("--allow-fewer", action="store_true")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    if not Path(args.run).is_dir():
        raise FileNotFoundError(f"{args.run}: no such run directory")
    summary = evaluate_run(
        args.run,
        args.games,
        args.out or Path(args.run) / "eval",
        args.n_games,
        args.split,
        args.allow_fewer,
        args.batch_size,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    cli.main(run)
