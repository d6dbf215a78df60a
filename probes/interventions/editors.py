"""The registry of intervention editors: each declared once, with its settings and how they
are tuned, so the sweep, the stage, the scripts, the report and the explorer iterate over it.

An editor edits the residual stream at a case's position so that the probe reads the case's
goal board at its masked squares (one flipped disc, or several squares at once) and the
others as before (the math: :mod:`probes.interventions.edits`). Its :class:`EditorSpec` says
which probe kind it edits along, which candidate settings the sweep tries on the tuning cases
(one candidate: nothing is tuned), and how to build the edit function for one candidate.
Adding a method is one :func:`register_editor` call, in any module (a test registers a toy
one in its own file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from othello.common.errors import UserError
from othello.common.registry import Registry
from probes.interventions.edits import Editor, gradient_editor, linear_editor
from probes.kinds import differentiable_kinds


@dataclass(frozen=True)
class EditorSpec:
    """One intervention method.

    ``probe_kind(settings)``: the probe kind (``linear``, ``mlp``, ...) whose mine/theirs
    probes the edit follows. ``candidates(settings)``: the settings tried on the tuning cases,
    each a flat dict of plain values recorded beside the scores. ``build(probes, candidate)``:
    the edit function, given ``{hook: probe}``. ``describe(candidate)``: a short label for
    tables. ``follow(settings, kind)``, for an editor that can follow any differentiable kind:
    its settings following ``kind`` instead. ``strength``: the candidate key a user's "scale"
    sets (the explorer's slider), if the editor has one.
    """

    name: str
    settings: type
    probe_kind: Callable[[Any], str]
    candidates: Callable[[Any], list[dict]]
    build: Callable[[dict[str, nn.Module], dict], Editor]
    describe: Callable[[dict], str]
    summary: str = ""
    follow: Callable[[Any, str], Any] | None = None
    strength: str | None = None


EDITORS = Registry("intervention method")
register_editor = EDITORS.register
editor = EDITORS.lookup


def chosen_candidate(spec: EditorSpec, settings: Any, entry: dict) -> dict:
    """The candidate setting recorded in a sweep entry (the sweep spreads the chosen
    candidate's keys into each entry)."""
    return {key: entry[key] for key in spec.candidates(settings)[0]}


@dataclass(frozen=True)
class LinearEditSettings:
    # multiples of the probe margin tried on the tuning cases (1 = reflect the margin)
    scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)

    def __post_init__(self) -> None:
        if not self.scales or any(s < 0 for s in self.scales):
            raise UserError(f"linear.scales must be >= 0 and not empty, got {self.scales}")


@dataclass(frozen=True)
class GradientEditSettings:
    probe: str = "mlp"  # Li et al. edit along the nonlinear probe; any differentiable kind works
    steps: int = 200
    step_size: float = 0.25  # standardised units per step
    confidence: float = 0.9  # stop a case once the probe reads every goal class so surely

    def __post_init__(self) -> None:
        if self.probe not in differentiable_kinds():
            raise UserError(
                f"gradient.probe must be a differentiable probe kind "
                f"({', '.join(differentiable_kinds())}), got {self.probe!r}"
            )
        if self.steps < 1 or self.step_size <= 0 or not 0 < self.confidence < 1:
            raise UserError("gradient: steps >= 1, step_size > 0, 0 < confidence < 1")


register_editor(
    EditorSpec(
        name="linear",
        settings=LinearEditSettings,
        probe_kind=lambda s: "linear",
        candidates=lambda s: [{"scale": float(x)} for x in s.scales],
        build=lambda probes, c: linear_editor(probes, c["scale"]),
        describe=lambda c: f"scale {c['scale']:g}",
        summary="Nanda et al.: along the linear probe's target-minus-current direction",
        strength="scale",
    )
)
register_editor(
    EditorSpec(
        name="gradient",
        settings=GradientEditSettings,
        probe_kind=lambda s: s.probe,
        candidates=lambda s: [dataclasses.asdict(s)],
        build=lambda probes, c: gradient_editor(
            probes, c["steps"], c["step_size"], c["confidence"]
        ),
        describe=lambda c: f"{c['probe']} probe, p>={c['confidence']:g}",
        summary="Li et al.: gradient steps until the probe reads the edited board",
        follow=lambda s, kind: dataclasses.replace(s, probe=kind),
    )
)
