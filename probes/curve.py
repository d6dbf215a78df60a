"""Probe accuracy along training: when does the board appear, and how fast does it grow?

A run trained with ``snapshot_every`` keeps its weights at intervals. Each of them (and the
finished model) is run over the same held-out games, probed with the same linear fit and
scored on the same test games, so the curve moves only with training; each checkpoint's best
layer is chosen on the validation games, as the probe stage chooses it. A checkpoint's
activations are held in memory (float16, the numbers a default ``acts.h5`` holds, so the
figures are those of caching each checkpoint to a file) and freed once its probes are scored:
memory is one checkpoint's activations, whatever the number of checkpoints, and nothing is
written but ``curve.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tqdm import tqdm

from othello.common.atomic import write_text
from othello.common.files import CURVE
from othello.common.hashing import file_sha256
from othello.model import checkpoint
from othello.model.hooks import layer_name
from othello.model.run_dir import METRICS_LOG, MODEL, snapshot_models
from probes.acts.memory import cache_activations
from probes.acts.source import ActivationSource
from probes.common import ProbeKey
from probes.fit import FitConfig, fit_probes
from probes.metrics import evaluate_probes, scheme_baselines
from probes.probe_stage import SPLITS, choose_on_val


def run_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(training step, model.pt) of every snapshot of a run and of its finished model, by
    step; a snapshot of the final step is the finished model and is listed once."""
    run_dir = Path(run_dir)
    found = snapshot_models(run_dir)
    final = run_dir / MODEL
    if final.exists():
        found[int(checkpoint.load(final).get("step", -1))] = final
    if not found:
        raise FileNotFoundError(f"{run_dir}: no model.pt and no snapshots/step-*/model.pt")
    return sorted(found.items())


def validation_by_step(run_dir: str | os.PathLike) -> dict[int, dict]:
    """The training run's own validation records (``val_*`` of metrics.jsonl) by step."""
    path = Path(run_dir) / METRICS_LOG
    records: dict[int, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if any(key.startswith("val_") for key in record):
                records[record["step"]] = record
    return records


def probe_checkpoint(
    model: Path, games: Path, n_games: int, scheme_name: str, progress: bool
) -> dict:
    """Run one checkpoint over ``n_games`` held-out games and score its layers; its
    activations live only as long as this call."""
    source = cache_activations(model, games, n_games, dtype="float16", progress=progress)
    return {**layer_scores(source, scheme_name, progress), "model_sha256": source.model_sha256}


def layer_scores(source: ActivationSource, scheme_name: str, progress: bool = False) -> dict:
    """Linear probes of ``scheme_name`` on every layer of ``source``: test accuracy by layer,
    the layer chosen on the validation games (its test accuracy is ``best``) and the
    baselines of the same test games."""
    fitted = ProbeKey(scheme_name, "linear")
    probes = fit_probes(source, FitConfig(probes=(str(fitted),)), progress=progress)
    by_split = {
        split: {
            layer_name(key.hook): round(c.summary()["accuracy"], 6)
            for key, c in evaluate_probes(source, probes, split).items()
        }
        for split in SPLITS
    }
    best = choose_on_val(by_split["val"], by_split["test"])
    base = scheme_baselines(source, scheme_name)
    return {
        "layers": by_split["test"],
        "val_layers": by_split["val"],
        "best_layer": best["layer"],
        "best": best["accuracy"],
        "chosen_on": "val",
        "baselines": {k: round(v, 6) for k, v in base.items() if isinstance(v, float)},
    }


def probe_curve(
    run_dir: str | os.PathLike,
    games: str | os.PathLike,
    out: str | os.PathLike,
    n_games: int = 1500,
    scheme_name: str = "mine_theirs",
    progress: bool = True,
) -> dict:
    """Probe every checkpoint of ``run_dir`` and write ``out/curve.json`` after each one, so a
    killed run keeps the points it finished and skips them when started again."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CURVE
    job = {"run": str(Path(run_dir).resolve()), "n_games": n_games, "scheme": scheme_name}
    data = json.loads(path.read_text()) if path.exists() else {}
    if {k: data.get(k) for k in job} != job:
        data = {**job, "points": {}}
    checkpoints = run_checkpoints(run_dir)
    validation = validation_by_step(run_dir)
    for step, model in tqdm(checkpoints, desc="checkpoints", disable=not progress):
        sha = file_sha256(model)
        point = data["points"].get(str(step))
        if point and point["model_sha256"] == sha:
            continue
        began = time.perf_counter()
        point = probe_checkpoint(model, Path(games), n_games, scheme_name, progress)
        val = validation.get(step, {})
        point.update(
            model=str(model),
            seconds=round(time.perf_counter() - began, 1),
            training_s=val.get("elapsed_s"),
            val_top1_legal=val.get("val_top1_legal_accuracy"),
            val_topn_errors=val.get("val_topn_set_errors"),
        )
        data["points"][str(step)] = point
        data["points"] = dict(sorted(data["points"].items(), key=lambda item: int(item[0])))
        write_text(path, json.dumps(data, indent=1) + "\n")
    return data
