"""The model kind ``mamba``: Mamba (S6) blocks from mambapy (pure PyTorch, by othello_mamba's
author; ``pip install -e '.[mamba]'``) on a residual stream (:mod:`othello.model.recurrent`),
initialised as mambapy's language model initialises them (:mod:`othello.model.init`, GPT-2's
scheme; like mambapy's, it zeroes dt_proj's bias, so every channel starts at
Delta = softplus(0) = 0.69 rather than Gu & Dao's 0.001-0.1).

Decoding keeps mambapy's per-layer state: the SSM state h [batch, d_inner, d_state] and the
last ``d_conv - 1`` inputs of the convolution.

The selective scan over a sequence is :class:`SelectiveScan`, in place of mambapy's parallel
scan (built for GPUs): the same function (a test holds values and gradients to mambapy's), its
recurrence a loop over positions with every other product made for all positions at once, its
backward written out keeping only the states (docs/benchmarks.md, 2026-12-04 and 2026-12-06:
1.94x mambapy's speed in training, and twice the loop's before on small batches)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from mambapy.mamba import MambaBlock as S6
from mambapy.mamba import MambaConfig as S6Config
from mambapy.mamba import RMSNorm
from torch import nn

from othello.model.config import MambaConfig
from othello.model.init import normal_init, residual_std
from othello.model.recurrent import RecurrentModel, ResidualBlock


class SelectiveScan(torch.autograd.Function):
    """Mamba's selective scan without its D term, forward and backward:

    ``h_t = exp(delta_t A) * h_{t-1} + (delta_t x_t) B_t`` and ``y_t = h_t . C_t``

    (x, delta [batch, L, d_inner]; A [d_inner, d_state]; B, C [batch, L, d_state]; h_0 = 0).
    Only the recurrence runs position by position (one multiply-add each way); every other
    product is made for all positions at once. mambapy's parallel scan (built for GPUs) makes
    the same [batch, L, d_inner, d_state] products and more; here the backward keeps only h
    and runs the recurrence of dL/dh in reverse."""

    @staticmethod
    def forward(ctx, x, delta, a, b, c):
        hs = x.new_empty(*x.shape, a.shape[1])
        for t, h in states(x, delta, a, b):
            hs[:, t] = h
        ctx.save_for_backward(x, delta, a, b, c, hs)
        return torch.einsum("blen,bln->ble", hs, c)

    @staticmethod
    def backward(ctx, dy):
        x, delta, a, b, c, hs = ctx.saved_tensors
        decay = torch.exp(delta[..., None] * a)  # exp(delta_t A) at every position
        dh = dy[..., None] * c[:, :, None, :]  # dL/dh_t through y_t; h_{t+1}'s share added next
        for t in range(x.shape[1] - 2, -1, -1):
            dh[:, t].addcmul_(decay[:, t + 1], dh[:, t + 1])
        d_exponent = torch.zeros_like(dh)  # dL/d(delta_t A); h_0 = 0 gives none at t = 0
        torch.mul(dh[:, 1:] * hs[:, :-1], decay[:, 1:], out=d_exponent[:, 1:])
        du = torch.einsum("blen,bln->ble", dh, b)  # dL/d(delta_t x_t)
        return (
            du * delta,
            (d_exponent * a).sum(-1) + du * x,
            torch.einsum("blen,ble->en", d_exponent, delta),
            torch.einsum("blen,ble->bln", dh, delta * x),
            torch.einsum("ble,blen->bln", dy, hs),
        )


def states(x, delta, a, b) -> Iterator[tuple[int, torch.Tensor]]:
    """(t, h_t) of :class:`SelectiveScan`'s recurrence, position by position (h_t is a new
    tensor, not changed afterwards)."""
    decay = torch.exp(delta[..., None] * a)  # [batch, L, d_inner, d_state]
    drive = (delta * x)[..., None] * b[:, :, None, :]
    h = x.new_zeros(x.shape[0], x.shape[2], a.shape[1])
    for t in range(x.shape[1]):
        h = torch.addcmul(drive[:, t], decay[:, t], h)
        yield t, h


def scan(x, delta, a, b, c, each: Callable[[int, torch.Tensor], object]) -> torch.Tensor:
    """y of :class:`SelectiveScan`'s recurrence; ``each(t, h)`` sees the state after position t
    (h is not changed in place afterwards)."""
    y = torch.empty_like(x)
    for t, h in states(x, delta, a, b):
        each(t, h)
        y[:, t] = torch.einsum("ben,bn->be", h, c[:, t])
    return y


class S6Block(S6):
    """mambapy's Mamba block with :class:`SelectiveScan` for its scan (the same function),
    in float32 under mixed precision: the recurrence multiplies up to 59 decays, which bf16's
    8-bit mantissa would round away, and its backward mixes the saved states with A."""

    def selective_scan(self, x, delta, A, B, C, D):  # noqa: N803 (mambapy's names)
        with torch.autocast(x.device.type, enabled=False):
            inputs = (t.float() for t in (x, delta, A, B, C))
            y = SelectiveScan.apply(*inputs).to(x.dtype)
        return y + D * x

    def forward_with_state(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """mambapy's forward (its PyTorch path, written out) and the decoding state of each row
        after its first ``lengths[b]`` positions: h, and the last ``d_conv - 1`` inputs of the
        convolution (zeros before the first), as mambapy's ``step`` keeps them."""
        cfg, n_pos = self.config, x.shape[1]
        u, z = self.in_proj(x).chunk(2, dim=-1)  # [batch, pos, d_inner]
        conv = F.silu(self.conv1d(u.transpose(1, 2))[:, :, :n_pos].transpose(1, 2))
        delta, b, c = torch.split(self.x_proj(conv), [cfg.dt_rank, cfg.d_state, cfg.d_state], -1)
        delta, b, c = self._apply_layernorms(delta, b, c)
        delta = F.softplus(self.dt_proj(delta))
        a = -torch.exp(self.A_log.float())
        h = conv.new_zeros(x.shape[0], cfg.d_inner, cfg.d_state)

        def keep(t: int, state: torch.Tensor) -> None:
            ends = lengths == t + 1
            h[ends] = state[ends]

        inputs = (t.float() for t in (conv, delta, a, b, c))
        y = scan(*inputs, keep).to(x.dtype) + self.D * conv
        out = self.out_proj(y * F.silu(z))
        history = F.pad(u.transpose(1, 2), (cfg.d_conv - 1, 0))  # [batch, d_inner, K + pos]
        at = lengths[:, None] + torch.arange(cfg.d_conv - 1, device=x.device)  # [batch, K]
        last = history.gather(2, at[:, None, :].expand(-1, cfg.d_inner, -1))
        return out, [h, last]


