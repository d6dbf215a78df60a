"""Cache a trained model's residual stream, with board labels, over held-out games.

    python scripts/cache.py --run RUN_DIR --games PATH.h5 --out ACTS.h5 [--n-games K]
        [--control] [--dtype float16|float32] [--compression gzip|lzf] [--hooks H1,H2]

By default the games are the corpus's validation split (games the model never trained on) and
the hooks are ``blocks.{l}.hook_resid_pre`` of every block plus the last ``hook_resid_post``;
``--hooks`` names any others that hold a vector per position (``blocks.0.attn.hook_z`` is
stored flattened, heads x d_head; a transcoder's ``blocks.0.ln2.hook_normalized`` and
``blocks.0.hook_mlp_out``), an attention pattern is refused.
``--control`` caches the same architecture at random initialisation (RUN_DIR/control/model.pt),
the baseline that shows what probes find in a model that learned nothing. A killed run
resumes when started again with the same arguments.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from othello.common import cli
from othello.corpora.shards import shard_spec
from othello.model.checkpoint import MODEL, control_model
from probes.acts.writer import write_cache


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True)
    parser.add_argument("--out", required=True, help="output acts.h5")
    parser.add_argument(
        "--n-games", type=int, default=None, help="games to cache (default: the whole split)"
    )
    parser.add_argument("--split", default="val", help="corpus split to cache: train|val|test|all")
    parser.add_argument(
        "--allow-fewer", action="store_true", help="take the split's games if it holds fewer"
    )
    parser.add_argument("--control", action="store_true", help="cache the random-init control")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--compression", choices=("none", "gzip", "lzf"), default="none")
    parser.add_argument("--hooks", help="comma-separated hook names (default: residual stream)")
    parser.add_argument("--batch-games", type=int, default=256)
    parser.add_argument(
        "--shard", type=shard_spec, default=(0, 1), metavar="K/N", help="cache only shard K of N"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    shard, n_shards = args.shard
    model = control_model(args.run) if args.control else Path(args.run) / MODEL
    began = time.perf_counter()
    path = write_cache(
        model,
        args.games,
        args.out,
        n_games=args.n_games,
        corpus_split=args.split,
        allow_fewer=args.allow_fewer,
        hooks=args.hooks.split(",") if args.hooks else None,
        dtype=args.dtype,
        compression=None if args.compression == "none" else args.compression,
        batch_games=args.batch_games,
        progress=not args.no_progress,
        shard=shard,
        n_shards=n_shards,
    )
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.0f} MB) in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    cli.main(run)
