"""Train sparse autoencoders on one layer of an activation cache and score them on the board.

    python scripts/train_sae.py --acts ACTS.h5 --layer L --out SAE_DIR [--run RUN_DIR]
        [--probes PROBE_DIR] [key=value ...]
    python scripts/train_sae.py --acts ACTS.h5 --layer best --out SAES_DIR --sweep cpu
        [--control CONTROL_ACTS.h5]

Settings are SAEConfig's fields (probes/sae.py): ``architecture=topk|standard``, ``k=16``,
``expansion=8``, ``l1_coefficient=1e-3``, ``epochs=5``, ... ``--layer best`` takes the mine/theirs
probe's layer chosen on validation games. The model is the run's (``--run``; default the one
beside the cache, checked against the cache's hash). Writes SAE_DIR/cfg.json and
sae_weights.safetensors (SAELens's layout), metrics.json (explained_variance, l0,
loss_recovered, coverage_* and board_reconstruction_* per scheme, the probe beside them),
details.json, feature_pages.png; a killed run resumes from SAE_DIR/sae_checkpoint.pt. With
``--sweep NAME`` every setting of that sweep (probes/sae/stage.py) gets its own folder, the
first also on the random-init control's cache (--control), with sweep.json and sweep.md; a
sweep takes several layers too (``--layer 0,2,4`` or ``all``; ``--sweep layers`` is one TopK
SAE, ``make sae-layers``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello.common import cli, settings
from probes.sae.model import SAEConfig
from probes.sae.stage import SWEEPS, run_sae, run_sae_sweep


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="settings (key=value):\n" + settings.describe(SAEConfig()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--acts", required=True, help="activation cache (acts.h5)")
    parser.add_argument(
        "--layer", required=True, help="residual layer or 'best'; with --sweep also '0,2,4', 'all'"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--run", help="the run the cache was made from (default: beside it)")
    parser.add_argument("--probes", help="probe folder (default: beside the cache)")
    parser.add_argument("--sweep", choices=sorted(SWEEPS), help="train a named sweep")
    parser.add_argument("--control", help="the random-init control's cache (with --sweep)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="SAEConfig overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    cfg = settings.apply_overrides(SAEConfig(), args.settings)
    progress = not args.no_progress
    if args.sweep:
        results = run_sae_sweep(
            args.acts,
            args.layer,
            args.out,
            args.sweep,
            cfg,
            args.control,
            args.run,
            args.probes,
            progress,
        )
        print((Path(args.out) / "sweep.md").read_text())
        print(f"wrote {len(results)} SAEs under {args.out}")
        return
    m = run_sae(args.acts, args.layer, args.out, cfg, args.run, args.probes, progress)
    print(
        f"layer {m['layer']}: explained variance {m['explained_variance']:.3f}, L0 {m['l0']:.1f}, "
        f"loss recovered {m['loss_recovered']:.3f}, coverage (mine/theirs) "
        f"{m['coverage_mine_theirs']:.3f}, board reconstruction "
        f"{100 * m['board_reconstruction_mine_theirs']:.1f}%"
    )
    print(f"wrote {args.out}/metrics.json")


if __name__ == "__main__":
    cli.main(run)
