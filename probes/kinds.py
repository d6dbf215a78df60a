"""The registry of probe kinds, and the two built in: a batched multinomial regression over
all 64 squares (linear) and Li et al.'s MLP.

A kind is declared once (:func:`register_kind`) with its settings dataclass (overridden as
``KIND.key=value``, e.g. ``mlp.hidden=512``), how to make a probe, its optimiser group, and
optionally a batched forward for many probes of one hook; fitting, storing, scoring and the
report iterate over the registry. Inputs are standardised inside every probe (mean and scale
fixed from training data before fitting), which makes one learning rate work at every layer;
``raw_weight`` / ``raw_bias`` fold that back so the linear probe is a plain affine map of the
residual stream, which is what interventions move along.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from othello.common.registry import Registry
from othello.world.squares import N_SQUARES


class _Standardised(nn.Module):
    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_model))
        self.register_buffer("scale", torch.ones(d_model))

    def set_standardisation(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.scale.copy_(scale.clamp(min=1e-6))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class LinearProbe(_Standardised):
    """Logits [..., 64, C] of one multinomial logistic regression per square."""

    def __init__(self, d_model: int, n_classes: int) -> None:
        super().__init__(d_model)
        self.n_classes = n_classes
        self.weight = nn.Parameter(torch.zeros(d_model, N_SQUARES, n_classes))
        self.bias = nn.Parameter(torch.zeros(N_SQUARES, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.standardise(x) @ self.weight.flatten(1)
        return z.unflatten(-1, (N_SQUARES, self.n_classes)) + self.bias

    def raw_weight(self) -> torch.Tensor:
        """[d_model, 64, C]: logits = x @ W + b on the raw residual stream x."""
        return self.weight / self.scale[:, None, None]

    def raw_bias(self) -> torch.Tensor:
        return self.bias - torch.einsum("d,dsc->sc", self.mean, self.raw_weight())


class MLPProbe(_Standardised):
    """Li et al.'s nonlinear probe: one hidden ReLU layer shared by the 64 squares' outputs."""

    def __init__(self, d_model: int, n_classes: int, hidden: int = 256) -> None:
        super().__init__(d_model)
        self.n_classes = n_classes
        self.hidden = hidden
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, N_SQUARES * n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardise(x)).unflatten(-1, (N_SQUARES, self.n_classes))


@dataclass(frozen=True)
class ProbeKind:
    """One probe kind. ``make(d_model, n_classes, settings)`` builds a probe (a module with
    ``set_standardisation`` that maps [..., d_model] to logits [..., 64, n_classes]);
    ``optimizer_group(settings)`` gives its AdamW group options (lr, weight_decay);
    ``batched(probes, x)``, if given, computes the logits of many probes of one hook at once
    (the fit's hot loop). ``differentiable``: its logits have a gradient with respect to the
    residual stream, so a gradient edit (Li et al.) can follow it."""

    name: str
    settings: type
    make: Callable[[int, int, Any], nn.Module]
    optimizer_group: Callable[[Any], dict]
    batched: Callable[[list[nn.Module], torch.Tensor], list[torch.Tensor]] | None = None
    differentiable: bool = True


KINDS = Registry("probe kind")
register_kind = KINDS.register
probe_kind = KINDS.lookup


def default_settings() -> dict[str, Any]:
    return {name: kind.settings() for name, kind in KINDS.items()}


def make_probe(name: str, d_model: int, n_classes: int, settings: Any = None) -> nn.Module:
    kind = probe_kind(name)
    return kind.make(d_model, n_classes, settings if settings is not None else kind.settings())


def differentiable_kinds() -> list[str]:
    """The registered kinds a gradient edit can follow, in registry order."""
    return [name for name, kind in KINDS.items() if kind.differentiable]


@dataclass(frozen=True)
class LinearProbeSettings:
    lr: float = 1e-2


@dataclass(frozen=True)
class MLPProbeSettings:
    lr: float = 3e-3
    weight_decay: float = 1e-4
    hidden: int = 256


def linear_batched(probes: list[LinearProbe], x: torch.Tensor) -> list[torch.Tensor]:
    """The linear probes of one hook share their input standardisation, so they run as one
    matrix product."""
    z = probes[0].standardise(x)
    weight = torch.cat([p.weight.flatten(1) for p in probes], dim=1)
    parts = (z @ weight).split([p.weight[0].numel() for p in probes], dim=1)
    return [
        part.unflatten(-1, p.bias.shape) + p.bias for p, part in zip(probes, parts, strict=True)
    ]


register_kind(
    ProbeKind(
        name="linear",
        settings=LinearProbeSettings,
        make=lambda d, c, s: LinearProbe(d, c),
        optimizer_group=lambda s: {"lr": s.lr},
        batched=linear_batched,
    )
)
register_kind(
    ProbeKind(
        name="mlp",
        settings=MLPProbeSettings,
        make=lambda d, c, s: MLPProbe(d, c, s.hidden),
        optimizer_group=lambda s: {"lr": s.lr, "weight_decay": s.weight_decay},
    )
)
