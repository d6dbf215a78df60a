"""Causal interventions on the model's board representation, and their scoring.

At each case's position the residual stream is edited so that the square's probe reads the
flipped class, at a start layer and (by default) every later one, and the model runs on from
there. Two editors:

* linear (Nanda et al.): move the vector along the linear probe's target-minus-current
  direction, by a multiple of the margin that the probe gives the current class;
* gradient (Li et al.): optimise the vector so the probe (linear or MLP) reads the edited
  board, that square flipped and every other square as it read before.

Scores follow Li et al.: with N the size of a legal set, the errors of the model's N best
squares against it (false positives plus false negatives), against the edited board and,
as the null baseline, the original one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from othello.evaluate import illegal_in_top_n, rank_legality
from othello.model import GPT, HookPoint
from othello.squares import MAX_MOVES, N_SQUARES
from othello.tokens import PLAYABLE_SQUARES, encode
from probes.interventions.cases import Cases
from probes.kinds import LinearProbe

# (residual vectors [K, d] at the cases' positions, hook name, those cases) -> edited vectors
Editor = Callable[[torch.Tensor, str, Cases], torch.Tensor]
METHODS = ("linear", "gradient")


def linear_edit(
    x: torch.Tensor,
    probe: LinearProbe,
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
) -> torch.Tensor:
    """x [K, d] moved by normalised gradient descent until the probe reads the edited board.

    The loss is the cross-entropy of the flipped square against its target class plus the
    mean over the other 63 squares against their current readings. Each step has length
    ``step_size`` in the probe's standardised units (so one setting suits every layer), and
    a case stops moving once the probe gives its target class ``confidence``: the edit is as
    small as the probe allows, rather than a fixed push.
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
    return (x + delta.detach() * unit).to(x.dtype)


def linear_editor(probes: dict[str, LinearProbe], scale: float) -> Editor:
    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        square, target, current = _case_tensors(cases, x.device)
        return linear_edit(x, probes[hook], square, target, current, scale)

    return edit


def gradient_editor(
    probes: dict[str, nn.Module], steps: int = 200, step_size: float = 0.25, confidence=0.9
) -> Editor:
    def edit(x: torch.Tensor, hook: str, cases: Cases) -> torch.Tensor:
        square, target, _ = _case_tensors(cases, x.device)
        return gradient_edit(x, probes[hook], square, target, steps, step_size, confidence)

    return edit


def _case_tensors(cases: Cases, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.as_tensor(a, device=device) for a in (cases.square, cases.target, cases.current)
    )


@torch.no_grad()
def intervene(
    model: GPT, cases: Cases, hooks: list[str], edit: Editor | None, batch: int = 1024
) -> torch.Tensor:
    """Logits [K, 61] at each case's position, with ``edit`` applied at every hook in
    ``hooks`` (the start layer and, for a multi-layer edit, the ones after it)."""
    return torch.cat(
        [
            _edited_logits(model, cases.take(slice(start, start + batch)), hooks, edit)
            for start in range(0, len(cases), batch)
        ]
    )


def _edited_logits(model: GPT, cases: Cases, hooks: list[str], edit: Editor | None):
    device = next(model.parameters()).device
    # the model is causal: positions after the last one read cannot change it
    last = int(cases.position.max()) + 1 if len(cases) else 1
    tokens = torch.as_tensor(encode(cases.moves[:, : min(last, MAX_MOVES - 1)]), device=device)
    rows = torch.arange(len(cases), device=device)
    pos = torch.as_tensor(cases.position, device=device)

    def hook_fn(x: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        x = x.clone()
        x[rows, pos] = edit(x[rows, pos].float(), hook.name, cases).to(x.dtype)
        return x

    if edit is None or not hooks:
        logits = model(tokens)
    else:
        logits = model.run_with_hooks(tokens, [(h, hook_fn) for h in hooks])
    return logits[rows, pos].float().cpu()


def topn_errors(logits: torch.Tensor, legal: np.ndarray) -> np.ndarray:
    """Li et al.'s error count per case: with N = |legal set|, false positives plus false
    negatives of the model's N best squares against the set."""
    return 2 * illegal_in_top_n(rank_legality(logits.cpu(), legal)).numpy()


def score(logits: torch.Tensor, cases: Cases) -> dict:
    """Mean errors against the edited and the original legal sets, F1 and exact matches."""
    is_legal_after = rank_legality(logits.cpu(), cases.legal_after)
    vs_edited = 2 * illegal_in_top_n(is_legal_after).numpy()
    vs_original = topn_errors(logits, cases.legal_before)
    n_after = is_legal_after.sum(-1).numpy()
    true_pos = n_after - vs_edited // 2
    return {
        "errors_vs_edited": float(vs_edited.mean()),
        "errors_vs_original": float(vs_original.mean()),
        "f1_vs_edited": float((true_pos / np.maximum(n_after, 1)).mean()),
        "success_rate": float((vs_edited == 0).mean()),
        "cases": len(cases),
    }


def latent_saliency(model: GPT, cases: Cases, hooks: list[str], edit: Editor) -> dict:
    """Li et al.'s latent saliency for one position (``cases`` from
    :func:`probes.interventions.cases.position_cases`): for each disc, how much flipping it in
    the model's board lowers the probability of the move the unedited model predicts. Returns the
    predicted square and 64 values (NaN where the square is empty)."""
    plain = intervene(model, cases.take(slice(0, 1)), [], None)[0]
    predicted = int(plain[1:].argmax()) + 1  # token; 0 is padding
    edited = intervene(model, cases, hooks, edit)
    p_plain = float(plain.softmax(-1)[predicted])
    p_edited = edited.softmax(-1)[:, predicted].numpy()
    values = np.full(N_SQUARES, np.nan)
    values[cases.square] = p_plain - p_edited
    return {
        "predicted_square": int(PLAYABLE_SQUARES[predicted - 1]),
        "probability": p_plain,
        "saliency": values.tolist(),
    }
