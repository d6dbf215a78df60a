"""Probes for all 64 squares at once: a batched multinomial regression and Li et al.'s MLP.

Inputs are standardised inside the probe (mean and scale fixed from training data before
fitting), which makes one learning rate work at every layer; ``raw_weight`` / ``raw_bias`` fold
that back so the linear probe is a plain affine map of the residual stream, which is what
interventions move along.
"""

from __future__ import annotations

import torch
from torch import nn

from othello.squares import N_SQUARES


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


def make_probe(kind: str, d_model: int, n_classes: int, hidden: int = 256) -> nn.Module:
    if kind == "linear":
        return LinearProbe(d_model, n_classes)
    if kind == "mlp":
        return MLPProbe(d_model, n_classes, hidden)
    raise ValueError(f"unknown probe kind {kind!r}; expected 'linear' or 'mlp'")
