"""A run directory: its file names, in one place (after SAELens's ``constants.py``), and the
one schema of its ``config.json``.

Training, :func:`othello.interop.formats.import_run` and
:func:`othello.interop.bundle.join_bundle` each make a run directory that every later stage
accepts; they record it in the same :class:`RunRecord`, so a reader (the report, the SAE
stage, a resumed training) finds the model's config, the corpus hash and where the weights
came from under the same keys whichever made it. ``kind`` says which: ``trained`` (here,
from ``games``), ``imported`` (a published checkpoint, ``imported`` says from where, and
the hub record there when fetched) or ``joined`` (rebuilt from a GPU bundle, ``joined`` says
which; the rest is the bundled run's record). A key that does not apply is null.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.files import (  # noqa: F401  (re-exported: a run folder's names)
    CHECKPOINT,
    CONFIG,
    CONTROL_DIR,
    METRICS_LOG,
    MODEL,
    SNAPSHOT_PREFIX,
    SNAPSHOTS,
)
from othello.common.version import __version__

KINDS = ("trained", "imported", "joined")


@dataclass(frozen=True)
class RunRecord:
    """What ``config.json`` says about a run; ``config["model"]`` is the model's config for
    every kind (for a trained run ``config`` is the whole resolved training config)."""

    kind: str
    config: dict
    games: str | None = None  # the corpus it was trained on, and that corpus's hash and attrs
    games_sha256: str | None = None
    games_attrs: dict | None = None
    code_version: str | None = None  # the code and torch that made the run (null: not kept)
    torch: str | None = None
    imported: dict | None = None  # path, format, sha256 and, when fetched, hub
    joined: dict | None = None  # from_bundle, dtype, step

    @classmethod
    def trained(cls, config: dict, games: Path, games_sha256: str, games_attrs: dict) -> RunRecord:
        return cls("trained", config, str(games), games_sha256, games_attrs, *_versions())

    @classmethod
    def imported_from(cls, model: dict, origin: dict) -> RunRecord:
        return cls("imported", {"model": model}, None, None, None, *_versions(), origin)

    def joined_from(self, bundle: dict) -> RunRecord:
        """This (bundled) run's record, rebuilt from ``bundle`` (from_bundle, dtype, step)."""
        return replace(self, kind="joined", joined=bundle)

    @property
    def model(self) -> dict:
        return self.config["model"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str | os.PathLike = CONFIG) -> RunRecord:
        """A record of this schema or an older one: without ``kind`` (written before this
        module) a file with ``imported`` is an imported run, else a trained one, and a file
        with no ``config`` entry is the training config itself (the first runs wrote that)."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: not a run record (a JSON object)")
        if "kind" not in data:
            config = data.get("config", data)
            data = {**data, "kind": "imported" if "imported" in data else "trained"}
            data["config"] = config
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        model = record.config.get("model") if isinstance(record.config, dict) else None
        if record.kind not in KINDS or not isinstance(model, dict):
            raise UserError(f"{where}: not a run record (kind {record.kind!r}, no config.model)")
        return record


def _versions() -> tuple[str, str]:
    return __version__, torch.__version__


def write_record(run_dir: str | os.PathLike, record: RunRecord) -> Path:
    """``RUN_DIR/config.json``, whole or not at all (a later stage treats it as the run's)."""
    return write_text(Path(run_dir) / CONFIG, json.dumps(record.to_dict(), indent=2) + "\n")


def read_record(run_dir: str | os.PathLike) -> RunRecord:
    """``RUN_DIR/config.json`` in this schema, from a file of this or an older schema."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; not a run directory (train or import one)")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from None
    return RunRecord.from_dict(data, path)


def check_corpus(run_dir: str | os.PathLike, games: str | os.PathLike, allow_other: bool) -> None:
    """Games of another corpus than the run trained on are refused in one line (unless
    ``allow_other``); a run that records none (an imported model) takes any."""
    from othello.common.hashing import file_sha256

    trained_on = read_record(run_dir).games_sha256
    if trained_on and not allow_other and file_sha256(games) != trained_on:
        raise UserError(
            f"{games}: another corpus than the one {run_dir} was trained on; pass the run's "
            "games or allow_other_corpus=true"
        )


def training_target(run_dir: str | os.PathLike) -> str:
    """What the run's model was trained to predict (``sampled``, ``legal``, ``legal_set``:
    what its outputs and loss mean): its config's, ``sampled`` for a model imported from
    elsewhere (Li et al.'s and Nanda et al.'s were trained on the move played). A snapshot's
    is its run's."""
    folder = Path(run_dir)
    if folder.is_file():
        folder = folder.parent
    if not (folder / CONFIG).exists() and folder.parent.name == SNAPSHOTS:
        folder = folder.parent.parent
    if not (folder / CONFIG).exists():
        return "sampled"
    return read_record(folder).config.get("target") or "sampled"


def snapshot_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """Where ``snapshot_every`` keeps the weights of ``step``: a directory later stages accept
    as a run (``cache.py --run``)."""
    return Path(run_dir) / SNAPSHOTS / f"{SNAPSHOT_PREFIX}{step:06d}"


def snapshot_models(run_dir: str | os.PathLike) -> dict[int, Path]:
    """Every snapshot's ``model.pt`` by training step."""
    paths = (Path(run_dir) / SNAPSHOTS).glob(f"{SNAPSHOT_PREFIX}*/{MODEL}")
    return {int(p.parent.name.removeprefix(SNAPSHOT_PREFIX)): p for p in paths}
