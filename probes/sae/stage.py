"""The SAE stage: train sparse autoencoders on one layer of a cache, measure them, and write
each in SAELens's layout with its metrics and feature pages.

One SAE folder holds ``cfg.json`` + ``sae_weights.safetensors`` (SAELens), ``metrics.json``
(reconstruction, the model with the SAE spliced in, coverage and board reconstruction per
scheme, beside the linear probe of the same layer), ``details.json`` (per-property
classifiers, each feature's best-matching property), ``feature_pages.png`` and
``training.json``. A sweep trains every setting of a named sweep into its own folder, and the
first one again on the random-init control's cache, with ``sweep.json`` and ``sweep.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.files import DETAILS, FEATURE_PAGES, METRICS, SWEEP_JSON, SWEEP_TABLE
from othello.common.files import METRICS as PROBE_METRICS
from othello.common.files import SAE_TRAINING as TRAINING
from othello.common.hashing import file_sha256
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooks import layer_name, resid_hook
from othello.model.run_dir import MODEL, training_target
from probes.acts.reader import ActsFile, flat_positions
from probes.acts.source import ActivationSource
from probes.probe_metrics import ProbeMetrics
from probes.sae.evaluate import BOARD_LABELS, board_metrics, features_of, reconstruction, spliced
from probes.sae.model import SAEConfig, SparseAutoencoder, save_sae
from probes.sae.plots import feature_pages, property_name
from probes.sae.train import train_sae


def topk(k: int, expansion: int) -> dict:
    return {"architecture": "topk", "k": k, "expansion": expansion}


def relu(l1: float, expansion: int) -> dict:
    return {"architecture": "standard", "l1_coefficient": l1, "expansion": expansion}


# named sweeps over width and sparsity (make sae runs "cpu"); each entry: folder name, settings
SWEEPS: dict[str, list[tuple[str, dict]]] = {
    "cpu": [
        *[(f"topk-k{k}-x{x}", topk(k, x)) for x in (4, 8) for k in (8, 16, 32)],
        *[(f"relu-l1-{l1:g}-x8", relu(l1, 8)) for l1 in (1.0, 2.0, 4.0)],
    ],
    "tiny": [("topk-k8-x4", topk(8, 4)), ("relu-l1-2-x4", relu(2.0, 4))],
    # the cpu sweep's best-reconstructing TopK, for a layer-by-layer run (--layer all)
    "layers": [("topk-k32-x4", topk(32, 4))],
}
PAGES, TOP_POSITIONS = 6, 6  # features drawn, positions per feature


def resolve_layer(acts: ActsFile, layer: str, probe_dir: Path | None) -> tuple[int, str]:
    """The layer's number (:func:`othello.model.gpt.resid_layer`, as every stage numbers layers)
    and hook; ``best`` is the mine/theirs linear probe's layer chosen on validation games
    (needs the probes)."""
    hooks = {layer_name(h): h for h in acts.hooks}
    if layer == "best":
        if probe_dir is None or not (probe_dir / PROBE_METRICS).exists():
            raise UserError("--layer best needs the probes (--probes PROBE_DIR)")
        layer = ProbeMetrics.load(probe_dir).best_of("mine_theirs").layer
    if layer not in hooks:
        raise UserError(f"{acts.path} holds no layer {layer}: its layers are {', '.join(hooks)}")
    return int(layer), hooks[layer]


def sweep_layers(acts_path: str | os.PathLike, layer: str) -> list[str]:
    """``all`` is every layer the cache holds; ``0,2,4`` those; anything else one layer."""
    if layer == "all":
        with ActsFile(acts_path) as acts:
            return [layer_name(h) for h in acts.hooks]
    return [part.strip() for part in str(layer).split(",")]


def find_model(acts: ActsFile, run: str | os.PathLike | None) -> Path:
    """The model the cache was made from: ``run``'s, or the one beside the cache; refused
    when its sha256 is not the cache's."""
    path = model_file(run) if run is not None else acts.path.parent / MODEL
    if not path.exists():
        raise FileNotFoundError(f"{path}: no model; pass --run, the run the cache was made from")
    if file_sha256(path) != acts.model_sha256:
        raise UserError(f"{acts.path} was made from another model than {path}: pass its run")
    return path


