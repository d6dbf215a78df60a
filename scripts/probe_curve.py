"""Probe every checkpoint a run kept (``snapshot_every``) to see the board appear in training.

    python scripts/probe_curve.py --run RUN_DIR --games PATH.h5 --out OUT_DIR
        [--n-games 1500] [--scheme mine_theirs]

Writes OUT_DIR/curve.json (held-out linear-probe accuracy by step and layer, with the
majority-by-move and placed-by baselines and the run's validation legal-move accuracy) and
OUT_DIR/curve.png. Started again after a kill, it keeps the checkpoints it finished.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from othello.common import cli
from probes.curve import probe_curve
from probes.plots import plot_probe_curve


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (model.pt, snapshots/)")
    parser.add_argument("--games", required=True, help="the corpus the run trained on")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--n-games", type=int, default=1500, help="held-out games to cache")
    parser.add_argument("--scheme", default="mine_theirs")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    data = probe_curve(
        args.run, args.games, args.out, args.n_games, args.scheme, not args.no_progress
    )
    out = Path(args.out)
    plot_probe_curve(data, out / "curve.png")
    for step, point in data["points"].items():
        legal = point["val_top1_legal"]
        print(
            f"step {int(step):>7,d}: best layer {point['best_layer']} "
            f"{100 * point['best']:.2f}%"
            + (f"  (val top-1 legal {100 * legal:.2f}%)" if legal is not None else "")
        )
    print(f"wrote {out}/curve.json and curve.png in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    cli.main(run)
