"""Our GPT in whichever TransformerLens is installed: 3.x or 4.x.

TransformerLens 4.0 deleted ``HookedTransformer``; a model built from a config now lives in
a ``TransformerBridge`` around a TL-native module (``TransformerBridge.boot_native``), whose
parameters have ``nn.Linear`` names (``blocks.0.attn.q.weight``) instead of 3.x's per-head
properties (``blocks.0.attn.W_Q``). Both majors keep 3.x's hook names
(``blocks.3.hook_resid_pre``, ``blocks.3.attn.hook_pattern``, ...), so code that reads
activations by name works on either. This module is the one place that knows which major is
installed; ``othello.interop.formats`` keeps writing and reading the 3.x state dict, which
4.x still converts (``convert_tl_checkpoint``) and which the published checkpoints are.

TransformerLens is optional (the ``tl`` extra): it is imported only inside the functions.
"""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch
from torch import Tensor

from othello.interop.formats import from_transformer_lens, to_transformer_lens
from othello.interop.hub import fetch_published
from othello.model.gpt import GPT

NATIVE = "TransformerLensNative"  # the only architecture boot_native builds


def tl_major() -> int | None:
    """The installed TransformerLens's major version, None when it is not installed. Read
    from the package metadata so asking costs no import (4.x takes ~10 s to import)."""
    try:
        return int(version("transformer-lens").split(".")[0])
    except PackageNotFoundError:
        return None


def to_tl_config(config: dict[str, Any], major: int, device: str = "cpu") -> dict[str, Any]:
    """``to_transformer_lens``'s ``HookedTransformerConfig`` keywords as the config of
    TransformerLens ``major`` takes them.

    3.x: as they are. 4.x: for ``TransformerBridgeConfig`` (not ``TransformerLensConfig``,
    its base, which refuses ``d_vocab_out``): the native architecture and no random init,
    since every weight is overwritten by the load that follows. ``device`` is explicit
    because both configs otherwise default to CUDA when it exists, away from our model.
    Both: ``use_hook_mlp_in`` on, so that ``blocks.{l}.hook_mlp_in`` fires as ours does.
    """
    config = {**config, "device": device, "use_hook_mlp_in": True}
    if major < 4:
        return config
    return {**config, "architecture": NATIVE, "init_weights": False}


def _bridge(config: dict[str, Any], state: dict[str, Tensor]):
    """A 4.x ``TransformerBridge`` of ``config`` holding the 3.x-format ``state``, loaded
    strictly: the steps of 4.x's own ``boot_tl_legacy``, minus its hub look-ups."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    cfg = TransformerBridgeConfig(**config)
    bridge = TransformerBridge.boot_native(cfg, device=cfg.device)
    converted = convert_tl_checkpoint(state, cfg)  # drops the attn.mask / IGNORE buffers
    # a TL state dict may lack the unembed bias; 3.x's loader and our importer read it as 0
    converted.setdefault("unembed.bias", torch.zeros(cfg.d_vocab))
    bridge.load_state_dict(converted, strict=True)
    return bridge.eval()


def _hooked_transformer(config: dict[str, Any], state: dict[str, Tensor]):
    """A 3.x ``HookedTransformer`` of ``config`` holding ``state``, loaded strictly."""
    import transformer_lens

    with warnings.catch_warnings():  # 3.x announces HookedTransformer's removal in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        model = transformer_lens.HookedTransformer(
            transformer_lens.HookedTransformerConfig(**config)
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def _installed_major() -> int:
    major = tl_major()
    if major is None:
        raise ImportError('TransformerLens is not installed: pip install -e ".[tl]"')
    if major < 3:
        raise ImportError(f"TransformerLens {major}.x is too old for our export; install >= 3.1")
    return major


def to_hooked(model: GPT):
    """Our ``model`` as the installed TransformerLens's model, in eval mode on the model's
    device: a ``HookedTransformer`` (3.x) or a ``TransformerBridge`` (4.x). Both give the
    same logits and take ``run_with_cache(tokens, names_filter=...)`` /
    ``run_with_hooks(tokens, fwd_hooks=[(name, fn)])`` with the same hook names as ours."""
    major = _installed_major()
    device = str(next(model.parameters()).device)
    state, config = to_transformer_lens(model)
    config = to_tl_config(config, major, device)
    if major < 4:
        return _hooked_transformer(config, state)
    return _bridge(config, {k: v.to(device) for k, v in state.items()})


def boot_published_tl(name: str = "synthetic", revision: str | None = None):
    """The published Othello-GPT ``name`` (``synthetic`` or ``championship``) as a
    TransformerLens 4.x ``TransformerBridge``, read from the hub cache (offline when
    ``HF_HUB_OFFLINE`` is set) or downloaded into it.

    Why not 4.x's ``TransformerBridge.boot_tl_legacy("NeelNanda/Othello-GPT-Transformer-
    Lens")``: it lists the repo through the hub API (refused offline, even with every file
    cached), needs a TL-style ``config.json`` and loads only a file named ``*final.pth``;
    the repo's files are ``synthetic_model.pth`` and ``championship_model.pth``. (TL's own
    ``othello-gpt`` alias is another repo, Baidicoot's, and boot_tl_legacy resolves no
    aliases.) So the config is read from the weights, as our importer reads it, after our
    importer has checked the file; the normalization is the file's (LNPre when the LayerNorm
    weights are folded away), so the bridge is the published model, not our LN copy of it.
    """
    if _installed_major() < 4:
        raise ImportError(
            "boot_published_tl is the TransformerLens 4.x route; on 3.x load the file into "
            "HookedTransformer(HookedTransformerConfig(..., normalization_type='LNPre'))"
        )
    path = fetch_published(name, revision).path
    state = torch.load(path, map_location="cpu", weights_only=True)
    _, config = to_transformer_lens(from_transformer_lens(state))  # checks it; its shape
    config["normalization_type"] = "LN" if "ln_final.w" in state else "LNPre"
    return _bridge(to_tl_config(config, 4), state)
