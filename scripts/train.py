"""Train the Othello GPT on a games file.

    python scripts/train.py --preset cpu --games data/games.h5 --out runs/cpu [--resume]
        [--max-minutes M] [--call-steps N] [key=value ...]

Overrides such as ``lr=3e-4`` or ``n_layers=6`` change single config fields. Under
``torchrun --nproc_per_node=G`` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json

from othello.common import cli
from othello.training.config import PRESETS, preset
from othello.training.train import train


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--games", required=True, help="games.h5 to train on (train split)")
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop (with a checkpoint and model) after this much training",
    )
    parser.add_argument(
        "--call-steps",
        type=int,
        default=None,
        help="stop (with a checkpoint and model) after this many steps in this call",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    cfg = preset(args.preset, args.overrides)
    result = train(
        cfg,
        args.games,
        args.out,
        resume=args.resume,
        max_minutes=args.max_minutes,
        progress=not args.no_progress,
        call_steps=args.call_steps,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    cli.main(run)
