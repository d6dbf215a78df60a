"""The probe stage's metrics.json, read back: what later stages, the explorer and the report
take from it, so no other module spells its key paths."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from othello.common.errors import UserError
from othello.common.files import METRICS
from probes.common import ProbeKey
from probes.schemes import SCHEMES


@dataclass(frozen=True)
class BestLayer:
    """A probe's layer chosen on validation games, with its test accuracy there."""

    layer: str
    accuracy: float
    val_accuracy: float
    chosen_on: str = "val"
    whole_board: float | None = None  # None: fitted before whole boards were counted
    whole_board_stderr: float | None = None


@dataclass(frozen=True)
class ProbeMetrics:
    """The probe stage's metrics.json, read back: what later stages, the explorer and the
    report take from it, so no other module spells its key paths."""

    folder: Path | None  # None: a fit held in memory
    layers: dict[str, str]  # layer name -> hook
    accuracy: dict[str, dict[str, dict[str, float]]]  # scheme -> kind -> layer -> test
    val_accuracy: dict[str, dict[str, dict[str, float]]]
    baselines: dict[str, dict[str, float]]
    best: dict[ProbeKey, BestLayer]  # keyed scheme/kind
    sizes: dict[str, int]  # games per probe split
    warnings: list[str]
    model_sha256: str | None
    raw: dict
    # scheme -> kind -> layer -> record (test); None: fitted before whole boards were counted
    whole_board: dict | None = None
    whole_board_by_move: dict[ProbeKey, dict] | None = None  # {"layer", "by_move"}

    @classmethod
    def load(cls, probe_dir: str | os.PathLike) -> ProbeMetrics:
        path = Path(probe_dir) / METRICS
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run scripts/fit_probes.py first")
        return cls.from_dict(json.loads(path.read_text()), Path(probe_dir))

    @classmethod
    def from_dict(cls, m: dict, folder: Path | None = None) -> ProbeMetrics:
        """The metrics of a fit, from metrics.json's content (``folder``: where it lies)."""
        schemes = [s for s in SCHEMES if s in m]
        by_move = m.get("whole_board_by_move")
        return cls(
            folder=folder,
            layers=m["layers"],
            accuracy={s: m[s] for s in schemes},
            val_accuracy={s: m["val"][s] for s in schemes},
            baselines=m["baselines"],
            best={ProbeKey.parse(k): BestLayer(**v) for k, v in m["best"].items()},
            sizes={s: m.get(f"{s}_games", 0) for s in ("train", "val", "test")},
            warnings=m.get("warnings", []),
            model_sha256=m.get("model_sha256"),
            raw=m,
            whole_board=m["whole_board"]["test"] if "whole_board" in m else None,
            whole_board_by_move=None
            if by_move is None
            else {ProbeKey.parse(k): v for k, v in by_move.items()},
        )

    def best_of(self, scheme_name: str, kind: str = "linear") -> BestLayer:
        key = ProbeKey(scheme_name, kind)
        if key not in self.best:
            where = "these probes" if self.folder is None else str(self.folder / METRICS)
            raise UserError(f"{where} has no {key} probe; fit it first")
        return self.best[key]

    def hook(self, layer: str) -> str:
        return self.layers[str(layer)]

    def whole_board_table(self) -> dict:
        """Every probe's whole-board test accuracy by layer (:func:`whole_board_table`)."""
        if self.whole_board is None:
            where = "these probes" if self.folder is None else str(self.folder / METRICS)
            raise UserError(
                f"{where} has no whole-board accuracy (the probes were fitted before it was "
                "counted); refit them with scripts/fit_probes.py"
            )
        return self.whole_board


def whole_board_table(probe_dir: str | os.PathLike) -> dict:
    """``{scheme: {kind: {layer: {"mean", "stderr", "positions", "games"}}}}``: every probe's
    whole-board accuracy on the test games (stderr over games; None under two games), read
    from ``probe_dir``'s metrics.json."""
    path = Path(probe_dir) / METRICS
    if not path.exists():
        raise UserError(f"{path}: missing; run scripts/fit_probes.py first")
    return ProbeMetrics.load(probe_dir).whole_board_table()
