"""Which edit the explorer makes when a disc is clicked: any registered editor, along the
probes the run has, with defaults from the intervention sweep's choices."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from othello.common.errors import UserError
from probes.common import ProbeKey
from probes.explorer.inputs import ExplorerError
from probes.interventions.editors import EDITORS
from probes.interventions.edits import Editor
from probes.interventions.flip import BOARD, build_edit, editor_settings, mine_theirs_kinds
from probes.interventions.view import InterventionView
from probes.probe_metrics import ProbeMetrics

DEFAULT_STRENGTH = 2.0  # a scale-like setting when no sweep chose one


def default_edit(metrics: ProbeMetrics, views: dict) -> dict:
    """The headline edit of an intervention sweep when one is loaded (its view), else the
    first registered editor from the mine/theirs probe's best layer."""
    for view in views.values():
        if isinstance(view, InterventionView):
            return view.edit_default(DEFAULT_STRENGTH)
    layer = int(metrics.best_of(BOARD).layer)
    return {"method": next(iter(EDITORS)), "layer": layer, "scale": DEFAULT_STRENGTH,
            "chosen_on": "default"}  # fmt: skip


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
