"""Probes on disk: ``PROBE_DIR/probes.pt`` with the metadata that ties them to one model.

The file holds tensors and plain values only and is read with ``weights_only=True``. It records
the content hashes of the model and corpus behind the cache the probes were fitted on, so a
later stage handed probes of another model can refuse them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from torch import nn

from othello.common.errors import UserError
from othello.common.files import PROBES
from othello.model import checkpoint
from probes.common import ProbeKey
from probes.fit import Probes
from probes.kinds import default_settings, make_probe, probe_kind
from probes.schemes import scheme


class ProbeMismatchError(UserError):
    """Probes fitted on another model's activations."""


def save_probes(
    probes: Probes,
    meta: dict,
    probe_dir: str | os.PathLike,
    kinds: dict[str, Any] | None = None,
) -> Path:
    """Write ``probes.pt``: each probe's state and what rebuilds it (its kind's settings,
    ``kinds``, defaults for kinds not given)."""
    kinds = {**default_settings(), **(kinds or {})}
    path = Path(probe_dir) / PROBES
    path.parent.mkdir(parents=True, exist_ok=True)
    specs = {}
    for key, probe in probes.items():
        settings = dataclasses.asdict(kinds[key.kind])
        specs[str(key)] = {"d_model": int(probe.mean.shape[0]), "settings": settings}
    payload = {
        "meta": meta,
        "specs": specs,
        "state": {str(key): probe.state_dict() for key, probe in probes.items()},
    }
    checkpoint.save(payload, path)
    return path


def load_probes(
    probe_dir: str | os.PathLike, model_sha256: str | None = None
) -> tuple[Probes, dict]:
    """Probes and their metadata; with ``model_sha256``, refuse probes of another model."""
    path = Path(probe_dir)
    if path.is_dir():
        path = path / PROBES
    payload = checkpoint.load(path)
    meta = payload["meta"]
    if model_sha256 is not None and meta.get("model_sha256") != model_sha256:
        raise ProbeMismatchError(
            f"{path} was fitted on another model (sha256 {str(meta.get('model_sha256'))[:12]}..."
            f", expected {model_sha256[:12]}...): fit probes on this model's cache"
        )
    probes: Probes = {}
    for text, spec in payload["specs"].items():
        key = ProbeKey.parse(text)
        settings = probe_kind(key.kind).settings(**spec["settings"])
        probe = make_probe(key.kind, spec["d_model"], scheme(key.scheme).n_classes, settings)
        probe.load_state_dict(payload["state"][text])
        probes[key] = probe.eval()
    return probes, meta


def by_hook(probes: Probes, fitted: ProbeKey, hooks: list[str], where: str) -> dict[str, nn.Module]:
    """``{hook: probe}`` of one fitted probe (``scheme/kind``) at each of ``hooks``; refuses,
    naming ``where`` the probes came from, when any is missing."""
    missing = [h for h in hooks if fitted.at(h) not in probes]
    if missing:
        raise UserError(
            f"{where} has no {fitted.at(missing[0])} probe; fit {fitted.scheme} {fitted.kind} "
            "probes at every layer"
        )
    return {h: probes[fitted.at(h)] for h in hooks}
