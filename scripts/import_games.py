"""Import championship game records (PGN export or WTHOR .wtb) into games.h5.

python scripts/import_games.py --format pgn --out data/championship.h5 WTH_*.pgn
"""

from __future__ import annotations

import argparse

from othello.common import cli
from othello.corpora.records import import_games


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("pgn", "wthor"), required=True)
    parser.add_argument("--out", required=True, help="output games.h5")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out games with an illegal move (and count them)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    report = import_games(
        args.files,
        args.format,
        args.out,
        skip_invalid=args.skip_invalid,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(
        f"imported {report.n_games:,} games to {args.out}; {report.n_invalid} invalid and "
        f"{report.n_duplicates} exact duplicates left out"
    )
    for message in report.invalid[:10]:
        print(f"  skipped {message}")


if __name__ == "__main__":
    cli.main(run)
