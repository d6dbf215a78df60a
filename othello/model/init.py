"""GPT-2's initialisation, shared by every kind (nanoGPT's and llama2.c's scheme, which mambapy's
language model follows too): weights normal with std 0.02, biases zero, and the projections
that write into the residual stream scaled down by 1 / sqrt(2 n_layers), so that the stream's
variance does not grow with depth."""

from __future__ import annotations

import math

from torch import nn

INIT_STD = 0.02


def normal_init(module: nn.Module) -> None:
    """For ``model.apply``: a Linear's weight and an Embedding's normal(0, INIT_STD), a bias 0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=INIT_STD)


def residual_std(n_layers: int) -> float:
    """The std of a projection into the residual stream, in a model of ``n_layers`` blocks."""
    return INIT_STD / math.sqrt(2 * n_layers)
