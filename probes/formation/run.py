"""Every snapshot of a run, measured in turn: its inputs checked before anything is written,
one snapshot's model in memory at a time, and each finished snapshot recorded at once, so a
killed run resumes from the snapshots already measured.

A dynamics folder holds ``snapshots.json`` (each measured snapshot's figures, by step, with
its model's hash; rewritten after every snapshot), ``units/step-NNNNNN.npz`` (each game's
figures, what the phases resample), ``step-NNNNNN/probes`` (each snapshot's probes: the
explorer shows a snapshot's board through them) and, once every snapshot is measured,
``dynamics.json`` (the curves and their phases), the figures and ``metrics.json`` last.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from othello.common.atomic import commit, partial_path, write_text
from othello.common.errors import UserError
from othello.common.files import METRICS_LOG, SNAPSHOT_PREFIX
from othello.common.hashing import file_sha256
from othello.model.checkpoint import load, load_model_file
from othello.model.run_dir import check_corpus, read_record, snapshot_models
from othello.training.config import tokens_seen
from probes.formation.measures import DynamicsConfig, Figure, measure_snapshot

DONE_JSON = "snapshots.json"
UNITS = "units"


def run_snapshots(run: Path) -> dict[int, Path]:
    """Every snapshot's model.pt by step, each checked to be the run's model shape."""
    found = snapshot_models(run)
    if not found:
        raise UserError(
            f"{run}: no snapshots (snapshots/step-*/model.pt); train with snapshot_log=24 "
            "(the CPU presets' default) to keep them"
        )
    shape = read_record(run).config["model"]
    for path in found.values():
        if load(path)["config"] != shape:
            raise UserError(f"{path}: a snapshot of another model shape than {run}'s")
    return dict(sorted(found.items()))


def clock(run: Path) -> dict[int, float]:
    """Training seconds by step (the run's log), for the CPU-seconds axis."""
    path = run / METRICS_LOG
    out = {0: 0.0}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "elapsed_s" in record:
                out[record["step"]] = record["elapsed_s"]
    return out


def seconds_at(times: dict[int, float], step: int) -> float | None:
    """Training seconds at ``step``, interpolated between logged steps."""
    steps = sorted(times)
    if len(steps) < 2 or step > steps[-1]:
        return None
    return float(np.interp(step, steps, [times[s] for s in steps]))


def measure_run(
    run: Path, games: Path, out: Path | None, cfg: DynamicsConfig, target: str
) -> tuple[dict[int, dict], dict[int, dict]]:
    """Measure every snapshot not yet measured in ``out`` (the same settings and model hash),
    recording each as it finishes (``out`` None: in memory only); returns ``{step: record}``
    and ``{step: each game's figures}`` of every snapshot."""
    snapshots = run_snapshots(run)
    check_corpus(run, games, cfg.allow_other_corpus)
    record = read_record(run).config
    settings = recorded_settings(cfg)
    done = _done(out, settings) if out is not None else {}
    units = {step: load_units(out, step) for step in done if step in snapshots}
    times = clock(run)
    for step, path in tqdm(snapshots.items(), desc="snapshots", disable=not cfg.progress):
        sha = file_sha256(path)
        if done.get(step, {}).get("model_sha256") == sha:
            continue
        began = time.perf_counter()
        measured = measure_snapshot(load_model_file(path).eval(), games, cfg, target)
        units[step] = unit_arrays(measured.figures)
        done[step] = {
            "step": step,
            "tokens": tokens_seen(record, step),
            "training_seconds": seconds_at(times, step),
            "model_sha256": sha,
            "seconds": round(time.perf_counter() - began, 2),
            "peak_rss_gb": peak_rss_gb(),  # the process's peak so far: memory along the run
            "figures": {
                k: {"mean": f.mean, "stderr": f.stderr} for k, f in measured.figures.items()
            },
        }
        if out is not None:
            _record(out, step, units[step], measured, settings, done)
    return {step: done[step] for step in snapshots}, {step: units[step] for step in snapshots}


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)


def _record(out: Path, step: int, arrays: dict, measured, settings: dict, done: dict) -> None:
    """One finished snapshot on disk: its games' figures, its probes, then the record."""
    _save_units(out, step, arrays)
    if measured.probes is not None:
        measured.probes.fit.save(snapshot_probes(out, step))
    _write_done(out, settings, done)


def snapshot_probes(out: str | os.PathLike, step: int) -> Path:
    """Where a dynamics folder keeps snapshot ``step``'s probes (a probe folder)."""
    return Path(out) / f"{SNAPSHOT_PREFIX}{step:06d}" / "probes"


def unit_arrays(figures: dict[str, Figure]) -> dict[str, np.ndarray]:
    """Each game's figures of one snapshot: ``NAME.num`` and ``NAME.den``."""
    arrays = {}
    for name, f in figures.items():
        if f.num is not None:
            arrays[f"{name}.num"], arrays[f"{name}.den"] = f.num, f.den
    return arrays


def recorded_settings(cfg: DynamicsConfig) -> dict:
    """The settings a finished snapshot was measured with, as snapshots.json holds them (tuples
    as lists; the progress bar is not a setting): other settings measure every snapshot again."""
    return {k: v for k, v in json.loads(json.dumps(asdict(cfg))).items() if k != "progress"}


def _done(out: Path, settings: dict) -> dict[int, dict]:
    path = out / DONE_JSON
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    if saved.get("settings") != settings:
        return {}  # other settings: every snapshot is measured again
    return {int(step): entry for step, entry in saved["snapshots"].items()}


def _write_done(out: Path, settings: dict, done: dict[int, dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    body = {"settings": settings, "snapshots": {str(k): done[k] for k in sorted(done)}}
    write_text(out / DONE_JSON, json.dumps(body, indent=1) + "\n")


def _save_units(out: Path, step: int, arrays: dict[str, np.ndarray]) -> None:
    path = out / UNITS / f"{SNAPSHOT_PREFIX}{step:06d}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    with open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    commit(partial, path)


def load_units(out: str | os.PathLike, step: int) -> dict[str, np.ndarray]:
    """One snapshot's per-game figures (``NAME.num``, ``NAME.den``)."""
    with np.load(Path(out) / UNITS / f"{SNAPSHOT_PREFIX}{step:06d}.npz") as data:
        return {k: data[k] for k in data.files}
