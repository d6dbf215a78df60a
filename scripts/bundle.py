"""Pack a finished run into the few small files a GPU slot returns, or rebuild a run from them.

    python scripts/bundle.py make --run RUN_DIR --report REPORT_DIR --out BUNDLE_DIR
    python scripts/bundle.py join --bundle BUNDLE_DIR --out RUN_DIR

``make`` writes summary.json, report.tar.gz, weights.pt.partK (bf16, at most 16 MiB each) and
weights.json (sha256 of every part); ``join`` checks them and writes RUN_DIR/model.pt
(float32), config.json, metrics.jsonl and RUN_DIR/report, a run every stage accepts.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from othello.common.files import CONTROL_DIR, DETAILS, EVAL_JSON, FIGURES_JSON, METRICS, SUMMARY
from othello.interop.bundle import join_bundle, make_bundle
from probes.figures import FIGURES

# the stage outputs beside the run that the report reads (gpu_run.sh writes them): the eval,
# the probes' metrics and figures, the control's probe metrics
OUTPUTS = (
    f"eval/{EVAL_JSON}",
    f"probes/{METRICS}",
    f"probes/{DETAILS}",
    f"probes/{FIGURES_JSON}",
    *(f"probes/{file}" for file, _ in FIGURES.values()),
    f"{CONTROL_DIR}/probes/{METRICS}",
)


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make")
    make.add_argument("--run", required=True)
    make.add_argument("--report", required=True)
    make.add_argument("--out", required=True)
    join = sub.add_parser("join")
    join.add_argument("--bundle", required=True)
    join.add_argument("--out", required=True, help="run directory to write")
    args = parser.parse_args(argv)
    if args.command == "make":
        for path in make_bundle(args.run, args.report, args.out, summary=SUMMARY, outputs=OUTPUTS):
            print(f"{path.stat().st_size / 2**20:8.2f} MiB  {path}")
    else:
        print(f"rebuilt {join_bundle(args.bundle, args.out)}")


if __name__ == "__main__":
    cli.main(run)
