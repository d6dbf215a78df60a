"""Build intervention benchmark sets with engine ground truth.

    python scripts/make_intervention_set.py --games PATH.h5 --out CASES.h5 [--n-cases 1000]
    python scripts/make_intervention_set.py --games PATH.h5 --out CASES.h5 --case 17:30:D4

Default sets: ``natural`` (positions from the corpus's test games), ``unnatural`` (positions
from greedy games, which uniformly random play rarely reaches) and ``tune`` (natural cases
from validation games, used only to choose an editor's settings). ``--case GAME:PLY:SQUARE``
(repeatable) instead writes a ``natural`` set of exactly the named cases: flip SQUARE after
move PLY (counted from 0) of game row GAME.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from othello import __version__
from othello.checkpoint import file_sha256
from othello.corpus import CorpusError, GamesFile
from othello.squares import parse_square, square_name
from probes.cases import Cases, build_sets, case_at, save_cases


def named_cases(games_path: str, specs: list[str]) -> Cases:
    parts = []
    with GamesFile(games_path) as games:
        for spec in specs:
            try:
                game, ply, square = spec.split(":")
                game, ply, square = int(game), int(ply), parse_square(square)
            except ValueError:
                message = f"--case {spec!r}: expected GAME:PLY:SQUARE, e.g. 17:30:D4"
                raise ValueError(message) from None
            if not 0 <= game < games.n_games:
                raise ValueError(f"{games_path}: game {game} is out of range ({games.n_games})")
            moves, length = games.read(game, game + 1)
            try:
                case = case_at(moves, length, 0, ply, square)
            except ValueError as exc:
                message = str(exc).replace("game 0", f"game {game}")
                raise ValueError(f"{games_path}: {message}") from None
            case.game[:] = game
            parts.append(case)
    return Cases(*(np.concatenate(c) for c in zip(*(vars(p).values() for p in parts), strict=True)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", required=True, help="games.h5 (cases from its test games)")
    parser.add_argument("--out", required=True, help="cases file to write (HDF5)")
    parser.add_argument("--n-cases", type=int, default=1000, help="cases per reported set")
    parser.add_argument("--tune-cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", action="append", default=[], metavar="GAME:PLY:SQUARE")
    args = parser.parse_args(argv)
    try:
        if args.case:
            sets = {"natural": named_cases(args.games, args.case)}
        else:
            sets = build_sets(args.games, args.n_cases, args.tune_cases, args.seed)
        attrs = {
            "games": str(Path(args.games).resolve()),
            "games_sha256": file_sha256(args.games),
            "seed": args.seed,
            "code_version": __version__,
        }
    except (CorpusError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    save_cases(sets, args.out, attrs)
    for kind, cases in sets.items():
        first = ", ".join(
            f"game {g} ply {t} flip {square_name(s)}"
            for g, t, s in zip(cases.game[:2], cases.position[:2], cases.square[:2], strict=True)
        )
        print(f"{kind:10s} {len(cases):5d} cases  (e.g. {first})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
