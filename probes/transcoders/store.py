"""A transcoder stage's folder of transcoders, one per MLP layer, each in SAELens's layout
(``layer_{l}/cfg.json`` + ``sae_weights.safetensors``: :func:`probes.sae.model.save_sae`,
with the MLP's normalised input as ``hook_name`` and its output as ``hook_name_out``), the
model's under ``transcoders/`` and the random-init control's under ``control/``.

:func:`load_transcoders` is what other rooms call (the attribution graphs read each
transcoder's encoder, decoder, threshold or k and skip from the modules it returns).
"""

from __future__ import annotations

import os
from pathlib import Path

from othello.common.errors import UserError
from othello.model.hooks import transcoder_hooks
from probes.sae.model import SparseAutoencoder, load_sae, sae_hooks, save_sae

MODEL_DIR, CONTROL_DIR = "transcoders", "control"
LAYER_DIR = "layer_{}"


def save_transcoders(
    transcoders: dict[int, SparseAutoencoder], folder: str | os.PathLike, metadata: dict
) -> None:
    """Each layer's transcoder into ``folder/layer_{l}`` (``metadata``: model and games
    hashes, kept in each cfg.json)."""
    for layer, transcoder in transcoders.items():
        hook, hook_out = transcoder_hooks(layer)
        meta = {"hook": hook, "hook_out": hook_out, "layer": layer, **metadata}
        save_sae(transcoder, Path(folder) / LAYER_DIR.format(layer), meta)


def load_transcoders(
    folder: str | os.PathLike, control: bool = False, model_sha256: str | None = None
) -> dict[int, SparseAutoencoder]:
    """``{layer: transcoder}`` of a transcoder stage's folder (the random-init control's with
    ``control``), in layer order and eval mode. Each reads block ``layer``'s
    ``ln2.hook_normalized`` and writes its ``hook_mlp_out``
    (:func:`othello.model.hooks.transcoder_hooks`); ``model_sha256``, when given, refuses
    transcoders trained on another model's activations, in one line."""
    root = Path(folder) / (CONTROL_DIR if control else MODEL_DIR)
    layers = sorted(int(p.name.split("_")[1]) for p in root.glob("layer_*") if p.is_dir())
    if not layers:
        raise FileNotFoundError(f"{root}: no transcoders (layer_*/cfg.json); run make transcoders")
    out = {}
    for layer in layers:
        transcoder, cfg = load_sae(root / LAYER_DIR.format(layer))
        if sae_hooks(cfg) != transcoder_hooks(layer):
            raise UserError(f"{root / LAYER_DIR.format(layer)}: reads {sae_hooks(cfg)}, not "
                            f"block {layer}'s MLP {transcoder_hooks(layer)}")  # fmt: skip
        trained_on = cfg["metadata"].get("model_sha256")
        if model_sha256 is not None and trained_on != model_sha256:
            raise UserError(
                f"{root}: transcoders of another model (sha256 {str(trained_on)[:12]}..., "
                f"not {model_sha256[:12]}...)"
            )
        out[layer] = transcoder
    return out
