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

import argparse

from othello.common import cli, settings
from probes.interventions.editors import EDITORS
from probes.interventions.stage import (
    prepare,
    run_intervention_stage,
    summary_lines,
    sweep_settings,
)
from probes.interventions.sweep import SweepConfig


def run(argv: list[str] | None) -> None:
    editors = "\n".join(
        f"{name}.* ({spec.summary}):\n{settings.describe(spec.settings())}"
        for name, spec in EDITORS.items()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"settings (key=value):\n{settings.describe(SweepConfig())}\n{editors}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--probes", required=True, help="probe directory from fit_probes.py")
    parser.add_argument("--games", required=True, help="games.h5 the cases are drawn from")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--set", help="cases file from make_intervention_set.py")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="key=value settings")
    args = parser.parse_intermixed_args(argv)
    cfg, editor_settings = sweep_settings(args.settings)
    inputs = prepare(args.run, args.probes, args.games, args.set, cfg, editor_settings)
    results = run_intervention_stage(
        inputs, cfg, editor_settings, args.out, progress=not args.no_progress
    )
    print("\n".join(summary_lines(results)))
    print(f"wrote {args.out}/metrics.json in {results.seconds:.1f} s")


if __name__ == "__main__":
    cli.main(run)
