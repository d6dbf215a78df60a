"""What the recurrent kinds (LSTM, Mamba) share: token embeddings, residual blocks around a
sequence mixer, a final norm and the unembedding, and decoding through a recurrent state.

A block reads the residual stream and adds its mixer's output, with the GPT's hook names where
they mean the same thing: ``blocks.{l}.hook_resid_pre`` (its input), ``hook_mixer_out`` (what
the mixer adds) and ``hook_resid_post`` (its output); ``hook_embed`` is the stream before block
0. There are no positional embeddings: the recurrence knows the order. An edit at position
``p`` of a layer therefore reaches every later position through the recurrence, where a GPT's
reaches them only through attention to ``p``.

Decoding keeps, per layer and row, the mixer's state (:class:`StateCache`); :meth:`prefill`
runs the prefix as the forward pass does (hooks fire once, on the whole sequence) and keeps each
row's state after its own length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from othello.model.hooked import HookedModel, HookPoint
from othello.model.kv_cache import check_positions


class StateCache:
    """Per layer, the recurrent state of every row: a list of tensors, row first."""

    def __init__(self, layers: list[list[torch.Tensor]]) -> None:
        self.layers = layers

    @property
    def batch(self) -> int:
        return self.layers[0][0].shape[0]

    def select(self, rows: torch.Tensor) -> StateCache:
        """A copy holding ``rows`` in that order (a row may repeat)."""
        index = torch.as_tensor(rows, dtype=torch.long, device=self.layers[0][0].device)
        return StateCache([[t[index] for t in layer] for layer in self.layers])

    def write(self, slots: torch.Tensor, source: StateCache, rows: torch.Tensor) -> None:
        """Put rows ``rows`` of ``source`` into rows ``slots`` of this cache, in place."""
        for mine, theirs in zip(self.layers, source.layers, strict=True):
            for tensor, other in zip(mine, theirs, strict=True):
                tensor[slots] = other[rows]


class ResidualBlock(nn.Module):
    """``x + mixer(norm(x))`` with hooks; a subclass sets ``norm`` and gives :meth:`mix`,
    :meth:`mix_prefill`, :meth:`mix_step`, :meth:`initial_state` and :meth:`state_numbers`."""

    norm: nn.Module

    def __init__(self) -> None:
        super().__init__()
        self.hook_resid_pre = HookPoint()
        self.hook_mixer_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """The mixer over a whole sequence: [batch, pos, d] -> [batch, pos, d]."""
        raise NotImplementedError

    def mix_prefill(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`mix` from the initial state, and each row's state after its first
        ``lengths[b]`` positions (0 <= lengths[b] <= pos; the output past them may differ)."""
        raise NotImplementedError

    def mix_step(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One position: [batch, d] and the state -> [batch, d] and the new state."""
        raise NotImplementedError

    def initial_state(self, batch: int, device: torch.device | str) -> list[torch.Tensor]:
        """The state before the first position (zeros, in the block's dtype)."""
        raise NotImplementedError

    def state_numbers(self) -> int:
        """How many numbers one row's state holds (for sizing decoding batches)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        return self.hook_resid_post(x + self.hook_mixer_out(self.mix(self.norm(x))))

    def prefill(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`forward`, hooks included, and each row's state after ``lengths[b]``."""
        x = self.hook_resid_pre(x)
        y, state = self.mix_prefill(self.norm(x), lengths)
        return self.hook_resid_post(x + self.hook_mixer_out(y)), state

    def step(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """[batch, 1, d] through the block at one position, hooks included."""
        x = self.hook_resid_pre(x)
        y, state = self.mix_step(self.norm(x)[:, 0], state)
        return self.hook_resid_post(x + self.hook_mixer_out(y[:, None])), state


class RecurrentModel(HookedModel):
    """Embedding, ``cfg.n_layers`` residual blocks made by ``make_block``, ``ln_final`` and the
    unembedding."""

    def __init__(
        self, cfg: Any, make_block: Callable[[Any], ResidualBlock], final_norm: nn.Module
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.hook_embed = HookPoint()
        self.blocks = nn.ModuleList(make_block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = final_norm
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.name_hook_points()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [batch, pos, vocab] for token ids [batch, pos] (pos <= n_ctx)."""
        self.check_length(tokens.shape[1])
        x = self.hook_embed(self.embed(tokens))
        for block in self.blocks:
            x = block(x)
        return self.unembed(self.ln_final(x))

    def new_cache(
        self, batch: int, device: torch.device | str = "cpu", n_ctx: int | None = None
    ) -> StateCache:
        return StateCache([block.initial_state(batch, device) for block in self.blocks])

    def cache_row_bytes(self) -> int:
        itemsize = self.unembed.weight.dtype.itemsize
        return itemsize * sum(block.state_numbers() for block in self.blocks)

    def step(
        self, tokens: torch.Tensor, positions: torch.Tensor, cache: StateCache
    ) -> torch.Tensor:
        """Logits [batch, vocab] of one new token per row (``positions`` are checked, not
        needed: the state knows where each row is)."""
        if tokens.shape != (cache.batch,):
            raise ValueError(f"tokens {tuple(tokens.shape)} must be one per row")
        check_positions(positions, cache.batch, self.cfg.n_ctx)
        x = self.hook_embed(self.embed(tokens[:, None]))
        for layer, block in enumerate(self.blocks):
            x, cache.layers[layer] = block.step(x, cache.layers[layer])
        return self.unembed(self.ln_final(x))[:, 0]

    def prefill(
        self, tokens: torch.Tensor, cache: StateCache, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [batch, T, vocab] of ``tokens`` as :meth:`forward` gives them (hooks fire as
        there) at each row's first ``lengths[b]`` positions (junk after them), replacing the
        cache's states by each row's state after its ``lengths[b]`` tokens."""
        batch, n_pos = tokens.shape
        self.check_length(n_pos)
        if cache.batch != batch:
            raise ValueError(f"cache holds {cache.batch} rows, tokens have {batch}")
        if lengths is None:
            lengths = torch.full((batch,), n_pos)
        lengths = lengths.to(tokens.device).clamp(0, n_pos)
        x = self.hook_embed(self.embed(tokens))
        for layer, block in enumerate(self.blocks):
            x, cache.layers[layer] = block.prefill(x, lengths)
        return self.unembed(self.ln_final(x))
