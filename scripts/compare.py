"""Beyond the transformer: one report for runs of different model kinds (make compare).

    python scripts/compare.py --reports reports/cpu reports/lstm-cpu reports/mamba-cpu \
        --out reports/compare-cpu

Each folder is a finished run's report (summary.json) with its world-model stage (make
worldmodel). Writes OUT/compare.json, OUT/compare.md and OUT/probe_by_layer.png: every kind
beside its random-init control, figure by figure, and Torres's othello_mamba table quoted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello.common import cli
from probes.report.compare import COMPARE_MD, write_comparison


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", nargs="+", required=True, help="finished report folders")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    write_comparison([Path(r) for r in args.reports], Path(args.out))
    print((Path(args.out) / COMPARE_MD).read_text())


if __name__ == "__main__":
    cli.main(run)