class MambaBlock(ResidualBlock):
    """``Mamba(RMSNorm(x))``; its state per row is the SSM's h and the convolution's inputs."""

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
        self.mixer = S6Block(self.s6)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixer(x)

    def mix_prefill(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.mixer.forward_with_state(x, lengths)

    def mix_step(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y, (h, inputs) = self.mixer.step(x, tuple(state))
        return y, [h, inputs]

    def initial_state(self, batch: int, device: torch.device | str) -> list[torch.Tensor]:
        d_inner, n, dtype = self.s6.d_inner, self.s6.d_state, self.mixer.A_log.dtype
        return [
            torch.zeros(batch, d_inner, n, device=device, dtype=dtype),
            torch.zeros(batch, d_inner, self.s6.d_conv - 1, device=device, dtype=dtype),
        ]

    def state_numbers(self) -> int:
        return self.s6.d_inner * (self.s6.d_state + self.s6.d_conv - 1)


class Mamba(RecurrentModel):
    """Embedding, ``n_layers`` Mamba blocks, RMSNorm, unembedding."""

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__(cfg, MambaBlock, RMSNorm(cfg.d_model))
        self.apply(normal_init)  # dt_proj's bias too: every channel starts at softplus(0)
        for name, p in self.named_parameters():
            if name.endswith("mixer.out_proj.weight"):
                nn.init.normal_(p, std=residual_std(cfg.n_layers))
