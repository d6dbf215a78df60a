"""Fit board-state probes on an activation cache and score them on held-out games.

    python scripts/fit_probes.py --acts ACTS.h5 --out PROBE_DIR [key=value ...]

Settings are FitConfig's fields (probes/fit.py), e.g. ``epochs=5``, ``min_steps=100``,
``probes=mine_theirs/linear,legal/linear`` (scheme/kind pairs), and each probe kind's
(probes/kinds.py) prefixed with its name: ``mlp.hidden=512``, ``linear.lr=0.02``.
Writes PROBE_DIR/probes.pt
(the probes, tied to the cache's model and corpus), PROBE_DIR/metrics.json (validation and
test accuracy per scheme, kind and layer; each probe's layer chosen on validation, with
baselines) and PROBE_DIR/details.json (per-square, per-move, confusion and direction-cosine
figures).
"""

from __future__ import annotations

import argparse

import torch

from othello.common import cli, settings
from probes.fit import FitConfig
from probes.kinds import KINDS
from probes.stage import fit_settings, run_probe_stage, summary_lines


def run(argv: list[str] | None) -> None:
    kinds = "\n".join(
        f"{name}.*:\n{settings.describe(kind.settings())}" for name, kind in KINDS.items()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"settings (key=value):\n{settings.describe(FitConfig())}\n{kinds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--acts", required=True, help="activation cache (acts.h5)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="FitConfig overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    cfg, kinds = fit_settings(args.settings)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    metrics = run_probe_stage(args.acts, args.out, cfg, not args.no_progress, kinds)
    print("\n".join(summary_lines(metrics)))
    print(f"wrote {args.out}/metrics.json")


if __name__ == "__main__":
    cli.main(run)
