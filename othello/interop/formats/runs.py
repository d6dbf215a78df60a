"""Published checkpoints in and out of our run directories: :func:`import_run` makes a run
every later stage accepts from a published file or a Hugging Face folder, :func:`export_run`
writes a run's model as a TransformerLens state dict and config, :func:`export_hf_run` as a
Hugging Face folder with its model card."""

from __future__ import annotations

import json
import os
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import EVAL_DIR, EVAL_JSON
from othello.common.hashing import file_sha256
from othello.interop.formats.files import FOLDERS, load_external
from othello.interop.formats.hf import WEIGHTS, write_folder
from othello.interop.formats.hf_card import model_card
from othello.interop.formats.othello_world import LI_ET_AL_HEADS
from othello.interop.formats.table import CheckpointFormatError
from othello.interop.formats.transformer_lens import to_transformer_lens
from othello.model.checkpoint import MODEL, load_model_file, model_file, save, save_model
from othello.model.run_dir import CONFIG, RunRecord, write_record
from othello.world.squares import N_POSITIONS

# positions every stage reads: a game is 60 moves and the model predicts moves 2..60
GAME_CONTEXT = N_POSITIONS


def import_run(
    source: str | os.PathLike,
    kind: str,
    run_dir: str | os.PathLike,
    n_heads: int = LI_ET_AL_HEADS,
    hub: dict | None = None,
) -> Path:
    """Convert a published checkpoint into a run directory (``model.pt`` and ``config.json``
    saying where it came from) that every later stage accepts like a trained run.

    ``hub``: where the file was fetched from (:func:`othello.interop.hub.read_record`: repo, file,
    commit, size, sha256), recorded as ``imported.hub`` once the file is checked to be those
    bytes. Nothing is written when the file or the record is refused."""
    model = load_external(source, kind, n_heads, n_ctx=GAME_CONTEXT)
    weights = Path(source) / WEIGHTS if kind in FOLDERS else Path(source)  # what sha256 names
    origin = {"path": str(Path(source).resolve()), "format": kind, "sha256": file_sha256(weights)}
    if hub is not None:
        if hub.get("sha256") != origin["sha256"]:
            raise CheckpointFormatError(
                f"{source}: sha256 {origin['sha256'][:12]}... is not the fetched file's "
                f"({str(hub.get('sha256'))[:12]}...); fetch it again"
            )
        origin["hub"] = hub
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, run_dir / MODEL, {"imported_from": origin["path"]})
    write_record(run_dir, RunRecord.imported_from(model.cfg.to_dict(), origin))
    return run_dir / MODEL


def export_run(
    run: str | os.PathLike, prefix: str | os.PathLike, attn_mask: str = "auto"
) -> tuple[Path, Path]:
    """Write a run's model as ``PREFIX.pth`` (HookedTransformer state dict) and ``PREFIX.json``
    (its config keywords)."""
    state, config = to_transformer_lens(load_model_file(run), attn_mask)
    prefix = Path(prefix)
    weights, keywords = (
        prefix.with_name(prefix.name + ".pth"),
        prefix.with_name(prefix.name + ".json"),
    )
    save(state, weights)
    write_text(keywords, json.dumps(config, indent=2) + "\n")
    return weights, keywords


def export_hf_run(run: str | os.PathLike, out: str | os.PathLike, where: str | None = None) -> Path:
    """Write a run's GPT as a Hugging Face folder ``out`` (:mod:`.hf`), its model card holding
    the run's config and evaluation (``eval/eval.json``, when made) and loading examples that
    name ``where`` (a hub repository it is pushed to; default ``out``). A model with no GPT-2
    form is refused before anything is written."""
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    record, evaluation = (
        json.loads(path.read_text()) if path.is_file() else None
        for path in (folder / CONFIG, folder / EVAL_DIR / EVAL_JSON)
    )
    model = load_model_file(run)
    card = model_card(model.cfg, record, evaluation, where or str(out))
    try:
        return write_folder(model, out, card)
    except CheckpointFormatError as exc:  # no GPT-2 form: say which model
        raise CheckpointFormatError(f"{model_file(run)}: {exc}") from None