def probe_accuracy(probe_dir: Path | None, layer: int, model_sha256: str) -> dict:
    """The linear probes' test accuracy at ``layer`` (same cache, same split), if fitted."""
    if probe_dir is None or not (probe_dir / PROBE_METRICS).exists():
        return {}
    metrics = ProbeMetrics.load(probe_dir)
    if metrics.model_sha256 != model_sha256:
        return {}
    return probe_accuracy_of(metrics, layer)


def probe_accuracy_of(metrics: ProbeMetrics, layer: int) -> dict:
    """The linear probes' test accuracy at ``layer``, by scheme."""
    return {
        f"probe_{s}": metrics.accuracy[s]["linear"][str(layer)]
        for s in BOARD_LABELS
        if "linear" in metrics.accuracy.get(s, {})
    }


@torch.no_grad()
def page_data(sae: SparseAutoencoder, acts: ActivationSource, hook: str, board: dict) -> dict:
    """The features of the best-covered mine/theirs properties, with their top positions."""
    f1 = np.array(board["mine_theirs"]["test_f1_per_property"])
    chosen, features = [], board["mine_theirs"]["feature_per_property"]
    for prop in np.argsort(-f1):
        if features[prop] not in [c[0] for c in chosen]:
            chosen.append((features[prop], int(prop)))
        if len(chosen) == PAGES:
            break
    ids = [f for f, _ in chosen]
    best = {f: [] for f in ids}
    values = {f: [] for f in ids}
    for _, feats, chunk in features_of(sae, acts, hook, "test", ["board_relative"]):
        where = np.argwhere(chunk["valid"])
        boards = flat_positions(chunk, "board_relative")
        for f in ids:
            a = feats[:, f].numpy()
            values[f].append(a[a > 0])
            for i in np.argsort(-a)[:TOP_POSITIONS]:
                game, t = int(chunk["rows"][where[i][0]]), int(where[i][1])
                best[f].append((float(a[i]), boards[i].tolist(), f"cached game {game}, ply {t}"))
    pages = []
    for f, prop in chosen:
        top = sorted(best[f], key=lambda x: -x[0])[:TOP_POSITIONS]
        counts, edges = np.histogram(np.concatenate(values[f]) if values[f] else [0.0], bins=30)
        match, square = property_name("mine_theirs", prop)
        pages.append(
            {
                "feature": f,
                "match": match,
                "match_f1": float(f1[prop]),
                "square": square,
                "top": [{"activation": a, "board": b, "where": w} for a, b, w in top],
                "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
            }
        )
    return {"features": pages}


@dataclass
class SAEFit:
    """One trained SAE and its measures: what an SAE folder holds."""

    sae: SparseAutoencoder
    metrics: dict  # metrics.json
    board: dict
    pages: dict
    cfg: SAEConfig
    record: dict

    def save(self, out: str | os.PathLike) -> None:
        """The SAE (SAELens's layout), its feature pages, training record and details, then
        metrics.json last (its presence means the SAE is done)."""
        out = Path(out)
        meta = {"hook": self.metrics["hook"], "layer": self.metrics["layer"],
                "model_sha256": self.metrics["model_sha256"]}  # fmt: skip
        save_sae(self.sae, out, meta)
        feature_pages(self.pages, out / FEATURE_PAGES)
        training = json.dumps({"config": asdict(self.cfg), **self.record}, indent=1)
        write_text(out / TRAINING, training + "\n")
        write_text(out / DETAILS, json.dumps({"board": self.board, "pages": self.pages}) + "\n")
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")


def measure_sae(
    source: ActivationSource,
    layer: int,
    model,
    cfg: SAEConfig,
    target: str,
    probes: dict,
    out: str | os.PathLike | None = None,
    progress: bool = True,
) -> SAEFit:
    """Train one SAE on ``layer`` of ``source`` (checkpointed in ``out`` when given) and
    measure it: reconstruction, the model with it spliced in, the board; ``probes``: the
    linear probes' test accuracy at the layer, set beside it."""
    hook = resid_hook(layer, model.cfg.n_layers)
    cfg.check_width(source.width(hook))
    sae, record = train_sae(source, hook, cfg, out, progress)
    board = board_metrics(sae, source, hook)
    metrics = {
        "layer": layer,
        "hook": hook,
        "architecture": cfg.architecture,
        "d_sae": sae.d_sae,
        **reconstruction(sae, source, hook),
        **spliced(model, sae, source, hook, target),
        **{f"coverage_{s}": board[s]["coverage"] for s in board},
        **{f"board_reconstruction_{s}": board[s]["board_reconstruction"] for s in board},
        **probes,
        "model_sha256": source.model_sha256,
        "games_sha256": source.games_sha256,
        "training": record,
    }
    return SAEFit(sae, metrics, board, page_data(sae, source, hook, board), cfg, record)


