"""Generate a synthetic corpus of uniformly-random-legal-move Othello games.

python scripts/make_games.py --n 1000000 --seed 0 --workers 2 --out data/games.h5

Across machines: run ``--shard K/N`` (K = 0..N-1) on each with the same --n and --seed, then
``python scripts/merge_shards.py --out data/games.h5 shard-*.h5`` gives the same corpus.
"""

from __future__ import annotations

import argparse
import time

from othello.common import cli
from othello.corpora.generate import generate_corpus
from othello.corpora.shards import shard_spec


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="number of games")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (same output for any)")
    parser.add_argument("--out", required=True, help="output games.h5")
    parser.add_argument("--val-fraction", type=float, default=0.01)
    parser.add_argument("--test-fraction", type=float, default=0.01)
    parser.add_argument("--chunk", type=int, default=1 << 17, help="games per written chunk")
    parser.add_argument(
        "--shard", type=shard_spec, default=(0, 1), metavar="K/N", help="write only shard K of N"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    shard, n_shards = args.shard
    began = time.perf_counter()
    path = generate_corpus(
        args.out,
        args.n,
        seed=args.seed,
        workers=args.workers,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        chunk=args.chunk,
        progress=not args.no_progress,
        shard=shard,
        n_shards=n_shards,
    )
    seconds = time.perf_counter() - began
    made = (shard + 1) * args.n // n_shards - shard * args.n // n_shards
    print(f"wrote {made:,} games to {path} in {seconds:.1f} s ({made / seconds:,.0f} games/s)")


if __name__ == "__main__":
    cli.main(run)
