"""Run the model on a game and keep what it computed, by hook name (TransformerLens's
``run_with_cache``), with the residual stream by layer one call away.

>>> logits, cache = run_with_cache(model, Game.from_moves("F5 D6 C3"))
>>> cache["blocks.1.attn.hook_pattern"].shape     # [1, heads, 3, 3]
>>> cache.resid(2).shape                           # layer 2 = blocks.2.hook_resid_pre: [1, 3, d]
>>> cache.resid_stream().shape                     # every layer: [layers + 1, 1, 3, d]
>>> logits = run_with_hooks(model, game, [("blocks.0.hook_mlp_out", lambda x, hook: 0 * x)])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from othello.common.errors import UserError
from othello.model.hooked import HookedModel, HookFn
from othello.model.hooks import resid_hook
from othello.world.game import Game


class ActivationCache(dict):
    """``{hook name: activation}`` of one forward pass, which also knows the residual layers
    (layer ``l`` is block ``l``'s input; the last is the last block's output)."""

    def __init__(self, cache: dict[str, torch.Tensor], n_layers: int) -> None:
        super().__init__(cache)
        self.n_layers = n_layers

    def resid(self, layer: int) -> torch.Tensor:
        """The residual stream at ``layer`` (0..n_layers): [batch, positions, d_model]."""
        hook = resid_hook(layer, self.n_layers)
        if hook not in self:
            raise UserError(f"{hook} was not cached; run with names=None or include it")
        return self[hook]

    def resid_stream(self) -> torch.Tensor:
        """Every residual layer stacked: [n_layers + 1, batch, positions, d_model]."""
        return torch.stack([self.resid(layer) for layer in range(self.n_layers + 1)])


def as_tokens(game: Game | np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Token ids [batch, positions] from a game (every position the model reads) or ids."""
    tokens = game.tokens() if isinstance(game, Game) else game
    tokens = torch.as_tensor(np.asarray(tokens) if not torch.is_tensor(tokens) else tokens)
    if tokens.ndim == 1:
        tokens = tokens[None]
    return tokens.to(device=device, dtype=torch.long)


@torch.no_grad()
def run_with_hooks(
    model: HookedModel,
    game: Game | np.ndarray | torch.Tensor,
    fwd_hooks: Iterable[tuple[str, HookFn]],
) -> torch.Tensor:
    """Logits of a forward pass in which each ``(hook name, fn)`` may replace its activation
    (``fn(x, hook)`` returns the new one, or None to leave it), for a game or token ids."""
    return model.run_with_hooks(as_tokens(game, next(model.parameters()).device), fwd_hooks)


@torch.no_grad()
def run_with_cache(
    model: HookedModel, game: Game | np.ndarray | torch.Tensor, names: Iterable[str] | None = None
) -> tuple[torch.Tensor, ActivationCache]:
    """Logits [batch, positions, 61] and the activations at ``names`` (every hook point when
    None) for a :class:`Game` or token ids [positions] / [batch, positions]."""
    tokens = as_tokens(game, next(model.parameters()).device)
    names = None if names is None else list(names)
    logits, cache = model.run_with_cache(tokens, names)
    return logits, ActivationCache(cache, model.cfg.n_layers)
