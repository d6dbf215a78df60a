"""The probe stage: fit every probe on a cache's training games, score it on the validation
and test games, choose each probe's best layer on validation, and write the results.

``metrics.json`` keeps the held-out *test* accuracy per scheme, kind and layer (what figures
and tables show), the validation accuracy beside it (``val``), and ``best``: for each probe,
the layer with the highest validation accuracy and its test accuracy and whole-board accuracy.
``whole_board`` holds, per split, scheme, kind and layer, the share of positions whose 64
squares the probe reads all right (``mean``, ``stderr`` over games, ``positions``, ``games``);
``whole_board_by_move`` the test share by move number at each probe's chosen layer. No
reported figure is chosen on the games it is reported on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from othello.common import settings as settings_lib
from othello.common.atomic import write_text
from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.files import DETAILS, METRICS
from othello.model.hooks import layer_name
from probes.acts.reader import ActsFile
from probes.acts.source import ActivationSource
from probes.fit import FitConfig, Probes, fit_probes
from probes.kinds import KINDS, default_settings
from probes.metrics import ProbeCounts, direction_cosines, evaluate_probes, scheme_baselines
from probes.probe_metrics import ProbeMetrics
from probes.store import save_probes

SPLITS = ("val", "test")  # the layer is chosen on the first, figures reported on the second


def choose_on_val(val: dict[str, float], test: dict[str, float]) -> dict:
    """The layer with the best validation accuracy (the earliest on ties) and its test
    accuracy."""
    layer = max(val, key=lambda k: (val[k], -list(val).index(k)))
    return {"layer": layer, "accuracy": test[layer], "val_accuracy": val[layer], "chosen_on": "val"}


def split_sizes(acts: ActivationSource, cfg: FitConfig) -> tuple[dict[str, int], list[str]]:
    """Games per probe split, and warnings; raises ValueError when the training or validation
    games are too few to mean anything (unless ``cfg.allow_small``)."""
    sizes = {split: len(acts.split_rows(split)) for split in ("train", "val", "test")}
    where = getattr(acts, "path", "the activations")
    warnings = []
    for split, least, advised in (
        ("train", cfg.min_train_games, cfg.advised_train_games),
        ("val", cfg.min_eval_games, cfg.advised_eval_games),
        ("test", cfg.min_eval_games, cfg.advised_eval_games),
    ):
        if sizes[split] < least and not cfg.allow_small:
            raise UserError(
                f"{where}: the probe {split} split holds {sizes[split]} games, fewer than "
                f"the {least} a probe needs; cache more games (cache.py --n-games, a bigger "
                "--split or corpus) or pass allow_small=true"
            )
        if sizes[split] < advised:
            warnings.append(
                f"only {sizes[split]} {split} games (advised >= {advised}): "
                f"{'probes may underfit' if split == 'train' else 'accuracies are noisy'}"
            )
    return sizes, warnings


def fit_settings(overrides: list[str]) -> tuple[FitConfig, dict[str, Any]]:
    """FitConfig and every probe kind's settings from ``key=value`` words; ``KIND.key=value``
    goes to that kind (``mlp.hidden=512``)."""
    plugins = {name: kind.settings for name, kind in KINDS.items()}
    return settings_lib.apply_with_plugins(FitConfig(), overrides, plugins)


def probe_tables(counts: dict, cfg: FitConfig, hooks: list[str], value: Callable) -> dict:
    """``{split: {scheme: {kind: {layer: value(counts)}}}}`` from the probes' counts."""
    tables: dict = {split: {spec.scheme: {} for spec in cfg.specs} for split in counts}
    for split, by_key in counts.items():
        for spec in cfg.specs:
            tables[split][spec.scheme][spec.kind] = {
                layer_name(h): value(by_key[spec.at(h)]) for h in hooks
            }
    return tables


def accuracy_tables(counts: dict, cfg: FitConfig, hooks: list[str]) -> dict:
    """Per-square accuracy of every probe, split and layer."""
    return probe_tables(counts, cfg, hooks, lambda c: round(c.summary()["accuracy"], 6))


def whole_board_tables(counts: dict, cfg: FitConfig, hooks: list[str]) -> dict:
    """Whole-board accuracy records (``ProbeCounts.whole_board_record``) of every probe,
    split and layer."""
    return probe_tables(counts, cfg, hooks, ProbeCounts.whole_board_record)


