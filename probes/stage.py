"""The probe stage: fit every probe on a cache's training games, score it on the validation
and test games, choose each probe's best layer on validation, and write the results.

``metrics.json`` keeps the held-out *test* accuracy per scheme, kind and layer (what figures
and tables show), the validation accuracy beside it (``val``), and ``best``: for each probe,
the layer with the highest validation accuracy and its test accuracy. No reported figure is
chosen on the games it is reported on.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from othello import settings as settings_lib
from othello.atomic import write_text
from othello.errors import UserError
from othello.model import resid_layer
from probes.acts.reader import ActsFile
from probes.fit import FitConfig, fit_probes, probe_key, resolve_device
from probes.kinds import KINDS, default_settings
from probes.metrics import direction_cosines, evaluate_probes, scheme_baselines
from probes.store import save_probes

SPLITS = ("val", "test")  # the layer is chosen on the first, figures reported on the second


def layer_name(hook: str) -> str:
    """'3' for a residual-stream hook of layer 3, the hook itself otherwise."""
    try:
        return str(resid_layer(hook))
    except ValueError:
        return hook


def choose_on_val(val: dict[str, float], test: dict[str, float]) -> dict:
    """The layer with the best validation accuracy (the earliest on ties) and its test
    accuracy."""
    layer = max(val, key=lambda k: (val[k], -list(val).index(k)))
    return {"layer": layer, "accuracy": test[layer], "val_accuracy": val[layer], "chosen_on": "val"}


def split_sizes(acts: ActsFile, cfg: FitConfig) -> tuple[dict[str, int], list[str]]:
    """Games per probe split, and warnings; raises ValueError when the training or validation
    games are too few to mean anything (unless ``cfg.allow_small``)."""
    sizes = {split: len(acts.split_rows(split)) for split in ("train", "val", "test")}
    warnings = []
    for split, least, advised in (
        ("train", cfg.min_train_games, cfg.advised_train_games),
        ("val", cfg.min_eval_games, cfg.advised_eval_games),
        ("test", cfg.min_eval_games, cfg.advised_eval_games),
    ):
        if sizes[split] < least and not cfg.allow_small:
            raise UserError(
                f"{acts.path}: the probe {split} split holds {sizes[split]} games, fewer than "
                f"the {least} a probe needs; cache more games (cache.py --n-games, a bigger "
                "--split or corpus) or pass allow_small=true"
            )
        if sizes[split] < advised:
            warnings.append(
                f"only {sizes[split]} {split} games (advised >= {advised}): "
                f"{'probes may underfit' if split == 'train' else 'accuracies are noisy'}"
            )
    return sizes, warnings


def load_settings(overrides: list[str]) -> tuple[FitConfig, dict[str, Any]]:
    """FitConfig and every probe kind's settings from ``key=value`` words; ``KIND.key=value``
    goes to that kind (``mlp.hidden=512``)."""
    plugins = {name: kind.settings for name, kind in KINDS.items()}
    return settings_lib.apply_with_plugins(FitConfig(), overrides, plugins)


def accuracy_tables(counts: dict, cfg: FitConfig, hooks: list[str]) -> dict:
    """``{split: {scheme: {kind: {layer: accuracy}}}}`` from the probes' counts."""
    tables: dict = {split: {name: {} for name, _ in cfg.specs} for split in counts}
    for split, by_key in counts.items():
        for name, kind in cfg.specs:
            tables[split][name][kind] = {
                layer_name(h): round(by_key[probe_key(name, kind, h)].summary()["accuracy"], 6)
                for h in hooks
            }
    return tables


def build_metrics(accuracy: dict, base: dict, cfg: FitConfig, hooks: list[str], **extra) -> dict:
    """metrics.json: test accuracy per scheme and kind, validation beside it, baselines and
    each probe's layer chosen on validation."""
    metrics: dict = {**accuracy["test"], "val": accuracy["val"]}
    metrics["layers"] = {layer_name(h): h for h in hooks}
    metrics["baselines"] = {
        name: {k: round(v, 6) for k, v in b.items() if isinstance(v, float)}
        for name, b in base.items()
    }
    metrics["best"] = {
        f"{name}/{kind}": choose_on_val(accuracy["val"][name][kind], accuracy["test"][name][kind])
        for name, kind in cfg.specs
    }
    metrics.update(split="test", **extra)
    return metrics


def run_probe_stage(
    acts_path: str | os.PathLike,
    out: str | os.PathLike,
    cfg: FitConfig,
    progress: bool = True,
    kinds: dict[str, Any] | None = None,
) -> dict:
    """Fit, score and save; returns metrics.json's content. Writes ``probes.pt``,
    ``details.json`` and ``metrics.json`` (last: its presence means the stage finished).
    ``kinds``: each probe kind's settings (defaults where not given)."""
    kinds = {**default_settings(), **(kinds or {})}
    began = time.perf_counter()
    with ActsFile(acts_path) as acts:
        hooks = cfg.hooks or acts.hooks
        sizes, warnings = split_sizes(acts, cfg)
        probes = fit_probes(acts, cfg, progress=progress, kinds=kinds)
        fit_seconds = time.perf_counter() - began
        device = resolve_device(cfg.device)
        counts = {split: evaluate_probes(acts, probes, split, device=device) for split in SPLITS}
        base = {name: scheme_baselines(acts, name) for name in cfg.schemes}
        meta = {
            "acts": str(Path(acts_path).resolve()),
            "model_sha256": acts.model_sha256,
            "games_sha256": acts.games_sha256,
            "hooks": hooks,
            "fit": {k: v for k, v in asdict(cfg).items() if k != "specs"},
            "kinds": {k: asdict(v) for k, v in kinds.items()},
        }
    metrics = build_metrics(
        accuracy_tables(counts, cfg, hooks), base, cfg, hooks,
        train_games=sizes["train"], val_games=sizes["val"], test_games=sizes["test"],
        test_positions=int(next(iter(counts["test"].values())).positions.sum()),
        warnings=warnings, fit_seconds=round(fit_seconds, 2),
        model_sha256=meta["model_sha256"], games_sha256=meta["games_sha256"],
    )  # fmt: skip
    details: dict = {
        "probes": {key: c.summary() for key, c in counts["test"].items()},
        "baselines": base,
    }
    if "mine_theirs" in cfg.schemes:
        details["direction_cosines"] = {"hooks": hooks, "cosine": direction_cosines(probes, hooks)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_probes(probes, meta, out, kinds)
    write_text(out / "details.json", json.dumps(details, indent=1) + "\n")
    write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics


def summary_lines(metrics: dict) -> list[str]:
    """What the script prints: each probe's layer chosen on validation and its test accuracy."""
    lines = [f"WARNING: {w}" for w in metrics["warnings"]]
    for key, best in metrics["best"].items():
        name, kind = key.split("/")
        lines.append(
            f"{name:12s} {kind:6s} layer {best['layer']} (chosen on val): "
            f"{100 * best['accuracy']:.2f}% test  (majority "
            f"{100 * metrics['baselines'][name]['majority']:.2f}%)"
        )
    return lines
