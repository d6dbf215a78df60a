"""A model in one call, whatever it is: a run directory or ``model.pt`` of ours, a published
checkpoint file (TransformerLens or Li et al.'s minGPT, told apart by its tensor names), a
Hugging Face GPT-2 folder (ours exported, :mod:`othello.interop.formats.hf`), or a model on the
hub: a published one by name, or a repository holding such a folder, fetched into the hub's
cache and converted. :func:`save_pretrained` writes the folder.

>>> model = load_model("data/runs/cpu")                 # a run of ours
>>> model = load_model("synthetic_model.pth")           # a downloaded published file
>>> model = load_model("exports/cpu-hf")                # a Hugging Face folder
>>> model = from_pretrained("synthetic")                # Nanda et al.'s, via the hub cache
>>> model = from_pretrained("someone/othello-gpt")      # a hub repository holding a folder
>>> save_pretrained(model, "exports/cpu-hf")            # transformers, nnsight, TL 4 open it

Offline with the files not cached, or without the hub client, :func:`from_pretrained` raises
the project's :class:`~othello.common.errors.UserError` naming the file or repository, the URL
to download it by hand and what loads the copy.
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
    ``model``), ``hf`` for a folder without ``model.pt`` (a Hugging Face folder),
    ``transformer_lens`` or ``othello_world`` from a state dict's tensor names."""
    if path.is_dir():
        return "othello_gpt" if (path / checkpoint.MODEL).exists() else "hf"
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
    kind: GPT, LSTM, Mamba), a published GPT checkpoint file or a Hugging Face GPT-2 folder
    (``format``: ``auto``, ``othello_gpt``, ``transformer_lens``, ``othello_world`` or ``hf``;
    ``n_heads`` for ``othello_world``, whose weights do not hold it: Li et al. 8)."""
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
    """A model on the Hugging Face hub, from the hub cache or downloaded into it, checked and
    converted to our model: a published Othello-GPT by name (``"synthetic"``: Nanda et al.'s
    model of synthetic games; ``"championship"``: the one trained on championship games), or a
    repository ``OWNER/NAME`` holding a Hugging Face GPT-2 folder (one we exported and pushed:
    ``convert_checkpoint.py export --format hf --push OWNER/NAME``)."""
    from othello.interop.hub import PUBLISHED, fetch_folder, fetch_published

    if name in PUBLISHED or "/" not in name:
        fetched = fetch_published(name, revision)
        return load_model(fetched.path, "transformer_lens", device)
    return load_model(fetch_folder(name, revision), "hf", device)


def save_pretrained(model: GPT, out: str | os.PathLike) -> Path:
    """``model`` as a Hugging Face folder ``out`` (``config.json``, ``model.safetensors``,
    ``tokenizer.json``, a model card) that ``transformers``, nnsight and TransformerLens 4 load
    with no code of ours; a model without a GPT-2 form is refused before anything is written.
    A run's folder with its training config and evaluation on the card:
    :func:`othello.interop.formats.runs.export_hf_run`."""
    from othello.interop.formats.hf import write_folder
    from othello.interop.formats.hf_card import model_card

    return write_folder(model, out, model_card(model.cfg, where=str(out)))
