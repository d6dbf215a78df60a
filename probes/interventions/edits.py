"""The two ways to edit the model's board representation, as math on residual vectors.

At each case's position the residual stream is edited so that the square's probe reads the
flipped class:

* linear (Nanda et al.): move the vector along the linear probe's target-minus-current
  direction, by a multiple of the margin that the probe gives the current class;
* gradient (Li et al.): optimise the vector so the probe (any differentiable kind) reads the
  edited board, that square flipped and every other square as it read before.

An :data:`Editor` wraps one of these for a set of cases; :mod:`probes.interventions.editors`
registers them, :mod:`probes.interventions.run` applies them inside the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from othello.world.squares import N_SQUARES
from probes.interventions.cases import Cases
from probes.kinds import LinearProbe

# (residual vectors [K, d] at the cases' positions, hook name, those cases) -> edited vectors
Editor = Callable[[torch.Tensor, str, Cases], torch.Tensor]


def linear_edit(
    x: torch.Tensor,
    probe: LinearProbe | RawLinear,
    square: torch.Tensor,
    target: torch.Tensor,
    current: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Residual vectors x [K, d] moved along each probe's (target - current) direction.

    With margin m = logit(target) - logit(current), the step is scale * (|m| - m) / |d|^2 along
    d: scale 0 changes nothing, scale 1 reflects the margin (the probe now prefers the target
    by as much as it preferred the current class), larger scales push further.
    """
    w, b = probe.raw_weight(), probe.raw_bias()
    d = w[:, square, target].T - w[:, square, current].T  # [K, d_model]
    bias = b[square, target] - b[square, current]
    margin = (x * d).sum(-1) + bias
    step = scale * (margin.abs() - margin) / (d * d).sum(-1).clamp(min=1e-12)
    return x + step[:, None] * d


def gradient_edit(
    x: torch.Tensor,
    probe: nn.Module,
    square: torch.Tensor,
    target: torch.Tensor,
    steps: int = 200,
    step_size: float = 0.25,
    confidence: float = 0.9,
    stats: dict | None = None,
) -> torch.Tensor:
    """x [K, d] moved by normalised gradient descent until the probe reads the edited board.

    The loss is the cross-entropy of the flipped square against its target class plus the
    mean over the other 63 squares against their current readings. Each step has length
    ``step_size`` in the probe's standardised units (so one setting suits every layer), and
    a case stops moving once the probe gives its target class ``confidence``: the edit is as
    small as the probe allows, rather than a fixed push. All cases move together, one batched
    probe call per step, until the last one is reached. ``stats``, if given, accumulates the
    edits made and the steps they took (``edits``, ``steps``).
    """
    rows = torch.arange(len(x), device=x.device)
    x = x.detach()
    with torch.no_grad():
        goal = probe(x).argmax(-1)
        goal[rows, square] = target
    keep = torch.full((len(x), N_SQUARES), 1 / (N_SQUARES - 1), device=x.device)
    keep[rows, square] = 1.0
    unit = probe.scale.detach()
    delta = torch.zeros_like(x)
    moved = torch.zeros(len(x), device=x.device)  # steps each case took
    for _ in range(steps):
        with torch.enable_grad():
            delta.requires_grad_(True)
            logits = probe(x + delta * unit)
            ce = F.cross_entropy(logits.flatten(0, 1), goal.flatten(), reduction="none")
            loss = (ce.view(len(x), N_SQUARES) * keep).sum()
            (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            reached = logits[rows, square].softmax(-1)[rows, target] >= confidence
            if reached.all():
                break
            norm = grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            delta = delta.detach() - step_size * (~reached)[:, None] * grad / norm
            moved += ~reached
    if stats is not None:
        stats["edits"] = stats.get("edits", 0) + len(x)
        stats["steps"] = stats.get("steps", 0) + float(moved.sum())
    return (x + delta.detach() * unit).to(x.dtype)


class RawLinear:
    """A linear probe's raw-stream weights, computed once (an editor applies them thousands
    of times)."""

    def __init__(self, probe: LinearProbe) -> None:
        with torch.no_grad():
            self.weight, self.bias = probe.raw_weight(), probe.raw_bias()

    def raw_weight(self) -> torch.Tensor:
        return self.weight

    def raw_bias(self) -> torch.Tensor:
        return self.bias


def linear_editor(probes: dict[str, LinearProbe], scale: float) -> Editor:
    """The linear edit along ``{hook: probe}`` at ``scale``."""
    raw: dict[str, RawLinear] = {}

    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        square, target, current = case_tensors(cases, x.device)
        if hook not in raw:
            raw[hook] = RawLinear(probes[hook])
        return linear_edit(x, raw[hook], square, target, current, scale)

    return edit


def gradient_editor(
    probes: dict[str, nn.Module], steps: int = 200, step_size: float = 0.25, confidence=0.9
) -> Editor:
    """The gradient edit along ``{hook: probe}``; ``edit.stats`` counts its edits and the
    steps they took (a trained model's board takes fewer than a random one's)."""

    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        square, target, _ = case_tensors(cases, x.device)
        return gradient_edit(
            x, probes[hook], square, target, steps, step_size, confidence, edit.stats
        )

    edit.stats = {}
    return edit


def case_tensors(cases: Cases, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(square, target class, current class) of each case, as tensors on ``device``."""
    return tuple(
        torch.as_tensor(a, device=device) for a in (cases.square, cases.target, cases.current)
    )
