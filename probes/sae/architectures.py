"""The registry of SAE architectures, with SAELens's names and arithmetic so
``sae_lens.SAE.load_from_disk`` reads what we write. Two sparse autoencoders:

* ``topk`` (Gao et al. 2024): features = the k largest pre-activations through a ReLU, the rest
  zero; dead features come back through the auxiliary loss (the dead features' top ``aux_k``
  reconstruct what the live ones missed);
* ``standard`` (ReLU with an L1 penalty): features = ReLU of the pre-activations; dead
  features are resampled every ``resample_every`` steps towards the inputs reconstructed worst
  (Anthropic, "Towards Monosemanticity").

and four transcoders (reading one hook, reconstructing another; ``b_dec`` never subtracted
from the input), for circuit-tracer's replacement models (Ameisen et al. 2025):

* ``jumprelu_transcoder`` and ``jumprelu_skip_transcoder`` (SAELens's names): JumpReLU, a
  learned threshold per feature gating the ReLU of its pre-activation, trained as
  Anthropic's transcoders are (and SAELens's ``tanh`` mode): the threshold through a
  straight-through estimator of bandwidth :data:`BANDWIDTH` (Rajamanoharan et al. 2024), a
  sparsity penalty ``lambda * sum_i tanh(c * f_i * |W_dec_i|)``, and the pre-activation loss
  ``ReLU(threshold - pre) * |W_dec_i|`` on dead features that brings them back (Anthropic's
  January 2025 circuits update); thresholds stay >= 0, where SAELens's
  ``ReLU(pre) * (pre > t)`` and circuit-tracer's ``pre * (pre > t)`` are the same features;
* ``topk_transcoder`` and ``topk_skip_transcoder``: TopK as the SAE above (SAELens has no
  TopK transcoder: its cfg.json is ours alone);

the ``skip`` ones with a linear skip ``x @ W_skip.T`` (``W_skip`` [d_out, d_in], SAELens's
and circuit-tracer's layout; Paulo et al. 2025, "Transcoders beat sparse autoencoders").

An architecture is one :func:`register_architecture` call: how pre-activations become
features, what it adds to the reconstruction loss, what it does after an optimiser step,
whether ``b_dec`` is subtracted from the input (an SAE's reconstruction lives where its
input does; a transcoder's, at another hook, does not: SAELens's transcoders set
``apply_b_dec_to_input`` false), whether it keeps a threshold per feature (JumpReLU) or a
skip matrix, and the extra keys of its SAELens ``cfg.json``. The model,
the trainer, saving and loading iterate over the registry, and every one of them takes an
input and an output hook, so a transcoder is an entry here, not a fork.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from othello.common.registry import Registry


@dataclass(frozen=True)
class SAEArchitecture:
    """One architecture. ``activate(pre, k)``: features from pre-activations [..., d_sae].
    ``penalty(sae, target, x_hat, pre, features, dead, cfg)``: what it adds to the loss
    (``target``: what ``x_hat`` reconstructs, the input itself for an SAE).
    ``after_step(sae, optimizer, x, target, dead, step, cfg)``: run after each optimiser step
    (None: nothing). ``apply_b_dec_to_input``: encode ``x - b_dec`` (an SAE) or ``x`` (a
    transcoder). ``cfg_keys(sae)``: its extra SAELens ``cfg.json`` keys. ``uses_k``: k
    features fire (k must fit the width). ``jump``: a learned ``threshold`` per feature gates
    ``activate``'s features (JumpReLU). ``skip``: the reconstruction adds ``x @ W_skip.T``."""

    name: str
    activate: Callable[[torch.Tensor, int], torch.Tensor]
    penalty: Callable[..., torch.Tensor]
    after_step: Callable[..., Any] | None = None
    apply_b_dec_to_input: bool = True
    cfg_keys: Callable[[Any], dict] = lambda sae: {}
    summary: str = ""
    uses_k: bool = False
    jump: bool = False
    skip: bool = False


ARCHITECTURES = Registry("SAE architecture")
register_architecture = ARCHITECTURES.register
architecture = ARCHITECTURES.lookup


BANDWIDTH = 0.05  # JumpReLU's straight-through window, in the pre-activations training sees


