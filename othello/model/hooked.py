"""What every kind of model shares (the GPT, the LSTM, the Mamba): hook points by name, the
two calls that use them, and the decoding protocol the world-model tests sample through.

Every intermediate a researcher may want to read or edit passes through a :class:`HookPoint`,
named by its place in the module tree as TransformerLens names it (``blocks.3.hook_resid_pre``,
...; :mod:`othello.model.hooks` owns the names). :meth:`HookedModel.run_with_cache` records
chosen hooks, :meth:`HookedModel.run_with_hooks` runs functions that may replace them.

Decoding (inference only, under ``torch.no_grad`` in eval mode): ``cache = new_cache(batch)``,
``logits = prefill(tokens, cache, lengths)`` reads each row's prefix once and keeps what the
next step needs (keys and values for a GPT, the recurrent state for the others), then
``step(tokens, positions, cache)`` reads one more token per row. ``cache.select(rows)`` copies
rows of a cache (a row may repeat), so one prefix can be continued many ways, and
``cache.write(slots, source, rows)`` puts rows of another cache into some of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], torch.Tensor | None]


class HookPoint(nn.Module):
    """Identity, unless functions are attached: each sees the activation and may return a
    replacement."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""
        self.fns: list[HookFn] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self)
            if out is not None:
                x = out
        return x


def freeze(
    names: Iterable[str], values: Mapping[str, torch.Tensor] | None = None
) -> list[tuple[str, HookFn]]:
    """``(name, fn)`` pairs for :meth:`HookedModel.hooks` that hold the activations ``names``
    fixed: at ``values[name]`` (another run's cache, so this run goes through its scales and
    patterns), or with ``values`` None at this run's own, detached from autograd (the forward
    values unchanged, the gradients those of the model with these activations constant)."""
    if values is None:
        return [(name, lambda x, hook: x.detach()) for name in names]
    return [(name, lambda x, hook: values[hook.name]) for name in names]


class HookedModel(nn.Module):
    """A model over move tokens whose activations are reachable by hook name.

    A subclass builds its modules, then calls :meth:`name_hook_points`; it keeps its config in
    ``self.cfg`` (with ``kind``, ``n_layers``, ``d_model``, ``n_ctx``, ``vocab_size``) and gives
    ``forward(tokens) -> logits [batch, pos, vocab]`` and the decoding protocol below.
    """

    cfg: Any

    def name_hook_points(self) -> None:
        """Name every hook point by its module path and index them."""
        self.hook_points: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_points[name] = module

    def check_length(self, n_pos: int) -> None:
        if n_pos > self.cfg.n_ctx:
            raise ValueError(f"sequence of {n_pos} tokens exceeds n_ctx={self.cfg.n_ctx}")

    # -- decoding protocol -------------------------------------------------------------------
    def new_cache(
        self, batch: int, device: torch.device | str = "cpu", n_ctx: int | None = None
    ) -> Any:
        """An empty decoding cache for ``batch`` rows that will reach at most ``n_ctx``
        positions (None: the whole context); it has ``select(rows)`` and ``write(slots,
        source, rows)``."""
        raise NotImplementedError

    def cache_row_bytes(self) -> int:
        """Bytes one row of a decoding cache holds (samplers size their batches by it)."""
        raise NotImplementedError

    def prefill(
        self, tokens: torch.Tensor, cache: Any, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [batch, T, vocab] of ``tokens`` [batch, T], exactly as ``forward``, keeping
        in ``cache`` what a :meth:`step` after position ``lengths[b] - 1`` of row ``b`` needs
        (rows may be right-padded; ``lengths`` None: every row is T long)."""
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, cache: Any) -> torch.Tensor:
        """Logits [batch, vocab] of one new token per row, ``tokens[b]`` at ``positions[b]``
        (long, the row's length so far), updating ``cache``."""
        raise NotImplementedError

    # -- hooks -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str, HookFn]]) -> Iterator[HookedModel]:
        """Attach ``(hook name, fn)`` pairs for the duration of a ``with`` block."""
        attached = []
        try:
            for name, fn in fwd_hooks:
                if name not in self.hook_points:
                    raise KeyError(f"no hook point named {name!r}")
                self.hook_points[name].fns.append(fn)
                attached.append((name, fn))
            yield self
        finally:
            for name, fn in attached:
                self.hook_points[name].fns.remove(fn)

    def run_with_hooks(
        self, tokens: torch.Tensor, fwd_hooks: Iterable[tuple[str, HookFn]]
    ) -> torch.Tensor:
        """Logits of a forward pass in which the given functions may edit their hooks."""
        with self.hooks(fwd_hooks):
            return self(tokens)

    def run_with_cache(
        self, tokens: torch.Tensor, names: Iterable[str] | None = None, detach: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and the activations at ``names`` (every hook point when None)."""
        cache: dict[str, torch.Tensor] = {}

        def save(x: torch.Tensor, hook: HookPoint) -> None:
            cache[hook.name] = x.detach() if detach else x

        names = list(self.hook_points) if names is None else list(names)
        logits = self.run_with_hooks(tokens, [(name, save) for name in names])
        return logits, cache

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
