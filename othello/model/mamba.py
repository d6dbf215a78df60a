"""The model kind ``mamba``: Mamba (S6) blocks from mambapy (pure PyTorch, by othello_mamba's
author; ``pip install -e '.[mamba]'``) on a residual stream (:mod:`othello.model.recurrent`),
initialised as mambapy's language model initialises them (llama2.c's scheme: normal 0.02,
projections into the stream scaled by 1 / sqrt(2 n_layers)).

Decoding keeps mambapy's per-layer state: the SSM state h [batch, d_inner, d_state] and the
last ``d_conv - 1`` inputs of the convolution."""

from __future__ import annotations

import math

import torch
from mambapy.mamba import MambaBlock as S6
from mambapy.mamba import MambaConfig as S6Config
from mambapy.mamba import RMSNorm
from torch import nn

from othello.model.config import MambaConfig
from othello.model.recurrent import RecurrentModel, ResidualBlock


class MambaBlock(ResidualBlock):
    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        self.s6 = S6Config(
            d_model=cfg.d_model,
            n_layers=cfg.n_layers,
            d_state=cfg.d_state,
            expand_factor=cfg.expand,
            d_conv=cfg.d_conv,
        )
        self.norm = RMSNorm(cfg.d_model)
        self.mixer = S6(self.s6)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixer(x)

    def mix_step(self, x: torch.Tensor, state: list[torch.Tensor]):
        y, (h, inputs) = self.mixer.step(x, tuple(state))
        return y, [h, inputs]

    def initial_state(self, batch: int, device) -> list[torch.Tensor]:
        d_inner, n = self.s6.d_inner, self.s6.d_state
        return [
            torch.zeros(batch, d_inner, n, device=device),
            torch.zeros(batch, d_inner, self.s6.d_conv - 1, device=device),
        ]

    def state_bytes(self) -> int:
        return self.s6.d_inner * (self.s6.d_state + self.s6.d_conv - 1) * 4


class Mamba(RecurrentModel):
    """Embedding, ``n_layers`` Mamba blocks, RMSNorm, unembedding."""

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__(cfg, MambaBlock, RMSNorm(cfg.d_model))
        self.apply(_init_weights)
        for name, p in self.named_parameters():
            if name.endswith("mixer.out_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
