"""Checkpoints and finished models on disk.

Everything is written to a partial file and renamed, and read back with
``torch.load(weights_only=True)``: a checkpoint holds tensors, numbers and strings only, so
loading one never runs code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from othello.common.atomic import commit, partial_path
from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from othello.model.kinds import build_model, config_from_dict
from othello.model.run_dir import CONTROL_DIR, MODEL


def save(payload: dict, path: str | os.PathLike) -> None:
    partial = partial_path(path)
    partial.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, partial)
    commit(partial, path)


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated file, a pickle with code, ...
        raise UserError(f"{path}: not a loadable checkpoint ({exc})") from exc


def save_model(model: HookedModel, path: str | os.PathLike, extra: dict | None = None) -> None:
    save({"config": model.cfg.to_dict(), "model": model.state_dict(), **(extra or {})}, path)


def model_file(path: str | os.PathLike) -> Path:
    """``model.pt`` itself, given it or the run directory that holds it."""
    path = Path(path)
    return path / MODEL if path.is_dir() else path


def load_model_file(
    path: str | os.PathLike, device: str | torch.device = "cpu", kind: str | None = None
) -> HookedModel:
    """A model of whichever kind ``model.pt`` (or a run directory holding one) records, in eval
    mode; with ``kind``, a file of another kind is refused. Our file only:
    :func:`othello.load_model` reads published checkpoints too."""
    path = model_file(path)
    payload = load(path, device)
    if not isinstance(payload, dict) or "config" not in payload or "model" not in payload:
        raise UserError(f"{path}: not a model file of ours (no config and weights)")
    try:
        cfg = config_from_dict(payload["config"])
        if kind is not None and cfg.kind != kind:
            raise UserError(f"a {cfg.kind} model, not a {kind} one")
        model = build_model(cfg)
    except UserError as exc:  # an unknown kind, a bad config, a missing extra
        raise UserError(f"{path}: {exc}") from exc
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:  # weights of another shape than the config says
        raise UserError(f"{path}: its weights do not fit its {cfg.kind} config ({exc})") from exc
    return model.to(device).eval()


def control_model(run_dir: str | os.PathLike, seed: int = 0) -> Path:
    """``RUN_DIR/control/model.pt``: the run's architecture at its random initialisation, made
    once and kept, so probes on it are the control that says what an untrained model encodes.
    """
    path = Path(run_dir) / CONTROL_DIR / MODEL
    trained = load_model_file(run_dir)
    if not path.exists() or config_from_dict(load(path)["config"]) != trained.cfg:
        torch.manual_seed(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(build_model(trained.cfg), path, {"random_init_seed": seed})
    return path
