"""The probe stage as a registered :class:`probes.stage_spec.Stage`: linear and MLP probes for
the board (mine/theirs, black/white, flipped, legal) at every layer, for the model and its
random-init control, with their figures.

In memory (:meth:`ProbeStage.measure`) it caches the activations of ``cfg.games`` games and
fits on them; on files (:meth:`ProbeStage.run`) it streams the run's ``acts.h5`` caches. A
probe folder holds the model's fit (``probes.pt``, ``details.json``, the figures,
``metrics.json`` last); the control's fit lies in the run's control folder
(:func:`control_folder`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import probes.figures as probe_figures
from othello.common import settings as settings_lib
from othello.common.errors import UserError
from othello.common.files import CONTROL_DIR
from othello.model.kinds import random_init
from probes.acts.memory import cache_activations
from probes.acts.reader import ActsFile
from probes.fit import FitConfig, Probes
from probes.kinds import KINDS, default_settings
from probes.probe_metrics import ProbeMetrics
from probes.probe_section import compare_rows, compare_series, probe_section, probe_summary
from probes.probe_stage import ProbeFit, fit_source, summary_lines
from probes.stage_spec import Stage, StageJob
from probes.store import load_probes

OWN = ("games", "split", "dtype", "control", "progress")  # ProbeStageConfig's own keys


@dataclass
class ProbeStageConfig:
    """The probe stage's settings: which games' activations the probes read, whether the
    random-init control is probed beside the model, the fit and each probe kind's settings
    (``epochs=5``, ``mlp.hidden=512``: :class:`probes.fit.FitConfig`, probes/kinds.py)."""

    games: int = 3000  # games whose activations the probes read
    split: str = "val"  # the corpus split they come from (the model never trained on it)
    dtype: str = "float16"  # activations rounded as the cache stores them
    control: bool = True  # fit the same probes on the random-init control
    progress: bool = True
    fit: FitConfig = field(default_factory=FitConfig)
    kinds: dict[str, Any] = field(default_factory=default_settings)


def control_folder(folder: str | os.PathLike) -> Path:
    """Where the control's probes of a probe folder lie: ``RUN/control/probes`` beside
    ``RUN/probes``, as the control's model lies in ``RUN/control``."""
    folder = Path(folder)
    return folder.parent / CONTROL_DIR / folder.name


@dataclass
class ProbeResult:
    """The model's probe metrics and its control's; with the fits themselves while they are
    held in memory (before :meth:`save`)."""

    metrics: ProbeMetrics
    control: ProbeMetrics | None = None
    fit: ProbeFit | None = None
    control_fit: ProbeFit | None = None

    @classmethod
    def held(cls, fit: ProbeFit, control_fit: ProbeFit | None = None) -> ProbeResult:
        """A result in memory, from its fits."""
        control = None if control_fit is None else ProbeMetrics.from_dict(control_fit.metrics)
        return cls(ProbeMetrics.from_dict(fit.metrics), control, fit, control_fit)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ProbeResult:
        control = control_folder(folder)
        has_control = ProbeStage().finished(control)
        return cls(ProbeMetrics.load(folder), ProbeMetrics.load(control) if has_control else None)

    @property
    def folder(self) -> Path | None:
        return self.metrics.folder

    def probes(self, model_sha256: str | None = None) -> tuple[Probes, dict]:
        """The fitted probes and what probes.pt records beside them (refused when fitted on
        another model than ``model_sha256``)."""
        if self.fit is not None:
            return self.fit.probes, self.fit.meta
        return load_probes(self.folder, model_sha256=model_sha256)

    def save(self, folder: str | os.PathLike) -> None:
        """The control's folder first, then the figures and the model's folder, whose
        metrics.json is written last."""
        if self.fit is None:
            raise UserError(f"{self.folder}: probes read from a folder are saved already")
        folder = Path(folder)
        if self.control_fit is not None:
            self.control_fit.save(control_folder(folder))
        probe_figures.draw_figures(self.metrics, self.fit.details, self.control, folder)
        self.fit.save(folder)
        self.metrics = ProbeMetrics.load(folder)
        if self.control_fit is not None:
            self.control = ProbeMetrics.load(control_folder(folder))

    def summary(self) -> dict:
        return probe_summary(self.metrics, self.control)

    def figures(self) -> dict[str, Path]:
        return probe_figures.drawn(self.folder) if self.folder else {}