def build_metrics(counts: dict, base: dict, cfg: FitConfig, hooks: list[str], **extra) -> dict:
    """metrics.json from the probes' counts on each split: test accuracy per scheme and kind,
    validation beside it, baselines, the whole-board tables, and each probe's layer chosen on
    validation (on per-square accuracy) with its test figures."""
    accuracy = accuracy_tables(counts, cfg, hooks)
    metrics: dict = {**accuracy["test"], "val": accuracy["val"]}
    metrics["layers"] = {layer_name(h): h for h in hooks}
    metrics["baselines"] = {
        name: {k: round(v, 6) for k, v in b.items() if isinstance(v, float)}
        for name, b in base.items()
    }
    metrics["best"] = {
        str(spec): choose_on_val(
            accuracy["val"][spec.scheme][spec.kind], accuracy["test"][spec.scheme][spec.kind]
        )
        for spec in cfg.specs
    }
    board = whole_board_tables(counts, cfg, hooks)
    metrics["whole_board"] = board
    metrics["whole_board_by_move"] = {}
    for spec in cfg.specs:
        best = metrics["best"][str(spec)]
        record = board["test"][spec.scheme][spec.kind][best["layer"]]
        best.update(whole_board=record["mean"], whole_board_stderr=record["stderr"])
        hook = metrics["layers"][best["layer"]]
        metrics["whole_board_by_move"][str(spec)] = {
            "layer": best["layer"],
            "by_move": counts["test"][spec.at(hook)].whole_board_by_move(),
        }
    metrics.update(split="test", **extra)
    return metrics


@dataclass
class ProbeFit:
    """One model's probes, fitted and scored: what a probe folder holds (``probes.pt``,
    ``details.json``, ``metrics.json``)."""

    probes: Probes
    metrics: dict  # metrics.json's content
    details: dict
    meta: dict  # what probes.pt records beside the probes: hashes, hooks, settings
    kinds: dict[str, Any]

    def save(self, folder: str | os.PathLike) -> None:
        """Write the folder, ``metrics.json`` last (its presence means the fit finished)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        save_probes(self.probes, self.meta, out, self.kinds)
        write_text(out / DETAILS, json.dumps(self.details, indent=1) + "\n")
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")


def fit_source(
    source: ActivationSource,
    cfg: FitConfig,
    kinds: dict[str, Any] | None = None,
    progress: bool = True,
    where: str | None = None,
) -> ProbeFit:
    """Fit every probe of ``cfg`` on ``source``'s training games (an acts.h5 or activations
    held in memory), score it on the validation and test games and choose each probe's layer
    on validation; nothing is written. ``where``: the cache file, recorded in probes.pt."""
    kinds = {**default_settings(), **(kinds or {})}
    began = time.perf_counter()
    hooks = cfg.hooks or source.hooks
    sizes, warnings = split_sizes(source, cfg)
    probes = fit_probes(source, cfg, progress=progress, kinds=kinds)
    fit_seconds = time.perf_counter() - began
    device = pick_device(cfg.device)
    counts = {split: evaluate_probes(source, probes, split, device=device) for split in SPLITS}
    base = {name: scheme_baselines(source, name) for name in cfg.schemes}
    meta = {
        "acts": where,
        "model_sha256": source.model_sha256,
        "games_sha256": source.games_sha256,
        "hooks": hooks,
        "fit": {k: v for k, v in asdict(cfg).items() if k != "specs"},
        "kinds": {k: asdict(v) for k, v in kinds.items()},
    }
    metrics = build_metrics(
        counts, base, cfg, hooks,
        train_games=sizes["train"], val_games=sizes["val"], test_games=sizes["test"],
        test_positions=int(next(iter(counts["test"].values())).positions.sum()),
        warnings=warnings, fit_seconds=round(fit_seconds, 2),
        model_sha256=meta["model_sha256"], games_sha256=meta["games_sha256"],
    )  # fmt: skip
    details: dict = {
        "probes": {str(key): c.summary() for key, c in counts["test"].items()},
        "baselines": base,
    }
    if "mine_theirs" in cfg.schemes:
        details["direction_cosines"] = {"hooks": hooks, "cosine": direction_cosines(probes, hooks)}
    return ProbeFit(probes, metrics, details, meta, kinds)


def run_probe_stage(
    acts_path: str | os.PathLike,
    out: str | os.PathLike,
    cfg: FitConfig,
    progress: bool = True,
    kinds: dict[str, Any] | None = None,
) -> ProbeMetrics:
    """Fit, score and save the probes of one cache; returns metrics.json, read back.
    ``kinds``: each probe kind's settings (defaults where not given)."""
    with ActsFile(acts_path) as acts:
        fit = fit_source(acts, cfg, kinds, progress, str(Path(acts_path).resolve()))
    fit.save(out)
    return ProbeMetrics.load(out)


def summary_lines(metrics: ProbeMetrics) -> list[str]:
    """What the script prints: each probe's layer chosen on validation, its test accuracy
    and whole-board accuracy."""
    lines = [f"WARNING: {w}" for w in metrics.warnings]
    for key, best in metrics.best.items():
        lines.append(
            f"{key.scheme:12s} {key.kind:6s} layer {best.layer} (chosen on val): "
            f"{100 * best.accuracy:.2f}% test  (majority "
            f"{100 * metrics.baselines[key.scheme]['majority']:.2f}%)"
            + ("" if best.whole_board is None else f", whole board {100 * best.whole_board:.1f}%")
        )
    return lines
