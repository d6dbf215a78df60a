"""Fit board-state probes on an activation cache and score them on held-out games.

    python scripts/fit_probes.py --acts ACTS.h5 --out PROBE_DIR [--control CONTROL_ACTS.h5]
        [key=value ...]

Settings are FitConfig's fields (probes/fit.py), e.g. ``epochs=5``, ``min_steps=100``,
``probes=mine_theirs/linear,legal/linear`` (scheme/kind pairs), and each probe kind's
(probes/kinds.py) prefixed with its name: ``mlp.hidden=512``, ``linear.lr=0.02``.
Writes PROBE_DIR/probes.pt (the probes, tied to the cache's model and corpus),
PROBE_DIR/metrics.json (validation and test accuracy per scheme, kind and layer; each probe's
layer chosen on validation, with baselines), PROBE_DIR/details.json (per-square, per-move,
confusion and direction-cosine figures) and the figures; with --control, the same probes
fitted on the random-init control's cache go to the control folder beside PROBE_DIR
(RUN/control/probes for RUN/probes) and into the figures.
"""

from __future__ import annotations

import torch

from othello.common import cli
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("probes", __doc__)
    parser.add_argument("--acts", required=True, help="activation cache (acts.h5)")
    parser.add_argument("--control", help="the random-init control's cache")
    args = parser.parse_intermixed_args(argv)
    files = {"acts": args.acts, "control_acts": args.control}
    job = job_from_args("probes", args, files=files)
    if job.cfg.fit.threads:
        torch.set_num_threads(job.cfg.fit.threads)
    run_job("probes", job)


if __name__ == "__main__":
    cli.main(run)