class ProbeStage(Stage):
    name = "probes"
    question = "Is the board linearly decodable from the residual stream, layer by layer?"
    config = ProbeStageConfig
    presets = {"tiny": {"games": 150}}
    files = ("acts", "control_acts")
    place = "run"
    in_report = True
    compared = True
    order = 10

    def parse(self, words: list[str]) -> ProbeStageConfig:
        """The stage's own keys (:data:`OWN`), ``KIND.key=value`` for a probe kind, the rest
        FitConfig's."""
        own = [w for w in words if w.partition("=")[0] in OWN]
        rest = [w for w in words if w.partition("=")[0] not in OWN]
        cfg = settings_lib.apply_overrides(ProbeStageConfig(), own)
        plugins = {name: kind.settings for name, kind in KINDS.items()}
        fit, kinds = settings_lib.apply_with_plugins(FitConfig(), rest, plugins)
        return dataclasses.replace(cfg, fit=fit, kinds=kinds)

    def describe_settings(self) -> str:
        kinds = "\n".join(
            f"{name}.*:\n{settings_lib.describe(kind.settings())}" for name, kind in KINDS.items()
        )
        own = {k: getattr(ProbeStageConfig(), k) for k in OWN}
        return (
            "\n".join(f"  {k}={v!r}" for k, v in own.items())
            + "\n"
            + (f"{settings_lib.describe(FitConfig())}\n{kinds}")
        )

    def measure(self, model, games, inputs: dict, cfg: ProbeStageConfig) -> ProbeResult:
        """Probes of ``model`` (and of its random-init control) on activations held in
        memory; nothing is written."""
        fits = [fit_in_memory(model, games, cfg)[0]]
        if cfg.control:
            fits.append(fit_in_memory(random_init(model), games, cfg)[0])
        return ProbeResult.held(*fits)

    def run(self, job: StageJob) -> ProbeResult:
        """Probes of the run's activation cache (and of its control's, when the job has one
        and ``control`` is on), streamed from the files."""
        cfg: ProbeStageConfig = job.cfg
        fits = [_fit_file(job.files["acts"], cfg)]
        if cfg.control and "control_acts" in job.files:
            fits.append(_fit_file(job.files["control_acts"], cfg))
        result = ProbeResult.held(*fits)
        result.save(job.out)
        return result

    def load(self, folder: str | os.PathLike) -> ProbeResult:
        return ProbeResult.load(folder)

    def section(self, part: dict) -> list[str]:
        return probe_section(part)

    def compare_rows(self, part: dict) -> dict[str, dict[str, Any]]:
        return compare_rows(part)

    def compare_series(self, part: dict) -> dict[str, dict]:
        return compare_series(part)

    def printed(self, result: ProbeResult) -> list[str]:
        lines = summary_lines(result.metrics)
        if result.control is not None:
            best = (
                result.control.best_of("mine_theirs")
                if any(k.scheme == "mine_theirs" for k in result.control.best)
                else None
            )
            if best is not None:
                lines.append(f"random-init control, mine_theirs linear: {100 * best.accuracy:.2f}%")
        return lines


def fit_in_memory(model, games, cfg: ProbeStageConfig):
    """The probes of ``cfg`` fitted on ``model``'s activations of ``cfg.games`` games, held in
    memory (rounded to ``cfg.dtype`` as the cache stores them); returns the fit and the
    activations."""
    source = cache_activations(
        model, games, cfg.games, cfg.split, dtype=cfg.dtype, progress=cfg.progress
    )
    return fit_source(source, cfg.fit, cfg.kinds, cfg.progress), source


def _fit_file(acts: Path, cfg: ProbeStageConfig) -> ProbeFit:
    with ActsFile(acts) as source:
        return fit_source(source, cfg.fit, cfg.kinds, cfg.progress, str(Path(acts).resolve()))
