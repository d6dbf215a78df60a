"""Gather every stage's results into one report, each beside the published figure.

    python scripts/report.py --run RUN_DIR --eval EVAL_DIR --probes PROBE_DIR
        --control-probes CONTROL_PROBE_DIR --probe-figures DIR --interventions DIR --out DIR

Writes DIR/summary.json (the figures of every stage and the reproduction checks),
DIR/report.md and a self-contained DIR/report.html, and prints the checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello.common import cli
from probes.circuits.stage import METRICS as CIRCUITS_METRICS
from probes.report.summary import ReportInputs
from probes.report.write import write_report
from probes.worldmodel.stage import METRICS as WORLD_MODEL_METRICS


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (config.json)")
    parser.add_argument("--eval", required=True, help="evaluate.py output directory")
    parser.add_argument("--probes", required=True, help="fit_probes.py output directory")
    parser.add_argument("--control-probes", required=True, help="the same for the control")
    parser.add_argument("--probe-figures", required=True, help="probe_report.py output")
    parser.add_argument("--interventions", required=True, help="intervene.py output")
    parser.add_argument("--sae", help="train_sae.py --sweep output (optional)")
    parser.add_argument("--circuits", help="circuits.py output (default: OUT/circuits if done)")
    parser.add_argument("--world-model", help="world_model.py output (default: OUT/worldmodel)")
    parser.add_argument("--out", required=True, help="report directory")
    args = parser.parse_args(argv)
    inputs = ReportInputs(
        args.run,
        args.eval,
        args.probes,
        args.control_probes,
        args.probe_figures,
        args.interventions,
        sae=args.sae,
        circuits=args.circuits or finished(args.out, "circuits", CIRCUITS_METRICS),
        world_model=args.world_model or finished(args.out, "worldmodel", WORLD_MODEL_METRICS),
    )
    summary = write_report(inputs, args.out)
    print(f"\n== {args.out}/report.md ==")
    for check in summary["checks"]:
        mark = "yes" if check["reproduced"] else "NO "
        print(f"[{mark}] {check['claim']}: {check['ours']} (target {check['target']})")
    print(f"report: {args.out}/report.md, {args.out}/report.html, {args.out}/summary.json")


def finished(out: str, name: str, metrics: str) -> Path | None:
    """OUT/name when its stage finished there (make circuits and make worldmodel write beside
    the report)."""
    folder = Path(out) / name
    return folder if (folder / metrics).exists() else None


if __name__ == "__main__":
    cli.main(run)
