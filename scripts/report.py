"""Gather every stage's results into one report, each beside the published figure.

    python scripts/report.py --run RUN_DIR --out REPORT_DIR [--eval DIR] [--STAGE DIR ...]

Each registered stage (probes.stages: --probes, --interventions, --sae, --circuits,
--worldmodel, ...) is read from its folder in the run's layout (the probes in RUN_DIR, the
others in REPORT_DIR) or from the folder given; the probes and interventions are needed, the
others are added when they finished. Writes REPORT_DIR/summary.json (the figures of every stage
and the reproduction checks), report.md and a self-contained report.html, and prints the checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello.common import cli
from probes.report.summary import ReportInputs
from probes.report.write import write_report
from probes.stages.layout import Layout
from probes.stages.registry import ordered


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (config.json)")
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--eval", help="evaluate.py output (default: RUN_DIR/eval)")
    for spec in ordered():
        parser.add_argument(f"--{spec.name}", help=f"{spec.name} folder (default: the layout's)")
    args = parser.parse_args(argv)
    layout = Layout.of(args.run, args.out)
    folders = {spec.name: getattr(args, spec.name) for spec in ordered()}
    inputs = ReportInputs.from_layout(layout, folders)
    if args.eval:
        inputs.eval_dir = Path(args.eval)
    summary = write_report(inputs, args.out)
    print(f"\n== {args.out}/report.md ==")
    for check in summary["checks"]:
        mark = "yes" if check["reproduced"] else "NO "
        print(f"[{mark}] {check['claim']}: {check['ours']} (target {check['target']})")
    print(f"report: {args.out}/report.md, {args.out}/report.html, {args.out}/summary.json")


if __name__ == "__main__":
    cli.main(run)
