"""Build intervention benchmark sets with engine ground truth.

    python scripts/make_intervention_set.py --games PATH.h5 --out CASES.h5
        [--n-cases N] [--tune-cases N]
    python scripts/make_intervention_set.py --games PATH.h5 --out CASES.h5 --case 17:30:D4

Default sets: ``natural`` (positions from the corpus's test games), ``unnatural`` (positions
from greedy games, which uniformly random play rarely reaches) and ``tune`` (natural cases
from validation games, used only to choose an editor's settings). ``--case GAME:PLY:SQUARE``
(repeatable) instead writes a ``natural`` set of exactly the named cases: flip SQUARE after
move PLY (counted from 0) of game row GAME. Sizes default to the cpu preset's
(probes/interventions/stage.py; make takes each preset's from the intervention stage).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello import __version__
from othello.common import cli
from othello.common.hashing import file_sha256
from othello.world.squares import square_name
from probes.interventions.cases import build_sets, named_cases, save_cases
from probes.interventions.stage import DRAWN_CASES, DRAWN_TUNE_CASES


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", required=True, help="games.h5 (cases from its test games)")
    parser.add_argument("--out", required=True, help="cases file to write (HDF5)")
    parser.add_argument("--n-cases", type=int, default=DRAWN_CASES, help="cases per reported set")
    parser.add_argument("--tune-cases", type=int, default=DRAWN_TUNE_CASES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", action="append", default=[], metavar="GAME:PLY:SQUARE")
    parser.add_argument(
        "--allow-fewer", action="store_true", help="take fewer cases if the splits hold fewer"
    )
    args = parser.parse_args(argv)
    if args.case:
        sets = {"natural": named_cases(args.games, args.case)}
    else:
        sets = build_sets(args.games, args.n_cases, args.tune_cases, args.seed, args.allow_fewer)
    attrs = {
        "games": str(Path(args.games).resolve()),
        "games_sha256": file_sha256(args.games),
        "seed": args.seed,
        "code_version": __version__,
    }
    save_cases(sets, args.out, attrs)
    for kind, cases in sets.items():
        first = ", ".join(
            f"game {g} ply {t} flip {square_name(s)}"
            for g, t, s in zip(cases.game[:2], cases.position[:2], cases.square[:2], strict=True)
        )
        print(f"{kind:10s} {len(cases):5d} cases  (e.g. {first})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    cli.main(run)
