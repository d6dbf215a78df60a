"""Which edit the explorer makes when a disc is clicked: any registered editor, along the
probes the run has, with defaults from the intervention sweep's choices."""

from __future__ import annotations

import os
from dataclasses import dataclass

from torch import nn

from othello.common.errors import UserError
from probes.common import ProbeKey
from probes.explorer.inputs import ExplorerError
from probes.interventions.editors import EDITORS
from probes.interventions.edits import Editor
from probes.interventions.flip import BOARD, build_edit, editor_settings, mine_theirs_kinds
from probes.interventions.stage import InterventionResults
from probes.stage import ProbeMetrics

DEFAULT_STRENGTH = 2.0  # a scale-like setting when no sweep chose one


def default_edit(metrics: ProbeMetrics, interventions: str | os.PathLike | None) -> dict:
    """The headline edit of an intervention sweep (method and start layer chosen on its tuning
    cases, and the scale-like setting it chose there), else the first registered editor from
    the mine/theirs probe's best layer."""
    if interventions is None:
        layer = int(metrics.best_of(BOARD).layer)
        return {"method": next(iter(EDITORS)), "layer": layer, "scale": DEFAULT_STRENGTH,
                "chosen_on": "default"}  # fmt: skip
    results = InterventionResults.load(interventions)
    scale = DEFAULT_STRENGTH
    for name, spec in EDITORS.items():
        if spec.strength and name in results.choice["by_method"]:
            scale = results.setting(name)[spec.strength]
            break
    return {"method": results.headline["method"], "layer": int(results.headline["start_layer"]),
            "scale": scale, "chosen_on": "the sweep's tuning cases"}  # fmt: skip


@dataclass
class EditMaker:
    """Builds an edit for a method from the probes at hand."""

    probes: dict[ProbeKey, nn.Module]
    hooks: list[str]
    default_scale: float

    def kinds(self) -> list[str]:
        """Probe kinds with mine/theirs probes at every hook, in registry order."""
        return mine_theirs_kinds(self.probes, self.hooks)

    def usable(self) -> list[str]:
        """Registered editors whose probes the run has (or that can follow one it has)."""
        kinds = self.kinds()
        return [name for name, spec in EDITORS.items() if editor_settings(spec, kinds)]

    def make(self, method: str, scale: float | None) -> tuple[Editor, str]:
        """The edit function and its label (:func:`probes.interventions.flip.build_edit`, as
        ``probes.flip_disc`` builds it); ``scale`` sets the editor's scale-like setting (the
        sweep's choice when None)."""
        if method not in EDITORS:
            raise ExplorerError(f"unknown method {method!r}; choose from {sorted(EDITORS)}")
        scale = self.default_scale if scale is None else scale
        try:
            return build_edit(method, self.probes, self.hooks, scale)
        except UserError as exc:
            raise ExplorerError(str(exc)) from None
