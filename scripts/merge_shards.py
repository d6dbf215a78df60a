"""Merge shards made by make_games.py or cache.py with --shard K/N into one file.

    python scripts/merge_shards.py --out data/games.h5 shards/games-*.h5
    python scripts/merge_shards.py --out data/runs/cpu/acts.h5 shards/acts-*.h5

The kind (games corpus or activation cache) is read from the files. The result equals what
one machine would have written; shards of different jobs, a missing shard or a gap are
refused and nothing is written.
"""

from __future__ import annotations

import argparse
import time

from othello.common import cli
from probes.acts.merge import merge_shards


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="merged file")
    parser.add_argument("shards", nargs="+", help="shard files, in any order")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    path = merge_shards(args.shards, args.out)
    print(f"merged {len(args.shards)} shards into {path} in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    cli.main(run)
