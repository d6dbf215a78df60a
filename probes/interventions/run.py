"""Running the model with an edit: the edit is applied at each case's position at a start
layer and (by default) every later one, and the model runs on from there."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from othello.model.evaluate import square_probabilities
from othello.model.hooked import HookedModel, HookPoint
from othello.world.squares import N_POSITIONS, N_SQUARES
from othello.world.tokens import encode
from probes.interventions.cases import Cases
from probes.interventions.edits import Editor


def edit_hooks(hooks: dict[int, str], layer: int, later_layers: bool) -> list[str]:
    """The hooks an edit starting at ``layer`` touches, in forward order."""
    return [hooks[k] for k in sorted(hooks) if k == layer or (later_layers and k > layer)]


@torch.no_grad()
def intervene(
    model: HookedModel, cases: Cases, hooks: list[str], edit: Editor | None, batch: int = 1024
) -> torch.Tensor:
    """Logits [K, 61] at each case's position, with ``edit`` applied at every hook in
    ``hooks`` (the start layer and, for a multi-layer edit, the ones after it)."""
    return torch.cat(
        [
            _edited_logits(model, cases.take(slice(start, start + batch)), hooks, edit)
            for start in range(0, len(cases), batch)
        ]
    )


def _edited_logits(model: HookedModel, cases: Cases, hooks: list[str], edit: Editor | None):
    device = next(model.parameters()).device
    # the model is causal: positions after the last one read cannot change it
    last = int(cases.position.max()) + 1 if len(cases) else 1
    tokens = torch.as_tensor(encode(cases.moves[:, : min(last, N_POSITIONS)]), device=device)
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


@torch.no_grad()
def readout_effect(
    model: HookedModel, cases: Cases, hook: str, edit: Editor, probe: nn.Module
) -> dict:
    """What an edit does to the probe it follows, at its start layer: the share of masked
    squares that now read their goal class, and the share of the other squares whose reading
    changed (an edit that moved only the masked squares leaves them as they were)."""
    device = next(model.parameters()).device
    tokens = torch.as_tensor(encode(cases.moves[:, :N_POSITIONS]), device=device)
    _, cache = model.run_with_cache(tokens, [hook])
    rows = torch.arange(len(cases), device=device)
    x = cache[hook][rows, torch.as_tensor(cases.position, device=device)].float()
    return readout_shares(readout_counts(x, hook, cases, edit, probe))


@torch.no_grad()
def readout_counts(
    x: torch.Tensor, hook: str, cases: Cases, edit: Editor, probe: nn.Module
) -> tuple[float, int, float, int]:
    """(masked squares that read their goal after the edit, masked squares, other squares
    whose reading the edit changed, other squares) for residual vectors x [K, d] at
    ``hook``; sums over batches add up."""
    before, after = probe(x).argmax(-1), probe(edit(x, hook, cases)).argmax(-1)
    mask = torch.as_tensor(cases.mask, device=x.device)
    goal = torch.as_tensor(cases.goal, device=x.device)
    reached = float(((after == goal) & mask).sum())
    changed = float(((after != before) & ~mask).sum())
    masked = int(mask.sum())
    return reached, masked, changed, mask.numel() - masked


def readout_shares(counts: tuple[float, int, float, int]) -> dict:
    """:func:`readout_counts`' sums as the shares the sweep and the report give."""
    reached, masked, changed, others = counts
    return {"probe_target_reached": reached / masked, "probe_others_changed": changed / others}


def latent_saliency(model: HookedModel, cases: Cases, hooks: list[str], edit: Editor) -> dict:
    """Li et al.'s latent saliency for one position (``cases`` from
    :func:`probes.interventions.cases.position_cases`, one disc each): for each disc, how much
    flipping it in the model's board lowers the probability of the move the unedited model
    predicts. Returns the predicted square and 64 values (NaN where the square is empty)."""
    plain = square_probabilities(intervene(model, cases.take(slice(0, 1)), [], None)[0])
    predicted = int(plain.argmax())
    edited = square_probabilities(intervene(model, cases, hooks, edit))
    values = np.full(N_SQUARES, np.nan)
    values[cases.square] = float(plain[predicted]) - edited[:, predicted].numpy()
    return {
        "predicted_square": predicted,
        "probability": float(plain[predicted]),
        "saliency": values.tolist(),
    }
