"""The soundness stage's result: ``errors.json`` (one entry per error, natural and found) and
``metrics.json`` last (:mod:`probes.failures.measure`), with ``soundness.png``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import METRICS
from probes.failures.plots import success_figure

ERRORS, FIGURE = "errors.json", "soundness.png"
CAPTION = "Adversarial search: success within each budget, by strategy, beside the baselines"


@dataclass
class SoundnessResult:
    metrics: dict
    errors: list[dict] = field(default_factory=list, repr=False)
    folder: Path | None = None

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / ERRORS, json.dumps(self.errors) + "\n")
        success_figure(self.metrics, out / FIGURE)
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")
        self.folder = out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SoundnessResult:
        folder = Path(folder)
        if not (folder / METRICS).exists():
            raise FileNotFoundError(f"{folder / METRICS}: missing; run make soundness")
        return cls(json.loads((folder / METRICS).read_text()),
                   json.loads((folder / ERRORS).read_text()), folder)  # fmt: skip

    def summary(self) -> dict:
        return self.metrics

    def figures(self) -> dict[str, Path]:
        return {CAPTION: self.folder / FIGURE}
