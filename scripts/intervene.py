"""Edit the model's board along probe directions and score its legal-move predictions.

    python scripts/intervene.py --run RUN_DIR --probes PROBE_DIR --games PATH.h5 --out OUT_DIR
        [--set CASES.h5] [key=value ...]

Settings are SweepConfig's fields (probes/interventions/sweep.py), e.g. ``methods=linear``,
``layers=1,2``, ``n_cases=500``, ``later_layers=false``, and each editor's
(probes/interventions/editors.py) prefixed with its name: ``linear.scales=1,2,4``,
``gradient.probe=linear``, ``gradient.steps=50``. Cases come from --set
(scripts/make_intervention_set.py) or are drawn from --games; asking for more cases than there
are is refused (``allow_fewer=true`` takes what there is). Settings, start layers and the
headline method are chosen on the tuning cases only. Writes OUT_DIR/metrics.json, details.json,
tables.md, figures.json and the figures. Every input is checked before anything is written.
"""

from __future__ import annotations

from othello.common import cli
from probes.stages.cli import job_from_args, stage_parser
from probes.stages.registry import stage


def run(argv: list[str] | None) -> None:
    parser = stage_parser("interventions", __doc__)
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--probes", required=True, help="probe directory from fit_probes.py")
    parser.add_argument("--games", required=True, help="games.h5 the cases are drawn from")
    parser.add_argument("--set", help="cases file from make_intervention_set.py")
    args = parser.parse_intermixed_args(argv)
    inputs, files = {"probes": args.probes}, {"cases": args.set}
    job = job_from_args("interventions", args, args.run, args.games, inputs, files)
    result = stage("interventions").run(job)
    print("\n".join(stage("interventions").printed(result)))
    print(f"wrote {args.out}/metrics.json in {result.seconds:.1f} s")


if __name__ == "__main__":
    cli.main(run)
