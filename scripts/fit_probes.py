"""Fit board-state probes on an activation cache and score them on held-out games.

    python scripts/fit_probes.py --acts ACTS.h5 --out PROBE_DIR [--epochs 3] [--no-mlp]

Writes PROBE_DIR/probes.pt (the probes, tied to the cache's model and corpus),
PROBE_DIR/metrics.json (held-out accuracy per scheme, kind and layer, with baselines) and
PROBE_DIR/details.json (per-square, per-move, confusion and direction-cosine figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from othello.atomic import write_text
from othello.cache import ActsFile, CacheError, resid_layer
from probes.fit import FitConfig, fit_probes, probe_key
from probes.metrics import (
    direction_cosines,
    evaluate_probes,
    scheme_baselines,
)
from probes.store import save_probes


def layer_name(hook: str) -> str:
    try:
        return str(resid_layer(hook))
    except ValueError:
        return hook


def write_json(data: dict, path: Path) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acts", required=True, help="activation cache (acts.h5)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--epochs", type=int, default=FitConfig.epochs)
    parser.add_argument(
        "--min-steps", type=int, default=FitConfig.min_steps, help="fewest optimiser steps"
    )
    parser.add_argument("--schemes", default=",".join(FitConfig.schemes))
    parser.add_argument("--mlp-schemes", default=",".join(FitConfig.mlp_schemes))
    parser.add_argument("--no-mlp", action="store_true", help="linear probes only")
    parser.add_argument("--hooks", help="comma-separated hooks (default: all in the cache)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    began = time.perf_counter()
    try:
        cfg = FitConfig(
            schemes=tuple(s for s in args.schemes.split(",") if s),
            mlp_schemes=() if args.no_mlp else tuple(s for s in args.mlp_schemes.split(",") if s),
            hooks=args.hooks.split(",") if args.hooks else None,
            epochs=args.epochs,
            min_steps=args.min_steps,
        )
        acts = ActsFile(args.acts)
    except (CacheError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    with acts:
        hooks = cfg.hooks or acts.hooks
        try:
            probes = fit_probes(acts, cfg, progress=not args.no_progress)
        except ValueError as exc:
            sys.exit(f"error: {args.acts}: {exc}")
        fit_seconds = time.perf_counter() - began
        counts = evaluate_probes(acts, probes, "test")
        schemes = sorted({s for s, _ in cfg.specs})
        base = {name: scheme_baselines(acts, name) for name in schemes}
        test_positions = int(next(iter(counts.values())).positions.sum())
        meta = {
            "acts": str(Path(args.acts).resolve()),
            "model_sha256": acts.model_sha256,
            "games_sha256": acts.games_sha256,
            "hooks": hooks,
            "fit": {k: v for k, v in asdict(cfg).items() if k != "specs"},
        }
        test_games = len(acts.split_rows("test"))
    metrics: dict = {name: {} for name in schemes}
    details: dict = {"probes": {}, "baselines": base}
    for name, kind in cfg.specs:
        per_layer = {}
        for hook in hooks:
            summary = counts[probe_key(name, kind, hook)].summary()
            per_layer[layer_name(hook)] = round(summary["accuracy"], 6)
            details["probes"][probe_key(name, kind, hook)] = summary
        metrics[name][kind] = per_layer
    metrics["layers"] = {layer_name(h): h for h in hooks}
    metrics["baselines"] = {
        name: {k: round(v, 6) for k, v in b.items() if isinstance(v, float)}
        for name, b in base.items()
    }
    metrics["best"] = {}
    for name, kind in cfg.specs:
        layer, accuracy = max(metrics[name][kind].items(), key=lambda item: item[1])
        metrics["best"][f"{name}/{kind}"] = {"layer": layer, "accuracy": accuracy}
    metrics.update(
        split="test",
        test_games=test_games,
        test_positions=test_positions,
        fit_seconds=round(fit_seconds, 2),
        **{k: meta[k] for k in ("model_sha256", "games_sha256")},
    )
    if "mine_theirs" in cfg.schemes:
        details["direction_cosines"] = {"hooks": hooks, "cosine": direction_cosines(probes, hooks)}
    out.mkdir(parents=True, exist_ok=True)
    save_probes(probes, meta, out)
    write_json(details, out / "details.json")
    write_json(metrics, out / "metrics.json")
    for name, kind in cfg.specs:
        best = metrics["best"][f"{name}/{kind}"]
        print(
            f"{name:12s} {kind:6s} best layer {best['layer']}: {100 * best['accuracy']:.2f}%"
            f"  (majority {100 * metrics['baselines'][name]['majority']:.2f}%)"
        )
    print(f"wrote {out}/metrics.json in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
