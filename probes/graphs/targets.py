"""What a graph explains, at the last position of a prefix: a move's logit, or a linear probe's
reading ("square X is mine": the probe's mine logit minus its theirs logit). Either is a
vector dotted with the residual stream at one layer (a move's through the final LayerNorm at
its frozen divisor), plus a bias: :class:`Target` holds the vector, the layer, the target's
value and its bias terms' own part (the unembedding's or the probe's bias)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from othello.common.errors import UserError
from othello.model.gpt import GPT
from othello.model.hooks import resid_hook
from othello.world.squares import square_name
from othello.world.tokens import PLAYABLE_MASK, encode
from probes.graphs.replacement import Forward, center
from probes.read import DIRECTIONS


@dataclass(frozen=True)
class Target:
    """``name``; ``kind`` (move, probe); the ``square`` it is about; the residual ``layer`` it
    reads at the last position (the model's depth for a move: after the last block); its
    ``vector`` [d_model] there; its ``value`` in the real forward pass."""

    name: str
    kind: str
    square: int
    layer: int
    vector: torch.Tensor
    value: float


def move_target(model: GPT, forward: Forward, square: int, demean: bool = False) -> Target:
    """The logit of the move ``square`` at the last position: the unembedding row of its
    token, times the final LayerNorm's weight, centred and divided by its frozen divisor.
    ``demean``: the logit minus the mean logit (circuit-tracer's target; our GPT's logits of
    the legal-set target are each a square's own score, so the default is the logit itself)."""
    if not 0 <= square < len(PLAYABLE_MASK) or not PLAYABLE_MASK[square]:
        raise UserError(f"target {square}: not a move (a square 0..63 other than the centre)")
    token = int(encode(square))
    unembed = model.unembed.weight.detach().float()
    row = unembed[token] - (unembed.mean(0) if demean else 0.0)
    vector = center(row * model.ln_final.weight.detach().float()) / forward.final_scale[-1]
    logits = forward.logits[-1]
    value = float(logits[token] - (logits.mean() if demean else 0.0))
    name = f"logit {square_name(square)}" + (" (demeaned)" if demean else "")
    return Target(name, "move", square, model.cfg.n_layers, vector, value)


def probe_target(
    probes, forward: Forward, layer: int, square: int, reading: str = "mine_theirs"
) -> Target:
    """A linear probe's reading of ``square`` at residual ``layer`` (``reading``: a key of
    :data:`probes.read.DIRECTIONS`; mine_theirs: the mine logit minus the theirs logit) from
    the probe stage's probes (``{ProbeKey: probe}``)."""
    from probes.read import probe_direction  # the probe room, only when a probe is asked

    n_layers = forward.resid.shape[0] - 1
    hook = resid_hook(layer, n_layers)
    vector = probe_direction(probes, hook, square, reading).float()
    probe = next(p for k, p in probes.items() if k.hook == hook and k.kind == "linear"
                 and k.scheme == ("mine_theirs" if reading == "empty" else reading))  # fmt: skip
    towards, away = DIRECTIONS[reading]
    bias = probe.raw_bias().detach().float()[square]
    offset = float(bias[list(towards)].mean() - bias[list(away)].mean())
    value = float(forward.resid[layer, -1] @ vector) + offset
    name = f"probe {reading} {square_name(square)} (layer {layer})"
    return Target(name, "probe", square, layer, vector, value)
