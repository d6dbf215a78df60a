"""Gather every stage's results into one report, each beside the published figure.

    python scripts/report.py --run RUN_DIR --probe-figures DIR --interventions DIR --out DIR

Writes DIR/summary.json (the figures of every stage and the reproduction checks),
DIR/report.md and a self-contained DIR/report.html, and prints the checks.
"""

from __future__ import annotations

import argparse
import sys

from probes.report import write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory")
    parser.add_argument("--probe-figures", required=True, help="probe_report.py output")
    parser.add_argument("--interventions", required=True, help="intervene.py output")
    parser.add_argument("--out", required=True, help="report directory")
    args = parser.parse_args(argv)
    try:
        summary = write_report(args.run, args.probe_figures, args.interventions, args.out)
    except (FileNotFoundError, KeyError) as exc:
        sys.exit(f"error: {exc}")
    print(f"\n== {args.out}/report.md ==")
    for check in summary["checks"]:
        mark = {True: "yes", False: "NO ", None: " - "}[check["reproduced"]]
        print(f"[{mark}] {check['claim']}: {check['ours']} (target {check['target']})")
    print(f"report: {args.out}/report.md, {args.out}/report.html, {args.out}/summary.json")


if __name__ == "__main__":
    main()
