"""Merge activation-cache shards (cache.py --shard K/N) into one acts.h5.

    python scripts/merge_cache.py --out data/runs/cpu/acts.h5 acts-0.h5 acts-1.h5 ...

The result is the cache one process would have written (same rows, labels, probe split and
hashes); shards of another model, corpus or hook set, a missing shard or a gap are refused.
"""

from __future__ import annotations

import argparse
import sys
import time

from othello.cache import CacheError
from othello.shards import merge_caches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="merged acts.h5")
    parser.add_argument("shards", nargs="+", help="shard files, in any order")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        path = merge_caches(args.shards, args.out)
    except (CacheError, OSError) as exc:
        sys.exit(f"error: {exc}")
    print(f"merged {len(args.shards)} shards into {path} in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
