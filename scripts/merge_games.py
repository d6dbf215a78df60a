"""Merge corpus shards (make_games.py --shard K/N) into one games.h5.

    python scripts/merge_games.py --out data/games.h5 shard-0.h5 shard-1.h5 ...

The result holds the same games, lengths and splits as one make_games.py run with the same
--n and --seed; shards of different corpora, a missing shard or a gap are refused.
"""

from __future__ import annotations

import argparse
import sys
import time

from othello.corpus import CorpusError
from othello.shards import merge_games


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="merged games.h5")
    parser.add_argument("shards", nargs="+", help="shard files, in any order")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        path = merge_games(args.shards, args.out)
    except CorpusError as exc:
        sys.exit(f"error: {exc}")
    print(f"merged {len(args.shards)} shards into {path} in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