def run_sae(
    acts_path: str | os.PathLike,
    layer: str,
    out: str | os.PathLike,
    cfg: SAEConfig,
    run: str | os.PathLike | None = None,
    probe_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) one SAE on a cache and write its folder; returns metrics.json's
    content."""
    out, probe_dir = Path(out), Path(probe_dir) if probe_dir else None
    with ActsFile(acts_path) as acts:
        number, _ = resolve_layer(acts, str(layer), probe_dir or acts.path.parent / "probes")
        model = load_model_file(find_model(acts, run))
        target = training_target(model_file(run).parent if run else Path(acts_path).parent)
        probes = probe_accuracy(probe_dir or acts.path.parent / "probes", number, acts.model_sha256)
        fit = measure_sae(acts, number, model, cfg, target, probes, out, progress)
    fit.save(out)
    return fit.metrics


def run_sae_sweep(
    acts_path: str | os.PathLike,
    layer: str,
    out: str | os.PathLike,
    sweep: str,
    base: SAEConfig,
    control: str | os.PathLike | None = None,
    run: str | os.PathLike | None = None,
    probe_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Every setting of ``SWEEPS[sweep]`` (over ``base``), and the first on the control's
    cache, at one layer (``3``, ``best``) or several (``0,2,4``, ``all``: folder names then end
    in ``-L<layer>``); writes sweep.json and sweep.md under ``out``."""
    settings = sweep_settings(sweep, base)
    out = Path(out)
    layers = sweep_layers(acts_path, layer)
    results = {}
    for at in layers:
        suffix = f"-L{at}" if len(layers) > 1 else ""
        for name, cfg in settings:
            folder = out / f"{name}{suffix}"
            results[folder.name] = run_sae(acts_path, at, folder, cfg, run, probe_dir, progress)
        if control is not None:
            name, cfg = settings[0]
            number = str(results[f"{name}{suffix}"]["layer"])
            folder = out / f"control-{name}{suffix}"
            results[folder.name] = run_sae(
                control, number, folder, cfg, Path(control).parent, None, progress
            )
    write_sweep(out, results)
    return results


def sweep_settings(sweep: str, base: SAEConfig) -> list[tuple[str, SAEConfig]]:
    """Each SAE of a named sweep: its folder name and settings (over ``base``)."""
    if sweep not in SWEEPS:
        raise UserError(f"unknown sweep {sweep!r}; choose from {sorted(SWEEPS)}")
    return [(name, replace(base, **settings)) for name, settings in SWEEPS[sweep]]


def write_sweep(out: Path, results: dict) -> None:
    """sweep.json and sweep.md: every SAE's metrics (written last: the sweep is done)."""
    write_text(out / SWEEP_TABLE, sweep_table(results))
    write_text(out / SWEEP_JSON, json.dumps(results, indent=1) + "\n")


def sweep_table(results: dict) -> str:
    """One row per SAE: reconstruction, the model with it spliced in, the board."""
    lines = [
        "| SAE | layer | d_sae | L0 | explained var. | loss recovered | top-1 legal (clean / SAE)"
        " | coverage m/t | board recon. m/t | probe m/t | coverage legal | coverage flipped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        probe = f"{100 * m['probe_mine_theirs']:.1f}%" if "probe_mine_theirs" in m else "-"
        lines.append(
            f"| {name} | {m['layer']} | {m['d_sae']} | {m['l0']:.1f} | "
            f"{m['explained_variance']:.3f} | "
            f"{m['loss_recovered']:.3f} | {100 * m['top1_legal_clean']:.1f}% / "
            f"{100 * m['top1_legal_sae']:.1f}% | {m['coverage_mine_theirs']:.3f} | "
            f"{100 * m['board_reconstruction_mine_theirs']:.1f}% | {probe} | "
            f"{m['coverage_legal']:.3f} | {m['coverage_flipped']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def load_sweep(folder: str | os.PathLike) -> dict:
    """A sweep's results (sweep.json): ``{SAE folder name: its metrics}``."""
    path = Path(folder) / SWEEP_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run scripts/train_sae.py --sweep first")
    return json.loads(path.read_text())
