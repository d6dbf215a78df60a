"""Run any registered stage on a run's files, where the run's layout keeps them (make's route).

    python scripts/run_stage.py NAME --run RUN_DIR --report REPORT_DIR --games PATH.h5
        [--cases CASES.h5] [--preset tiny|cpu|paper] [--no-progress] [key=value ...]

NAME is one of ``python -m probes.stages names`` (probes, interventions, sae, circuits,
worldmodel, ...). The stages it reads must have finished in the layout (the probes in RUN_DIR,
the others in REPORT_DIR); its folder is written there, ``metrics.json`` (or the stage's own
marker) last. Settings are the stage's (``python scripts/run_stage.py NAME --help``).
"""

from __future__ import annotations

import argparse
import sys

from othello.common import cli
from probes.stages.layout import Layout
from probes.stages.registry import names, stage
from probes.stages.runner import run_stage


def run(argv: list[str] | None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    known = argv[0] if argv and argv[0] in names() else None
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"settings of {known} (key=value):\n{stage(known).describe_settings()}"
        if known
        else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=names(), help="the stage")
    parser.add_argument("--run", required=True, help="run directory (model.pt, probes)")
    parser.add_argument("--report", required=True, help="report directory (stage folders)")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--cases", help="intervention cases file")
    parser.add_argument("--preset", help="a preset's sizes (tiny, cpu, paper) before settings")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="key=value settings of the stage")
    args = parser.parse_intermixed_args(argv)
    layout = Layout.of(args.run, args.report, args.games, args.cases)
    run_stage(args.name, layout, args.preset, args.settings, not args.no_progress)
    print(f"{args.name}: wrote {layout.folder(args.name)}")


if __name__ == "__main__":
    cli.main(run)
