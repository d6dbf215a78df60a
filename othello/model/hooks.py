"""The one owner of hook names and residual-layer numbers (after TransformerLens's
``get_act_name``): every module that reads or edits an activation asks here for its name, so
the names are written once and a style test forbids building ``"blocks."`` strings elsewhere.

Names are TransformerLens's: ``hook_embed``, ``blocks.3.hook_resid_pre``,
``blocks.3.attn.hook_pattern``, ``blocks.3.mlp.hook_post``, ... Residual *layers* are numbered
the way every stage and file numbers them: layer ``l < L`` is the input of block ``l``
(``blocks.l.hook_resid_pre``; layer 0 is the embeddings) and layer ``L`` is the last block's
output (``blocks.{L-1}.hook_resid_post``), so a model of ``L`` blocks has ``L + 1`` layers.
"""

from __future__ import annotations

from othello.common.errors import UserError

BLOCKS = "blocks"
EMBED = "hook_embed"
POS_EMBED = "hook_pos_embed"
FINAL_SCALE = "ln_final.hook_scale"  # [batch, pos, 1]: the final LayerNorm's divisor
# short name -> where the hook sits inside block l (TransformerLens's get_act_name names; its
# get_act_name("scale", l, "ln1") is our "ln1_scale")
BLOCK_HOOKS = {
    "resid_pre": "hook_resid_pre",
    "resid_mid": "hook_resid_mid",
    "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out",
    "mlp_in": "hook_mlp_in",  # TransformerLens's: resid_mid as the MLP reads it, before ln2
    "mlp_out": "hook_mlp_out",
    "pattern": "attn.hook_pattern",
    "z": "attn.hook_z",
    "post": "mlp.hook_post",
    "ln1_scale": "ln1.hook_scale",  # [batch, pos, 1]: sqrt(var + eps) of the input to ln1
    "ln2_scale": "ln2.hook_scale",
    # the MLP's input centred and divided by ln2's scale, before its weight and bias: what a
    # transcoder reads (circuit-tracer's and SAELens's feature input hook)
    "ln2_normalized": "ln2.hook_normalized",
}
# per block, the hooks whose values a linearised forward pass freezes, in the block's order
FROZEN = ("ln1_scale", "pattern", "ln2_scale")
_RESID = ("hook_resid_pre", "hook_resid_post")


def block_prefix(layer: int) -> str:
    """``blocks.{layer}.``: the start of every hook and parameter name of block ``layer``."""
    return f"{BLOCKS}.{int(layer)}."


def act_name(name: str, layer: int | None = None) -> str:
    """The hook called ``name`` (a key of :data:`BLOCK_HOOKS`, or ``embed`` / ``pos_embed``)
    in block ``layer``: ``act_name("resid_pre", 3) == "blocks.3.hook_resid_pre"``."""
    if name in ("embed", "pos_embed"):
        return EMBED if name == "embed" else POS_EMBED
    if name not in BLOCK_HOOKS:
        raise UserError(f"unknown hook {name!r}; choose one of {sorted(BLOCK_HOOKS)}")
    if layer is None:
        raise UserError(f"hook {name!r} needs a block number")
    return block_prefix(layer) + BLOCK_HOOKS[name]


def block_hooks(name: str, n_layers: int) -> list[str]:
    """The hook ``name`` of every block, in order."""
    return [act_name(name, layer) for layer in range(n_layers)]


def frozen_hooks(n_layers: int) -> list[str]:
    """Every LayerNorm scale and attention pattern of a GPT of ``n_layers`` blocks, in forward
    order, the final LayerNorm's scale last: the values an attribution graph's replacement
    model takes from the real forward pass (Ameisen et al. 2025) so that, with the MLPs
    replaced, the rest of the model is linear (see :mod:`othello.model.gpt`)."""
    names = [act_name(name, layer) for layer in range(n_layers) for name in FROZEN]
    return names + [FINAL_SCALE]


def resid_hook(layer: int, n_layers: int) -> str:
    """The residual-stream hook of ``layer`` (0..n_layers) in a model of ``n_layers`` blocks."""
    if not 0 <= layer <= n_layers:
        raise UserError(f"residual layer {layer} is outside 0..{n_layers}")
    if layer == n_layers:
        return act_name("resid_post", n_layers - 1)
    return act_name("resid_pre", layer)


def resid_hooks(n_layers: int) -> dict[int, str]:
    """``{residual layer: hook}`` for every layer 0..n_layers."""
    return {layer: resid_hook(layer, n_layers) for layer in range(n_layers + 1)}


def resid_layer(hook: str) -> int:
    """Residual-stream layer of a hook: resid_pre of block l is layer l, resid_post is l + 1."""
    parts = hook.split(".")
    if len(parts) != 3 or parts[0] != BLOCKS or parts[2] not in _RESID or not parts[1].isdigit():
        raise UserError(f"{hook!r} is not a residual-stream hook")
    return int(parts[1]) + (parts[2] == "hook_resid_post")


def is_resid_hook(hook: str) -> bool:
    try:
        resid_layer(hook)
    except UserError:
        return False
    return True


def hook_block(hook: str) -> int | None:
    """The block a hook belongs to (None for the embedding hooks)."""
    parts = hook.split(".")
    return int(parts[1]) if parts[0] == BLOCKS and len(parts) > 2 else None


def layer_name(hook: str) -> str:
    """'3' for a residual-stream hook of layer 3, the hook itself otherwise."""
    return str(resid_layer(hook)) if is_resid_hook(hook) else hook


def hooks_by_layer(hooks: list[str]) -> dict[int, str]:
    """``{residual layer: hook}`` of residual-stream hooks, in layer order."""
    return dict(sorted((resid_layer(h), h) for h in hooks))
