"""When does the world model form? Every measure at every snapshot a run kept along training.

    python scripts/dynamics.py --run RUN_DIR --games PATH.h5 --out DIR [--preset tiny]
        [key=value ...]

The run must have kept snapshots (``snapshot_log``, on by default in the CPU presets). Every
snapshot is measured on the same held-out games (behaviour: top-1 legal, top-N errors), the
same probes' games (linear probes of every board scheme, best layer chosen on validation; the
mine/theirs accuracy on discs of their placer's colour and on discs flipped since), the same
edit cases (the linear edit's share of the gap closed) and coherence tests (Myhill-Nerode,
sampled and on the enumerated two-move boundaries; inductive-bias probes). Settings are
DynamicsConfig's (probes/formation/measures.py). Writes DIR/dynamics.json (``snapshots``:
step, tokens, figures with mean and stderr; ``phases``: half_step, ninety_step, sudden_share
per figure; ``order``), DIR/dynamics.png, DIR/timeline.png and DIR/metrics.json last; a killed
run resumes from the snapshots already measured.
"""

from __future__ import annotations

from othello.common import cli
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("dynamics", __doc__)
    parser.add_argument("--run", required=True, help="run directory with snapshots/")
    parser.add_argument("--games", required=True, help="the run's games file (games.h5)")
    args = parser.parse_intermixed_args(argv)
    job = job_from_args("dynamics", args, args.run, args.games)
    run_job("dynamics", job, "dynamics.json")


if __name__ == "__main__":
    cli.main(run)
