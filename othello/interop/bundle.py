"""What comes back from a GPU slot, in a few small files, and the run directory rebuilt from it.

A slot returns at most 8 files of at most 16 MiB each. :func:`make_bundle` writes, under one
folder: ``summary.json`` (the report's figures and checks), ``report.tar.gz`` (report.md,
report.html, the figures, the eval, probe and intervention metrics, the run's config.json and
metrics.jsonl) and the trained weights in bf16 (the 8-layer d512 model is about 50 MB) split
into ``weights.pt.partK`` files, with ``weights.json`` holding each part's sha256 and the
run's config. :func:`join_bundle` checks every part and rebuilds a run directory whose
``model.pt`` (float32, the bf16 values) every stage accepts on a CPU.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

import torch

from othello.common.errors import UserError
from othello.model.checkpoint import load, save_model
from othello.model.kinds import build_model, config_from_dict
from othello.model.run_dir import (
    CONFIG,
    METRICS_LOG,
    MODEL,
    RunRecord,
    read_record,
    write_record,
)

MiB = 1 << 20
MAX_FILES, MAX_FILE_BYTES = 8, 16 * MiB
MANIFEST = "weights.json"
REPORT_ARCHIVE = "report.tar.gz"


class BundleError(UserError):
    """A bundle that is incomplete, corrupted or over the size limits."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _weights_bytes(run_dir: Path) -> tuple[bytes, dict]:
    payload = load(run_dir / MODEL)
    state = {
        k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in payload["model"].items()
    }
    buffer = io.BytesIO()
    torch.save({"config": payload["config"], "model": state, "step": payload.get("step")}, buffer)
    return buffer.getvalue(), payload


def _report_archive(report_dir: Path, run_dir: Path, extra: list[Path]) -> bytes:
    """report.tar.gz: the report folder (figures included) and the run's own records."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(report_dir, arcname="report")
        for name in (CONFIG, METRICS_LOG):
            if (run_dir / name).exists():
                archive.add(run_dir / name, arcname=f"run/{name}")
        for path in extra:  # stage outputs that live beside the run (eval, probe metrics)
            archive.add(path, arcname=f"run/{path.relative_to(run_dir)}")
    return buffer.getvalue()


def make_bundle(
    run_dir: str | os.PathLike,
    report_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    summary: str,
    outputs: Sequence[str] = (),
    part_bytes: int = MAX_FILE_BYTES,
) -> list[Path]:
    """Write the bundle into ``out`` (other files there are left alone, earlier weight parts
    removed); returns the files written. Raises BundleError if the result would break the
    limits, before writing anything. ``summary``: the report's summary file, and ``outputs``
    the stage outputs beside the run (paths under ``run_dir``) to carry, as the stages that
    write them name them (othello does not import probes, so the caller passes the names)."""
    run_dir, report_dir, out = Path(run_dir), Path(report_dir), Path(out)
    if not (report_dir / summary).exists():
        raise BundleError(f"{report_dir}: no {summary}; run the report first")
    weights, payload = _weights_bytes(run_dir)
    extra = [run_dir / p for p in outputs if (run_dir / p).exists()]
    files = {
        summary: (report_dir / summary).read_bytes(),
        REPORT_ARCHIVE: _report_archive(report_dir, run_dir, extra),
    }
    parts = [weights[i : i + part_bytes] for i in range(0, len(weights), part_bytes)]
    for k, part in enumerate(parts):
        files[f"weights.pt.part{k}"] = part
    config = read_record(run_dir).to_dict()  # this schema, whichever the run's file has
    manifest = {
        "format": "othello-gpt bundle v1",
        "weights_sha256": _sha256(weights),
        "parts": [
            {"name": f"weights.pt.part{k}", "sha256": _sha256(p)} for k, p in enumerate(parts)
        ],
        "step": payload.get("step"),
        "dtype": "bfloat16",
        "run_config": config,
    }
    files[MANIFEST] = (json.dumps(manifest, indent=1) + "\n").encode()
    too_big = [name for name, data in files.items() if len(data) > MAX_FILE_BYTES]
    if len(files) > MAX_FILES or too_big:
        raise BundleError(
            f"bundle of {len(files)} files (at most {MAX_FILES}), over 16 MiB: {too_big or 'none'}"
        )
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("weights.pt.part*"):  # parts of an earlier, longer bundle
        stale.unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [out / name for name in files]


def join_bundle(bundle: str | os.PathLike, run_dir: str | os.PathLike) -> Path:
    """Check every part against the manifest, rebuild ``run_dir`` (model.pt in float32 from
    the bf16 weights, config.json, metrics.jsonl and the stage outputs from the archive) and
    unpack the report beside it as ``run_dir/report``. Returns model.pt's path."""
    bundle, run_dir = Path(bundle), Path(run_dir)
    manifest_path = bundle / MANIFEST
    if not manifest_path.exists():
        raise BundleError(f"{bundle}: no {MANIFEST}; is this a bundle folder?")
    manifest = json.loads(manifest_path.read_text())
    data = bytearray()
    for part in manifest["parts"]:
        path = bundle / part["name"]
        if not path.exists():
            raise BundleError(f"{path}: missing part")
        chunk = path.read_bytes()
        if _sha256(chunk) != part["sha256"]:
            raise BundleError(f"{path}: sha256 does not match {MANIFEST}; fetch it again")
        data += chunk
    if _sha256(bytes(data)) != manifest["weights_sha256"]:
        raise BundleError(f"{bundle}: joined weights do not match {MANIFEST}")
    payload = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    model = build_model(config_from_dict(payload["config"]))
    model.load_state_dict({k: v.float() for k, v in payload["model"].items()})
    run_dir.mkdir(parents=True, exist_ok=True)
    extra = {"step": payload["step"], "from_bundle": str(bundle.resolve()), "dtype": "bfloat16"}
    save_model(model, run_dir / MODEL, extra)
    archive = bundle / REPORT_ARCHIVE
    if archive.exists():
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(run_dir / "unpacked", filter="data")
        unpacked = run_dir / "unpacked"
        for path in (unpacked / "run").rglob("*"):
            if path.is_file():
                target = run_dir / path.relative_to(unpacked / "run")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        shutil.rmtree(run_dir / "report", ignore_errors=True)
        shutil.move(unpacked / "report", run_dir / "report")
        shutil.rmtree(unpacked)
    bundled = RunRecord.from_dict(manifest["run_config"], manifest_path)  # also in the archive
    write_record(run_dir, bundled.joined_from(extra))
    return run_dir / MODEL
