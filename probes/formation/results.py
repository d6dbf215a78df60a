"""The dynamics stage's result: every snapshot's figures, each measure's curve and phase, and
the order in which the capacities appear; written as ``dynamics.json`` (the interface other
tools read), its figures and ``metrics.json`` last."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from othello.common.atomic import write_text
from othello.common.files import METRICS
from probes.formation import plots
from probes.formation.phases import PhaseSettings, order, phase

DYNAMICS_JSON = "dynamics.json"
FIGURES = {"curves": "dynamics.png", "timeline": "timeline.png"}
CAPTIONS = {
    "curves": "How the world model forms: every measure against tokens seen (normalised, raw)",
    "timeline": "When each capacity appears: 50% and 90% of its rise, with intervals",
}


def curves(snapshots: dict[int, dict], units: dict[int, dict]) -> dict[str, dict]:
    """Each measure's curve over the snapshots, with each game's figures where kept."""
    steps = sorted(snapshots)
    names = list(dict.fromkeys(n for s in steps for n in snapshots[s]["figures"]))
    result = {}
    for name in names:
        entries = [snapshots[s]["figures"].get(name, {}) for s in steps]
        if any(e.get("mean") is None for e in entries):
            continue  # a measure some snapshot could not take has no curve
        curve = {
            "steps": steps,
            "means": [e["mean"] for e in entries],
            "stderrs": [
                e.get("stderr") if e.get("stderr") is not None else np.nan for e in entries
            ],
        }
        if units and all(f"{name}.num" in units[s] for s in steps):
            curve["num"] = np.stack([units[s][f"{name}.num"] for s in steps])
            curve["den"] = np.stack([units[s][f"{name}.den"] for s in steps])
        result[name] = curve
    return result


@dataclass
class DynamicsResult:
    """Snapshots (by step: tokens, training seconds, figures), phases per measure, the order."""

    snapshots: list[dict]
    phases: dict[str, dict]
    order: list[dict]
    run: str | None = None
    settings: dict = field(default_factory=dict)
    folder: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def assemble(
        cls, snapshots: dict[int, dict], units: dict[int, dict], run: str | None, settings: dict
    ) -> DynamicsResult:
        """Every measure's curve and phase, and the order, from the snapshots' figures."""
        cfg = PhaseSettings()
        found = curves(snapshots, units)
        phases = {name: phase(curve, cfg) for name, curve in found.items()}
        return cls([snapshots[s] for s in sorted(snapshots)], phases, order(phases), run, settings,
                   warnings=shortfalls(units, settings))  # fmt: skip

    @classmethod
    def load(cls, folder: str | os.PathLike) -> DynamicsResult:
        path = Path(folder) / DYNAMICS_JSON
        if not (Path(folder) / METRICS).exists():
            raise FileNotFoundError(f"{Path(folder) / METRICS}: missing; run scripts/dynamics.py")
        data = json.loads(path.read_text())
        return cls(data["snapshots"], data["phases"], data["order"], data.get("run"),
                   data.get("settings", {}), Path(folder), data.get("warnings", []))  # fmt: skip

    def to_dict(self) -> dict:
        return {"run": self.run, "snapshots": self.snapshots, "phases": self.phases,
                "order": self.order, "settings": self.settings,
                "warnings": self.warnings}  # fmt: skip

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self.to_dict(), indent=1, allow_nan=False, default=_plain)
        write_text(out / DYNAMICS_JSON, body + "\n")
        plots.curves(self, out / FIGURES["curves"])
        plots.timeline(self, out / FIGURES["timeline"])
        summary = {"snapshots": len(self.snapshots), "order": self.order}
        write_text(out / METRICS, json.dumps(summary, indent=1) + "\n")
        self.folder = out

    def summary(self) -> dict:
        return self.to_dict()

    def figures(self) -> dict[str, Path]:
        return {CAPTIONS[k]: self.folder / f for k, f in FIGURES.items()}


# a figure whose units are counted against the setting that asked for them
ASKED = {"top1_legal": ("games", "held-out games"), "edit_gap_closed": ("cases", "edit cases")}


def shortfalls(units: dict[int, dict], settings: dict) -> list[str]:
    """What the snapshots were measured on with less than was asked (a corpus whose split
    holds fewer games, fewer cases drawn), said once: the stage goes on with what there is."""
    out = []
    for name, (key, what) in ASKED.items():
        counts = {len(u[f"{name}.num"]) for u in units.values() if f"{name}.num" in u}
        asked = settings.get(key)
        if counts and asked is not None and min(counts) < asked:
            out.append(f"only {min(counts)} {what} of the {asked} asked ({key}={asked})")
    return out


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
