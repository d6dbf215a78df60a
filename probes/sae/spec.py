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
from othello.model.hooks import resid_hook
from othello.model.kinds import random_init
from probes.acts.memory import cache_activations
from probes.sae.model import SAEConfig
from probes.sae.stage import (
    SAEFit,
    load_sweep,
    measure_sae,
    probe_accuracy_of,
    run_sae_sweep,
    sweep_settings,
    sweep_table,
    write_sweep,
)
from probes.sae.view import SAEView
from probes.stage_spec import Stage, StageJob

OWN = ("sweep", "layer", "games", "control", "progress", "target")  # SAEStageConfig's own keys


@dataclass
class SAEStageConfig:
    """Which sweep (probes/sae/stage.py ``SWEEPS``), at which layer (``best``: the mine/theirs
    probe's; ``3``; ``0,2,4``; ``all``), on the control too, and every SAE's base settings
    (:class:`SAEConfig`: ``epochs=5``, ``k=16``, ...)."""

    sweep: str = "cpu"
    layer: str = "best"
    games: int = 3000  # in memory: games whose activations the SAEs read (as the probes')
    control: bool = True
    progress: bool = True
    target: str | None = None  # the model's training target (None: the run's; in memory sampled)
    sae: SAEConfig = field(default_factory=SAEConfig)


@dataclass
class SAEResult:
    """A sweep's results: ``{SAE folder name: its metrics}`` (sweep.json); with the SAEs
    themselves while they are held in memory (before :meth:`save`)."""

    sweep: dict
    folder: Path | None = None
    fits: dict[str, SAEFit] = field(default_factory=dict, repr=False)

    def save(self, folder: str | os.PathLike) -> None:
        """Each SAE's folder, then sweep.json (a sweep trained on files wrote them as it
        went: a killed run resumes there)."""
        out = Path(folder)
        for name, fit in self.fits.items():
            fit.save(out / name)
        if self.fits:
            write_sweep(out, self.sweep)
        self.folder = out

    def summary(self) -> dict:
        return self.sweep

    def figures(self) -> dict[str, Path]:
        first = next(iter(self.sweep))
        return {f"SAE feature pages ({first})": self.folder / first / FEATURE_PAGES}


class SAEStage(Stage):
    name = "sae"
    question = "Do sparse autoencoders find the board's squares as features?"
    config = SAEStageConfig
    presets = {"tiny": {"sweep": "tiny", "games": 150}}
    reads = ("probes",)
    files = ("acts", "control_acts")
    order = 30
    done = SWEEP_JSON

    def measure(self, model, games, inputs: dict, cfg: SAEStageConfig) -> SAEResult:
        """The sweep at the mine/theirs probe's layer (``layer=best``, the probe stage's
        result) or at ``cfg.layer``, on activations of ``cfg.games`` games held in memory,
        and its first setting on the random-init control; nothing is written."""
        probes = inputs.get("probes")
        layer = int(probes.metrics.best_of("mine_theirs").layer if cfg.layer == "best"
                    else cfg.layer)  # fmt: skip
        hook = resid_hook(layer, model.cfg.n_layers)
        target = cfg.target or "sampled"
        settings = sweep_settings(cfg.sweep, cfg.sae)
        fits = {}
        for who, subject in (("", model), ("control-", random_init(model))):
            if who and not cfg.control:
                break
            source = cache_activations(subject, games, cfg.games, hooks=[hook], dtype="float16",
                                       progress=cfg.progress)  # fmt: skip
            accuracy = probe_accuracy_of(probes.metrics, layer) if probes and not who else {}
            for name, sae_cfg in settings[:1] if who else settings:
                fits[who + name] = measure_sae(source, layer, subject, sae_cfg, target, accuracy,
                                               progress=cfg.progress)  # fmt: skip
        return SAEResult({n: f.metrics for n, f in fits.items()}, fits=fits)

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
