"""A model in one call, whatever it is: a run directory or ``model.pt`` of ours, a published
checkpoint file (TransformerLens or Li et al.'s minGPT, told apart by its tensor names), or a
published model by name, fetched through the Hugging Face hub's cache and converted.

>>> model = load_model("data/runs/cpu")                 # a run of ours
>>> model = load_model("synthetic_model.pth")           # a downloaded published file
>>> model = from_pretrained("synthetic")                # Nanda et al.'s, via the hub cache

Offline with the file not cached, or without the hub client, :func:`from_pretrained` raises
the project's :class:`~othello.common.errors.UserError` naming the file, the URL to download it
by hand and the command that analyses the copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from othello.common.errors import UserError
from othello.model import checkpoint
from othello.model.gpt import GPT
from othello.model.hooked import HookedModel
from othello.world.squares import N_POSITIONS

AUTO = "auto"


def detect_format(path: Path) -> str:
    """``othello_gpt`` for a run directory or a file of ours (a payload with ``config`` and
    ``model``), ``transformer_lens`` or ``othello_world`` from a state dict's tensor names."""
    if path.is_dir():
        return "othello_gpt"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # let the format's own reader say what is wrong with the file
        return "transformer_lens"
    if not isinstance(payload, dict):
        return "transformer_lens"
    if {"config", "model"} <= set(payload):
        return "othello_gpt"
    state = payload.get("state_dict", payload)
    plain = {str(name).removeprefix("module.") for name in state}
    return "othello_world" if "tok_emb.weight" in plain else "transformer_lens"


def load_model(
    path: str | os.PathLike,
    format: str = AUTO,
    device: str | torch.device = "cpu",
    n_heads: int | None = None,
) -> HookedModel:
    """The model at ``path`` in eval mode: a run directory or our ``model.pt`` (a model of any
    kind: GPT, LSTM, Mamba), or a published GPT checkpoint file (``format``: ``auto``,
    ``othello_gpt``, ``transformer_lens`` or ``othello_world``; ``n_heads`` for the last, whose
    weights do not hold it: Li et al. 8)."""
    from othello.interop.formats import FORMATS, LI_ET_AL_HEADS, load_external

    path = Path(path)
    if format != AUTO and format not in FORMATS:
        raise UserError(f"unknown format {format!r}; choose auto or one of {FORMATS}")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run directory or checkpoint file")
    format = detect_format(path) if format == AUTO else format
    if format == "othello_gpt":
        return checkpoint.load_model_file(path, device)
    model = load_external(path, format, n_heads or LI_ET_AL_HEADS, n_ctx=N_POSITIONS)
    return model.to(device).eval()


def from_pretrained(
    name: str, revision: str | None = None, device: str | torch.device = "cpu"
) -> GPT:
    """A published Othello-GPT by name (``"synthetic"``: Nanda et al.'s model of synthetic
    games; ``"championship"``: the one trained on championship games), from the hub cache or
    downloaded into it, checked and converted to our model."""
    from othello.interop.hub import fetch_published

    fetched = fetch_published(name, revision)
    return load_model(fetched.path, "transformer_lens", device)
