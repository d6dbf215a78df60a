"""The SAE stage as a registered :class:`probes.stage_spec.Stage`: sparse autoencoders at one
layer (the mine/theirs probe's, chosen on validation games), a named sweep over width and
sparsity, the first setting also on the random-init control, each scored on the board."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common import settings as settings_lib
from othello.common.files import FEATURE_PAGES, METRICS, SAE_CFG, SWEEP_JSON
from probes.sae.model import SAEConfig
from probes.sae.stage import load_sweep, run_sae_sweep, sweep_table
from probes.sae.view import SAEView
from probes.stage_spec import Stage, StageJob

OWN = ("sweep", "layer", "control", "progress")  # SAEStageConfig's own keys


@dataclass
class SAEStageConfig:
    """Which sweep (probes/sae/stage.py ``SWEEPS``), at which layer (``best``: the mine/theirs
    probe's; ``3``; ``0,2,4``; ``all``), on the control too, and every SAE's base settings
    (:class:`SAEConfig`: ``epochs=5``, ``k=16``, ...)."""

    sweep: str = "cpu"
    layer: str = "best"
    control: bool = True
    progress: bool = True
    sae: SAEConfig = field(default_factory=SAEConfig)


@dataclass
class SAEResult:
    """A sweep's results: ``{SAE folder name: its metrics}`` (sweep.json)."""

    sweep: dict
    folder: Path | None = None

    def save(self, folder: str | os.PathLike) -> None:
        """The sweep trains into its folder as it goes (a killed run resumes there)."""
        self.folder = Path(folder)

    def summary(self) -> dict:
        return self.sweep

    def figures(self) -> dict[str, Path]:
        first = next(iter(self.sweep))
        return {f"SAE feature pages ({first})": self.folder / first / FEATURE_PAGES}


class SAEStage(Stage):
    name = "sae"
    question = "Do sparse autoencoders find the board's squares as features?"
    config = SAEStageConfig
    presets = {"tiny": {"sweep": "tiny"}}
    reads = ("probes",)
    files = ("acts", "control_acts")
    order = 30
    done = SWEEP_JSON

    def parse(self, words: list[str]) -> SAEStageConfig:
        own = [w for w in words if w.partition("=")[0] in OWN]
        rest = [w for w in words if w.partition("=")[0] not in OWN]
        cfg = settings_lib.apply_overrides(SAEStageConfig(), own)
        return dataclasses.replace(cfg, sae=settings_lib.apply_overrides(SAEConfig(), rest))

    def run(self, job: StageJob) -> SAEResult:
        """The sweep on the run's activation cache (and the control's), streamed from files."""
        cfg: SAEStageConfig = job.cfg
        control = job.files.get("control_acts") if cfg.control else None
        probes = job.inputs.get("probes")
        sweep = run_sae_sweep(
            job.files["acts"], cfg.layer, job.out, cfg.sweep, cfg.sae, control, job.run,
            None if probes is None else probes.folder, cfg.progress,
        )  # fmt: skip
        return SAEResult(sweep, Path(job.out))

    def finished(self, folder: str | os.PathLike) -> bool:
        """A finished sweep, or one finished SAE's folder (train_sae.py without --sweep)."""
        folder = Path(folder)
        return (
            (folder / SWEEP_JSON).exists()
            or (folder / METRICS).exists()
            and (folder / SAE_CFG).exists()
        )

    def load(self, folder: str | os.PathLike) -> SAEResult:
        folder = Path(folder)
        if (folder / SWEEP_JSON).exists():
            return SAEResult(load_sweep(folder), folder)
        metrics = json.loads((folder / METRICS).read_text())
        return SAEResult({folder.name: metrics}, folder.parent)

    def section(self, part: dict) -> list[str]:
        return sae_section(part)

    def view(self, result: SAEResult, hooks: dict[int, str]) -> SAEView:
        return SAEView.of(result, hooks)

    def printed(self, result: SAEResult) -> list[str]:
        return [sweep_table(result.sweep), f"{len(result.sweep)} SAEs under {result.folder}"]


def sae_section(sweep: dict) -> list[str]:
    """The SAE sweep's table (probes.sae.stage.sweep_table) and what its columns mean."""

    return [
        "## Sparse autoencoders (test games of the cache)",
        "",
        "Coverage: the mean test F1 of the best single feature per board property (chosen on "
        "training games); board reconstruction: the accuracy of the board those features "
        "predict (Karvonen et al. 2024's metrics); beside the linear probe of the same layer "
        "and an SAE of the first setting on the random-init control.",
        "",
        sweep_table(sweep).rstrip(),
        "",
    ]
