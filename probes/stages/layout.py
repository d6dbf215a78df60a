"""Where a run's files live: the one place that says it. ``make``, the generic stage script,
the report, the explorer and ``make compare`` find a stage's folder and a run's artefacts
here, from two roots: the run directory (``data/runs/NAME``: the model, its evaluation, the
activation caches, the probes) and the report directory (``reports/NAME``: every other
stage's folder and the report itself)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from othello.common.errors import UserError
from othello.common.files import ACTS, CONTROL_DIR, EVAL_DIR
from probes.stages.registry import stage

PLACES = ("run", "report")


@dataclass(frozen=True)
class Layout:
    """A run's two roots, its games file and (optionally) its intervention cases file."""

    run: Path
    report: Path
    games: Path | None = None
    cases: Path | None = None

    @classmethod
    def of(
        cls,
        run: str | os.PathLike,
        report: str | os.PathLike,
        games: str | os.PathLike | None = None,
        cases: str | os.PathLike | None = None,
    ) -> Layout:
        return cls(
            Path(run), Path(report), *(None if p is None else Path(p) for p in (games, cases))
        )

    def folder(self, name: str) -> Path:
        """The folder of the registered stage ``name``."""
        place = stage(name).place
        if place not in PLACES:
            raise UserError(f"stage {name!r}: place {place!r} is not one of {PLACES}")
        return (self.run if place == "run" else self.report) / name

    def control(self, name: str) -> Path:
        """The folder of stage ``name`` run on the random-init control (``run/control/...``)."""
        return self.run / CONTROL_DIR / name

    def file(self, artefact: str) -> Path:
        """A run artefact a stage reads: ``acts`` (the activation cache), ``control_acts``
        (the control's), ``cases`` (intervention cases), ``eval`` (the evaluation folder)."""
        files = {
            "acts": self.run / ACTS,
            "control_acts": self.run / CONTROL_DIR / ACTS,
            "cases": self.cases,
            "eval": self.run / EVAL_DIR,
            "games": self.games,
        }
        if artefact not in files:
            raise UserError(f"unknown run artefact {artefact!r}; known: {sorted(files)}")
        if files[artefact] is None:
            raise UserError(f"no {artefact} file given for {self.run}")
        return files[artefact]
