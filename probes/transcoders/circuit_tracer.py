"""Transcoders in circuit-tracer's format (decoderesearch/circuit-tracer 0.5,
``circuit_tracer.utils.hf_utils.load_transcoders`` of a ``transcoder_set`` config):

* ``config.yaml``: ``model_kind: transcoder_set``, ``feature_input_hook`` and
  ``feature_output_hook`` (inside a block: ``ln2.hook_normalized`` and ``hook_mlp_out``, the
  hooks circuit-tracer's TransformerLens backend looks up as ``blocks.{l}.<hook>``),
  ``scan`` and ``transcoders`` (one file per layer, relative to the folder:
  :func:`circuit_tracer_config` resolves them; circuit-tracer opens them as written);
* ``layer_{l}.safetensors``: ``W_enc`` [d_transcoder, d_model] (our ``W_enc`` transposed),
  ``W_dec`` [d_transcoder, d_model], ``b_enc``, ``b_dec``, a JumpReLU's
  ``activation_function.threshold`` and a skip's ``W_skip`` [d_model, d_model] (applied as
  ``x @ W_skip.T``, ours as it is), float32.

circuit-tracer computes ``pre * (pre > threshold)`` (``JumpReLU``) or, with no threshold,
``ReLU(pre)``: our JumpReLU transcoders load there as the same map (thresholds >= 0). 0.5
has no TopK (its ``main`` branch reads ``activation: topk`` and ``k`` from the config and
applies no ReLU to the k largest); a TopK export writes those keys, which 0.5 ignores.

The config is YAML written by hand (JSON-quoted strings are YAML scalars) so that writing
and reading it needs no YAML library; :func:`read_config` reads back what this writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from othello.common.atomic import commit, partial_path, write_text
from othello.model.hooks import BLOCK_HOOKS, TRANSCODER
from probes.sae.architectures import ARCHITECTURES
from probes.sae.model import SparseAutoencoder

CONFIG = "config.yaml"
LAYER_FILE = "layer_{}.safetensors"
THRESHOLD = "activation_function.threshold"


def layer_tensors(transcoder: SparseAutoencoder) -> dict[str, torch.Tensor]:
    """One transcoder's tensors under circuit-tracer's names and shapes."""
    tensors = {
        "W_enc": transcoder.W_enc.T,
        "W_dec": transcoder.W_dec,
        "b_enc": transcoder.b_enc,
        "b_dec": transcoder.b_dec,
    }
    if transcoder.threshold is not None:
        tensors[THRESHOLD] = transcoder.threshold
    if transcoder.W_skip is not None:
        tensors["W_skip"] = transcoder.W_skip
    return {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}


def write_circuit_tracer(
    transcoders: dict[int, SparseAutoencoder], folder: str | os.PathLike, scan: str
) -> Path:
    """``folder/config.yaml`` and ``layer_{l}.safetensors`` for every layer 0..L-1 (circuit-
    tracer wants them all); ``scan``: the set's name in circuit-tracer's graphs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = sorted(transcoders)
    if layers != list(range(len(layers))):
        raise ValueError(f"circuit-tracer needs a transcoder for every layer from 0: {layers}")
    for layer in layers:
        partial = partial_path(folder / LAYER_FILE.format(layer))
        save_file(layer_tensors(transcoders[layer]), str(partial))
        commit(partial, folder / LAYER_FILE.format(layer))
    first = transcoders[layers[0]]
    config = {
        "model_kind": "transcoder_set",
        "feature_input_hook": BLOCK_HOOKS[TRANSCODER[0]],
        "feature_output_hook": BLOCK_HOOKS[TRANSCODER[1]],
        "scan": scan,
    }
    if ARCHITECTURES[first.architecture].uses_k:
        config.update(activation="topk", k=first.k)
    lines = [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    lines += ["transcoders:", *(f"  - {json.dumps(LAYER_FILE.format(i))}" for i in layers)]
    write_text(folder / CONFIG, "\n".join(lines) + "\n")
    return folder / CONFIG


def read_config(folder: str | os.PathLike) -> dict:
    """``config.yaml`` as written by :func:`write_circuit_tracer` (scalars and one list)."""
    config: dict = {}
    for line in (Path(folder) / CONFIG).read_text().splitlines():
        if line.startswith("  - "):
            config["transcoders"].append(json.loads(line[4:]))
        elif line.endswith(":"):
            config[line[:-1]] = []
        elif line.strip():
            key, _, value = line.partition(": ")
            config[key] = json.loads(value)
    return config


def circuit_tracer_config(folder: str | os.PathLike) -> dict:
    """The config with each layer's file as a full path: what
    ``circuit_tracer.utils.hf_utils.load_transcoders(config)`` loads from any directory."""
    config = read_config(folder)
    config["transcoders"] = [str(Path(folder).resolve() / p) for p in config["transcoders"]]
    return config


def read_circuit_tracer(
    folder: str | os.PathLike, architecture: str
) -> dict[int, SparseAutoencoder]:
    """Our transcoders back from circuit-tracer's files (``architecture``: ours, since the
    files do not say whether k applies; its ``k`` from the config)."""
    config = read_config(folder)
    out = {}
    for layer, name in enumerate(config["transcoders"]):
        tensors = load_file(str(Path(folder) / name))
        d_sae, d_in = tensors["W_enc"].shape
        state = {
            "W_enc": tensors["W_enc"].T.contiguous(),
            **{k: tensors[k] for k in ("W_dec", "b_enc", "b_dec", "W_skip") if k in tensors},
            **({"threshold": tensors[THRESHOLD]} if THRESHOLD in tensors else {}),
        }
        transcoder = SparseAutoencoder(d_in, d_sae, architecture, config.get("k", 0),
                                       tensors["b_dec"].shape[0])  # fmt: skip
        transcoder.load_state_dict(state, strict=True)
        out[layer] = transcoder.eval()
    return out
