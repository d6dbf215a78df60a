"""Probe figures: accuracy by layer, per-square boards, by move, confusion, direction cosines.

    python scripts/probe_report.py --probes PROBE_DIR [--control CONTROL_PROBE_DIR] --out DIR

Reads the metrics.json and details.json that fit_probes.py wrote; writes DIR/figures.json
(the data of every figure) and one PNG per figure. The control is the same probes fitted on
the random-init model's cache.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from probes.figures import write_probe_figures


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", required=True, help="fit_probes.py output directory")
    parser.add_argument("--control", help="the random-init control's probe directory")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = write_probe_figures(args.probes, args.control, args.out)
    print(f"wrote {len(data)} figures to {args.out}")


if __name__ == "__main__":
    cli.main(run)
