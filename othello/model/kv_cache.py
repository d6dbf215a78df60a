"""Keys and values kept between calls, so sampling a continuation costs one token per step.

A sampler that reruns the whole sequence for every new token does quadratic work;
:meth:`othello.model.gpt.GPT.prefill` runs a prefix once and stores every layer's keys and
values here, and :meth:`othello.model.gpt.GPT.step` then feeds one new token per row,
writing its key and value at that row's position and attending to the row's earlier keys.

Rows are independent and may sit at different positions: row ``b``'s step at position ``p``
reads keys ``0..p`` of row ``b`` only. Keys past ``p`` are masked, so a right-padded prefill
row of real length ``L`` leaves junk keys at ``L..T-1`` that do no harm: its next step writes
position ``L``, the one after ``L + 1``, and so on over the junk.

This module only keeps keys and values; the attention over them is the model's own
(:meth:`othello.model.gpt.Attention.attend`, the same code as a forward pass whose pattern is
written out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from othello.model.config import GPTConfig


class KVCache:
    """Keys and values of every layer for a batch of sequences, each of its own length.

    ``keys[layer]`` and ``values[layer]`` are ``[batch, n_heads, n_ctx, d_head]``, allocated
    once (to the model's context, or to the ``n_ctx`` positions a use will reach) so that steps
    write in place.
    """

    def __init__(
        self,
        cfg: GPTConfig,
        batch: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        n_ctx: int | None = None,
    ) -> None:
        shape = (batch, cfg.n_heads, min(n_ctx or cfg.n_ctx, cfg.n_ctx), cfg.d_head)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros_like(k) for k in self.keys]

    @classmethod
    def _of(cls, keys: list[torch.Tensor], values: list[torch.Tensor]) -> KVCache:
        cache = cls.__new__(cls)
        cache.keys, cache.values = keys, values
        return cache

    @property
    def batch(self) -> int:
        return self.keys[0].shape[0]

    @property
    def n_ctx(self) -> int:
        return self.keys[0].shape[2]

    def select(self, rows: torch.Tensor | np.ndarray) -> KVCache:
        """A new cache (copied, not shared) holding ``rows`` in that order; a row may repeat,
        so ``arange(B).repeat_interleave(30)`` turns each of B prefixes into 30 samples."""
        index = torch.as_tensor(rows, dtype=torch.long, device=self.keys[0].device)
        if index.ndim != 1:
            raise ValueError(f"rows must be one-dimensional, got shape {tuple(index.shape)}")
        return KVCache._of([k[index] for k in self.keys], [v[index] for v in self.values])

    def write(self, slots: torch.Tensor, source: KVCache, rows: torch.Tensor) -> None:
        """Put rows ``rows`` of ``source`` into rows ``slots`` of this cache, in place (its
        positions; a longer slot keeps what it held after them, which no step reads before
        writing)."""
        for mine, theirs in ((self.keys, source.keys), (self.values, source.values)):
            for layer, tensor in enumerate(mine):
                tensor[slots, :, : source.n_ctx] = theirs[layer][rows]

    def head(self, n: int) -> KVCache:
        """The first ``n`` rows as a view (steps on it write into this cache): with rows
        ordered by how long they still run, the ones still running are always a head, so a
        sampler steps those alone without copying."""
        return KVCache._of([k[:n] for k in self.keys], [v[:n] for v in self.values])

    def slot(self, layer: int, positions: torch.Tensor | None = None) -> LayerSlot:
        """What attention layer ``layer`` reads and writes in this call."""
        return LayerSlot(self.keys[layer], self.values[layer], positions)


@dataclass(frozen=True)
class LayerSlot:
    """One layer's keys and values [batch, head, n_ctx, d_head] (views into a
    :class:`KVCache`) and, during a step, the position [batch] of each row's new token
    (None during a prefill, which starts every row at position 0)."""

    keys: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor | None

    def store_prefix(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Keep the keys and values [batch, head, T, d_head] of positions 0..T-1."""
        n_pos = k.shape[2]
        self.keys[:, :, :n_pos] = k
        self.values[:, :, :n_pos] = v

    def step(
        self, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Write each row's new key and value [batch, head, 1, d_head] at ``positions[b]``
        and give what its query attends over: every key and value [batch, head, n_ctx,
        d_head] of its row (in the query's dtype) and which it sees [batch, 1, 1, n_ctx]:
        keys 0..positions[b]. Whatever the slot held at ``positions[b]`` is replaced, so a
        row may step again at the same position (a resumed edit does, once per edit)."""
        rows = torch.arange(k.shape[0], device=k.device)
        self.keys[rows, :, self.positions] = k[:, :, 0].to(self.keys.dtype)
        self.values[rows, :, self.positions] = v[:, :, 0].to(self.values.dtype)
        seen = torch.arange(self.keys.shape[2], device=k.device) <= self.positions[:, None]
        return self.keys.to(k.dtype), self.values.to(k.dtype), seen[:, None, None, :]


def check_positions(positions: torch.Tensor, batch: int, n_ctx: int) -> None:
    """Refuse positions that are not one per row inside the context window."""
    if positions.shape != (batch,):
        raise ValueError(f"positions must have shape ({batch},), got {tuple(positions.shape)}")
    if positions.dtype != torch.long:
        raise ValueError(f"positions must be torch.long, got {positions.dtype}")
    bad = (positions < 0) | (positions >= n_ctx)
    if bad.any():
        raise ValueError(
            f"position {int(positions[bad][0])} is outside the context window 0..{n_ctx - 1}"
        )
