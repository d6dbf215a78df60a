"""The two ways to edit the model's board representation, as math on residual vectors.

At each case's position the residual stream is edited so that the probe reads the case's
goal board (:class:`probes.interventions.cases.Cases`): ``goal`` [K, 64] classes at the
squares of ``mask`` [K, 64], every other square kept as the probe reads it. One flipped disc
is a mask of one square.

* linear (Nanda et al.): move the vector along each masked square's linear-probe direction
  from the class it has to its goal class, by a multiple of the margin the probe gives the
  class it has; several squares move together, by the smallest step that gives each square
  the margin it would get alone;
* gradient (Li et al.): optimise the vector so the probe (any differentiable kind) reads the
  goal at the masked squares and every other square as it read before.

An :data:`Editor` wraps one of these for a set of cases; :mod:`probes.interventions.editors`
registers them, :mod:`probes.interventions.run` applies them inside the model. A case whose
mask is empty is left as it is by both (:func:`probes.interventions.cases.goal_cases` refuses
to build one).
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
    goal: torch.Tensor,
    mask: torch.Tensor,
    source: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Residual vectors x [K, d] moved along each masked square's (goal - source) direction.

    For one square, with margin m = logit(goal) - logit(source) along d, the step is
    scale * (|m| - m) / |d|^2 along d: scale 0 changes nothing, scale 1 reflects the margin
    (the probe now prefers the goal by as much as it preferred the source class), larger
    scales push further. Several squares of a case ask for those margin changes together: the
    step is the smallest one in the span of their directions that makes each (the Gram
    system of the directions, solved in least squares should they be dependent). ``goal``,
    ``source``: classes [K, 64], ``mask``: bool [K, 64].
    """
    w, b = probe.raw_weight(), probe.raw_bias()
    case, square = mask.nonzero(as_tuple=True)  # one row per masked square, case by case
    to, away = goal[case, square], source[case, square]
    d = w[:, square, to].T - w[:, square, away].T  # [P, d_model]
    bias = b[square, to] - b[square, away]
    margin = (x[case] * d).sum(-1) + bias
    change = scale * (margin.abs() - margin)  # what each square's margin gains alone
    if len(case) == len(torch.unique(case)):  # one square a case: the system is a division
        step = change / (d * d).sum(-1).clamp(min=1e-12)
    else:
        step = _joint_steps(case, d, change, len(x))
    return x.index_add(0, case, step[:, None] * d)


def _joint_steps(case: torch.Tensor, d: torch.Tensor, change: torch.Tensor, k: int):
    """The coefficients a [P] of the directions d [P, d_model] that give each masked square
    its margin change when a case's squares move together: per case, (D D^T) a = change
    (D its directions), least squares where the directions are dependent."""
    counts = torch.bincount(case, minlength=k)
    rank = torch.arange(len(case), device=d.device) - (counts.cumsum(0) - counts)[case]
    width = int(counts.max())
    dirs = d.new_zeros(k, width, d.shape[1])
    dirs[case, rank] = d
    wanted = d.new_zeros(k, width, 1)
    wanted[case, rank, 0] = change
    gram = dirs @ dirs.transpose(1, 2)
    try:
        inverse = torch.linalg.pinv(gram, hermitian=True)
    except torch.linalg.LinAlgError:  # eigh failed to converge (many zero rows): through SVD
        inverse = torch.linalg.pinv(gram)
    return (inverse @ wanted)[case, rank, 0]


def gradient_edit(
    x: torch.Tensor,
    probe: nn.Module,
    goal: torch.Tensor,
    mask: torch.Tensor,
    steps: int = 200,
    step_size: float = 0.25,
    confidence: float = 0.9,
    stats: dict | None = None,
) -> torch.Tensor:
    """x [K, d] moved by normalised gradient descent until the probe reads the goal board.

    The loss is the cross-entropy of each masked square against its ``goal`` class (classes
    [K, 64]; ``mask`` bool [K, 64]) plus the mean over the other squares against their
    current readings. Each step has length ``step_size`` in the probe's standardised units
    (so one setting suits every layer), and a case stops moving once the probe gives every
    masked square its goal class with ``confidence``: the edit is as small as the probe
    allows, rather than a fixed push. All cases move together, one batched probe call per
    step, until the last one is reached. ``stats``, if given, accumulates the edits made and
    the steps they took (``edits``, ``steps``).
    """
    x = x.detach()
    with torch.no_grad():
        goal = torch.where(mask, goal, probe(x).argmax(-1))
    kept = (1.0 / (N_SQUARES - mask.sum(-1, keepdim=True)).double()).to(x.dtype)
    keep = torch.where(mask, torch.ones_like(kept), kept)  # [K, 64] weight of each square
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
            sure = logits.softmax(-1).gather(-1, goal[..., None])[..., 0] >= confidence
            reached = (sure | ~mask).all(-1)
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

    def read(self, x: torch.Tensor) -> torch.Tensor:
        """The class the probe reads at each square, [K, 64], for x [K, d]."""
        return (torch.einsum("kd,dsc->ksc", x, self.weight) + self.bias).argmax(-1)


def linear_editor(probes: dict[str, LinearProbe], scale: float) -> Editor:
    """The linear edit along ``{hook: probe}`` at ``scale``. Each masked square moves from
    the class the board has there to its goal; where the goal keeps the board's class (a
    misread square set back to the truth), from the class the probe reads."""
    raw: dict[str, RawLinear] = {}

    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        goal, mask, board = case_tensors(cases, x.device)
        if hook not in raw:
            raw[hook] = RawLinear(probes[hook])
        kept = mask & (board == goal)
        if kept.any():
            board = torch.where(kept, raw[hook].read(x), board)
        return linear_edit(x, raw[hook], goal, mask, board, scale)

    return edit


def gradient_editor(
    probes: dict[str, nn.Module], steps: int = 200, step_size: float = 0.25, confidence=0.9
) -> Editor:
    """The gradient edit along ``{hook: probe}``; ``edit.stats`` counts its edits and the
    steps they took (a trained model's board takes fewer than a random one's)."""

    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        goal, mask, _ = case_tensors(cases, x.device)
        return gradient_edit(x, probes[hook], goal, mask, steps, step_size, confidence, edit.stats)

    edit.stats = {}
    return edit


def case_tensors(cases: Cases, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(goal, mask, board) of the cases ([K, 64] classes as int64, the mask bool), as
    tensors on ``device``."""
    return (
        torch.as_tensor(cases.goal, device=device).long(),
        torch.as_tensor(cases.mask, device=device),
        torch.as_tensor(cases.board, device=device).long(),
    )
