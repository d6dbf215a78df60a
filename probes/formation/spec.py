"""The dynamics stage as a registered :class:`probes.stage_spec.Stage`: every measure of every
snapshot of a run (kept by training at log-spaced steps, ``snapshot_log``), on one fixed set of
held-out games and one fixed set of validation games for every choice, and when each capacity
forms.

In memory, :meth:`DynamicsStage.measure` takes one model (one snapshot's figures);
:func:`dynamics` a whole run (``probes.dynamics(run_dir, games)``). On files
(:meth:`DynamicsStage.run`) each snapshot is recorded as it finishes, so a killed run resumes.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from othello.common import settings as settings_lib
from othello.model.run_dir import training_target
from probes.formation.measures import DynamicsConfig, measure_snapshot
from probes.formation.plots import across_kinds
from probes.formation.report import compare_lines, section_lines
from probes.formation.results import DynamicsResult
from probes.formation.run import measure_run, unit_arrays
from probes.stage_spec import Stage, StageJob

ACROSS_KINDS = "dynamics_by_kind.png"
TINY = {
    "games": 100, "probe_games": 150, "val_games": 50, "cases": 40, "tune_cases": 30,
    "trials": 20, "suffix_samples": 4, "state_games": 150, "inductive_tasks": 1,
    "inductive_anchors": 40, "probe_min_steps": 100,
}  # fmt: skip


class DynamicsStage(Stage):
    name = "dynamics"
    question = "When does the world model form along training?"
    config = DynamicsConfig
    presets = {"tiny": TINY}
    compared = True
    order = 60

    def measure(self, model, games, inputs: dict, cfg: DynamicsConfig) -> DynamicsResult:
        """One model's figures (a run of one snapshot, step 0; no phases)."""
        measured = measure_snapshot(model, games, cfg, cfg.target or "sampled")
        figures = {k: {"mean": f.mean, "stderr": f.stderr} for k, f in measured.figures.items()}
        snapshot = {0: {"step": 0, "tokens": 0, "figures": figures}}
        units = {0: unit_arrays(measured.figures)}
        return DynamicsResult.assemble(snapshot, units, None, asdict(cfg))

    def run(self, job: StageJob) -> DynamicsResult:
        return dynamics(job.run, job.games, job.out, job.cfg)

    def load(self, folder: str | os.PathLike) -> DynamicsResult:
        return DynamicsResult.load(folder)

    def section(self, part: dict) -> list[str]:
        return section_lines(part)

    def printed(self, result: DynamicsResult) -> list[str]:
        return section_lines(result.summary())[2:]

    def compare_rows(self, part: dict) -> dict[str, dict[str, Any]]:
        phases = part["phases"]
        rows = {}
        for name in ("top1_legal", "probe_mine_theirs", "whole_board_mine_theirs"):
            half = phases.get(name, {}).get("half_step")
            rows[f"step at 50% of the rise: {name}"] = {"model": half, "random_init": None}
        return rows

    def compare_lines(self, parts: dict[str, dict]) -> list[str]:
        return compare_lines(parts)

    def compare_figures(self, parts: dict[str, dict], out: Path) -> dict[str, str]:
        across_kinds(parts, out / ACROSS_KINDS)
        return {"Every measure along training, each kind": ACROSS_KINDS}


def dynamics(
    run: str | os.PathLike,
    games: str | os.PathLike,
    out: str | os.PathLike | None = None,
    cfg: DynamicsConfig | None = None,
    **settings,
) -> DynamicsResult:
    """Every snapshot of ``run`` measured on ``games``, the curves, phases and order; with
    ``out`` each snapshot is recorded as it finishes (a killed call resumes) and the folder
    written; ``settings``: DynamicsConfig fields as ``key=value`` words' values."""
    cfg = cfg or settings_lib.apply_overrides(
        DynamicsConfig(), [f"{k}={v}" for k, v in settings.items()]
    )
    run, games = Path(run), Path(games)
    target = cfg.target or training_target(run)
    folder = None if out is None else Path(out)
    snapshots, units = measure_run(run, games, folder, cfg, target)
    result = DynamicsResult.assemble(snapshots, units, str(run), asdict(cfg))
    if folder is not None:
        result.save(folder)
    return result
