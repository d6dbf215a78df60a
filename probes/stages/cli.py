"""What every stage script shares: its parser's common arguments (``--out``, ``--preset``,
``--no-progress``, ``key=value`` settings, the settings listed under ``--help``) and the job
built from them, so a stage's own script names only its inputs."""

from __future__ import annotations

import argparse
import os

from probes.stage_spec import StageJob, StageResult
from probes.stages.registry import stage
from probes.stages.runner import explicit_job


def stage_parser(name: str, doc: str) -> argparse.ArgumentParser:
    """A parser for stage ``name``'s script (``doc``: the script's docstring) with the
    arguments every stage script takes; the script adds its inputs."""
    parser = argparse.ArgumentParser(
        description=doc.splitlines()[0],
        epilog="settings (key=value):\n" + stage(name).describe_settings(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--preset", help="a preset's sizes (tiny, cpu, paper) before settings")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="key=value settings")
    return parser


def job_from_args(
    name: str,
    args: argparse.Namespace,
    run: str | os.PathLike | None = None,
    games: str | os.PathLike | None = None,
    inputs: dict | None = None,
    files: dict | None = None,
) -> StageJob:
    """The checked job of a stage script's parsed arguments."""
    return explicit_job(
        name, args.out, run, games, inputs, files, args.preset, args.settings,
        not args.no_progress,
    )  # fmt: skip


def run_job(name: str, job: StageJob, written: str | None = None) -> StageResult:
    """Run the registered stage ``name`` on ``job`` and print what a stage script prints: the
    result's summary lines and the file it wrote (``written``, else the stage's done file)."""
    spec = stage(name)
    result = spec.run(job)
    print("\n".join(spec.printed(result)))
    print(f"wrote {job.out / (written or spec.done)}")
    return result
