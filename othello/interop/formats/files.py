"""A checkpoint file of any format read into our model: the published ones through their
layout modules, ours (``othello_gpt``, a ``model.pt`` of this project) through
:mod:`othello.model.checkpoint`, and a Hugging Face GPT-2 folder (``hf``, :mod:`.hf`). Files
are read with ``weights_only=True`` (safetensors hold tensors only).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from othello.common.errors import UserError
from othello.interop.formats.hf import read_folder
from othello.interop.formats.othello_world import LI_ET_AL_HEADS, from_othello_world
from othello.interop.formats.table import CheckpointFormatError, Tensor
from othello.interop.formats.transformer_lens import from_transformer_lens
from othello.model.checkpoint import load_model_file
from othello.model.gpt import GPT
from othello.model.hooked import HookedModel

# each published format: its state dict (and a head count, for a format without one) -> GPT
READERS: dict[str, Callable[[dict[str, Tensor], int], GPT]] = {
    "transformer_lens": lambda state, n_heads: from_transformer_lens(state),
    "othello_world": from_othello_world,
}
# each format that is a folder, not a file: the folder -> GPT (its shape from its config)
FOLDERS: dict[str, Callable[[Path], GPT]] = {"hf": read_folder}
OURS = "othello_gpt"  # a model.pt of this project (e.g. joined from a GPU bundle)
FORMATS = (*READERS, *FOLDERS, OURS)


def load_external(
    path: str | os.PathLike,
    kind: str,
    n_heads: int = LI_ET_AL_HEADS,
    n_ctx: int | None = None,
) -> HookedModel:
    """Read a published checkpoint file (``transformer_lens`` or ``othello_world``), a Hugging
    Face GPT-2 folder (``hf``), or a ``model.pt`` of this project (``othello_gpt``).

    Errors name the file: a missing file, one that is not a state dict, one whose tensors do
    not fit the format or whose vocabulary is not Othello-GPT's 61 tokens, and (when ``n_ctx``
    is given: the pipeline needs :data:`~othello.interop.formats.runs.GAME_CONTEXT`) one of
    another context raise :class:`CheckpointFormatError` (a ``ValueError``).
    """
    path = Path(path)
    if kind not in FORMATS:
        raise UserError(f"unknown checkpoint format {kind!r}; choose one of {FORMATS}")
    if kind in FOLDERS:
        model = FOLDERS[kind](path)
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    elif kind == OURS:
        model = load_model_file(path)
    else:
        state = read_state_dict(path)
        try:
            model = READERS[kind](state, n_heads)
        except CheckpointFormatError as exc:
            raise CheckpointFormatError(
                f"{path}: not a {kind} Othello-GPT checkpoint: {exc}"
            ) from None
    if n_ctx is not None and model.cfg.n_ctx != n_ctx:
        raise CheckpointFormatError(
            f"{path}: context of {model.cfg.n_ctx} positions (positional embedding rows); "
            f"Othello-GPT reads {n_ctx} (a game's first {n_ctx} moves)"
        )
    return model


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The tensors of a torch file, read without running code; errors name the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code, a truncated file, not torch at all
        why = _unloadable(path, exc)
        raise CheckpointFormatError(f"{path}: not a loadable state dict ({why})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointFormatError(
            f"{path}: not a state dict of tensors (holds a {type(state).__name__})"
        )
    return state


def _unloadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` failed, in one line: torch's own message is many lines of advice."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK") and not zipfile.is_zipfile(path):
        return "a truncated or damaged PyTorch file"
    if not head.startswith((b"PK", b"\x80")):  # torch files are zip archives or pickles
        return f"not a PyTorch file: it begins {head!r}"
    text = str(exc).strip()
    if "Weights only load failed" in text:
        return "it holds Python objects besides tensors, refused: loading them could run code"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'unreadable'}"