class JumpStep(torch.autograd.Function):
    """``pre > threshold`` as 0/1, whose gradient reaches the threshold alone, through
    Rajamanoharan et al.'s straight-through estimator: d/dt H(pre - t) := -K((pre - t)/e)/e
    with K the unit rectangle and e the bandwidth (what SAELens's ``Step`` computes)."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        pre, threshold = ctx.saved_tensors
        window = ((pre - threshold).abs() < BANDWIDTH / 2).to(grad.dtype)
        return None, (-window * grad / BANDWIDTH).reshape(-1, pre.shape[-1]).sum(0)


def jump_gate(pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """1 where a pre-activation clears its feature's threshold, else 0 (JumpReLU's gate)."""
    return JumpStep.apply(pre, threshold)


def topk_activate(pre: torch.Tensor, k: int) -> torch.Tensor:
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, indices, values.relu())


def aux_k_loss(sae, target, x_hat, pre, dead: torch.Tensor, aux_k: int) -> torch.Tensor:
    """Gao et al.'s auxiliary loss: the top ``aux_k`` dead features alone reconstruct the
    residual the live ones left, so dead features get gradient and come back."""
    if not dead.any():
        return target.new_zeros(())
    residual = (target - x_hat).detach()
    masked = pre.masked_fill(~dead, float("-inf"))
    k = min(aux_k, int(dead.sum()))
    values, indices = masked.topk(k, dim=-1)
    features = torch.zeros_like(pre).scatter_(-1, indices, values.relu())
    return (features @ sae.W_dec - residual).pow(2).sum(-1).mean() / residual.pow(2).sum(
        -1
    ).mean().clamp(min=1e-8)


def topk_penalty(sae, target, x_hat, pre, features, dead, cfg) -> torch.Tensor:
    if not cfg.aux_coefficient:
        return target.new_zeros(())
    return cfg.aux_coefficient * aux_k_loss(sae, target, x_hat, pre, dead, cfg.aux_k)


@torch.no_grad()
def resample_dead(sae, optimizer, x: torch.Tensor, target: torch.Tensor, dead: torch.Tensor) -> int:
    """Point each dead feature at one of the batch's worst-reconstructed positions: its
    decoder row at the target there, its encoder column (small) at the input there, each
    centred and normalised; their optimiser moments restart at zero."""
    index = dead.nonzero().flatten()
    if len(index) == 0:
        return 0
    errors = (sae(x) - target).pow(2).sum(-1)
    worst = errors.topk(min(len(index), len(x))).indices
    index = index[: len(worst)]
    direction = _unit(target[worst] - sae.b_dec)
    centred = x[worst] - sae.b_dec if sae.apply_b_dec_to_input else x[worst]
    reads = direction if target is x else _unit(centred)
    alive = ~dead
    scale = 0.2 * (sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else 1.0)
    sae.W_dec[index] = direction
    sae.W_enc[:, index] = reads.T * scale
    sae.b_enc[index] = 0.0
    for param, rows in (
        (sae.W_dec, (index,)),
        (sae.W_enc, (slice(None), index)),
        (sae.b_enc, (index,)),
    ):
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][rows] = 0.0
    return len(index)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def resample_every(sae, optimizer, x, target, dead, step: int, cfg) -> None:
    if step % cfg.resample_every == 0:
        resample_dead(sae, optimizer, x, target, dead)


def jumprelu_penalty(sae, target, x_hat, pre, features, dead, cfg) -> torch.Tensor:
    """Anthropic's tanh sparsity penalty and, on dead features, their pre-activation loss."""
    norms = sae.W_dec.norm(dim=1)
    sparsity = torch.tanh(cfg.tanh_scale * features * norms).sum(-1).mean()
    below = (sae.threshold - pre).relu() * dead * norms
    return cfg.sparsity_coefficient * sparsity + cfg.preact_coefficient * below.sum(-1).mean()


@torch.no_grad()
def keep_thresholds_positive(sae, optimizer, x, target, dead, step: int, cfg) -> None:
    """Thresholds below zero would let negative pre-activations through (SAELens projects
    them back the same way, outside the gradient)."""
    sae.threshold.clamp_(min=0.0)


register_architecture(
    SAEArchitecture(
        name="topk",
        activate=topk_activate,
        penalty=topk_penalty,
        cfg_keys=lambda sae: {"k": sae.k},
        summary="Gao et al. 2024: the k largest features, AuxK loss for dead ones",
        uses_k=True,
    )
)
register_architecture(
    SAEArchitecture(
        name="standard",
        activate=lambda pre, k: pre.relu(),
        penalty=lambda sae, target, x_hat, pre, features, dead, cfg: (
            cfg.l1_coefficient * features.sum(-1).mean()
        ),
        after_step=resample_every,
        summary="ReLU with an L1 penalty; dead features resampled",
    )
)
for skip, infix in ((False, ""), (True, "skip_")):
    register_architecture(
        SAEArchitecture(
            name=f"jumprelu_{infix}transcoder",
            activate=lambda pre, k: pre.relu(),
            penalty=jumprelu_penalty,
            after_step=keep_thresholds_positive,
            apply_b_dec_to_input=False,
            summary="transcoder: JumpReLU, Anthropic's tanh penalty" + (", skip" if skip else ""),
            jump=True,
            skip=skip,
        )
    )
    register_architecture(
        SAEArchitecture(
            name=f"topk_{infix}transcoder",
            activate=topk_activate,
            penalty=topk_penalty,
            apply_b_dec_to_input=False,
            cfg_keys=lambda sae: {"k": sae.k},
            summary="transcoder: the k largest features, AuxK loss" + (", skip" if skip else ""),
            uses_k=True,
            skip=skip,
        )
    )
