"""The circuit stage: check every input, run the laboratory on a run's model, write its files.

Parts (each its own module): direct logit attribution (:mod:`.attribution`), the logit lens
(:mod:`.lens`), heads (:mod:`.heads`), the neuron atlas with its controls (:mod:`.atlas`,
:mod:`.neurons`, :mod:`.trees`), the causal check of the legality rules (:mod:`.ablation`) and
activation patching, exact (:mod:`.patching`) and by its gradient approximation
(:mod:`.attribution_patching`). Every figure is on held-out (test) games; every
choice (tree depth, head classes, which neurons to ablate) is made on training or validation
games.

Outputs (under ``out``): ``neurons.json`` (one record per neuron), ``neuron_layers.json``
(per layer: share of neurons with test R^2 above the threshold beside both controls, verdict),
``atlas.npz`` (8x8 maps, logit effects, top-activating positions), ``attribution.json``,
``logit_lens.json`` (``{layer: top-1 legal accuracy}``), ``heads.json``, ``ablation.json``,
``patching.json``, ``attribution_patching.json``, the figures
(:data:`probes.circuits.plots.FIGURES`) and, last, ``metrics.json``: a folder without it is
not a finished run. :class:`CircuitsResults` reads them back.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from othello.common.atomic import commit, partial_path, write_text
from othello.common.device import DEVICES, pick_device
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model import kinds
from othello.model.checkpoint import load_model_file, model_file
from othello.model.gpt import GPT
from othello.model.hooked import HookedModel
from othello.model.kinds import build_model, require
from probes.circuits import plots
from probes.circuits.ablation import ablation_check, legality_groups
from probes.circuits.atlas import AtlasResult, AtlasSettings, run_atlas
from probes.circuits.directions import MAPS, check_directions, probe_directions
from probes.circuits.heads import heads_summary
from probes.circuits.passes import atlas_samples, head_classes_pass, patching_pass, test_pass
from probes.circuits.plots import CAPTIONS, FIGURES
from probes.circuits.positions import choose_rows
from probes.circuits.trees import TreeSettings
from probes.stage import ProbeMetrics
from probes.stage_sizes import DEFAULTS
from probes.store import PROBES, load_probes

NEURONS, NEURON_LAYERS, ATLAS = "neurons.json", "neuron_layers.json", "atlas.npz"
ATTRIBUTION, LOGIT_LENS, HEADS = "attribution.json", "logit_lens.json", "heads.json"
ABLATION, PATCHING, METRICS = "ablation.json", "patching.json", "metrics.json"
ATTRIBUTION_PATCHING = "attribution_patching.json"
_SIZES = DEFAULTS.circuits
# what the lab needs heads and neurons for; a model without them gets its patching maps from
# the world-model stage (attribution_patching), which runs on every kind
LAB = "the circuit laboratory (heads, direct logit attribution, the neuron atlas)"


@dataclass
class CircuitsConfig:
    """The lab's settings (``key=value`` on the command line), and the only place the atlas's
    and trees' defaults are written (:func:`atlas_settings` builds theirs from these). Sizes
    (games per split, positions per tree sample, ablation games, patching pairs) default to
    the default preset's (:class:`probes.stage_sizes.CircuitSizes`); every sample is drawn by
    ``seed``."""

    test_games: int = _SIZES.test_games  # held-out games: every figure
    val_games: int = _SIZES.val_games  # validation: tree depths, head classes
    train_games: int = _SIZES.train_games  # training games the tree sample is drawn from
    tree_positions: int = _SIZES.tree_positions  # training positions the trees are fitted on
    val_positions: int = _SIZES.val_positions
    test_positions: int = _SIZES.test_positions
    layers: tuple[int, ...] | None = None  # MLP layers of the atlas (none: every layer)
    max_depth: int = 8
    min_samples_leaf: int = 20
    r2_threshold: float = 0.7
    control_neurons: int = 128  # neurons per layer in each control (0: all)
    control_margin: float = 0.02  # a layer's share must beat both controls by this much
    control_ratio: float = 5.0  # and be this many times the larger of the two
    head_threshold: float = 0.8  # share of attention on mine (or theirs) keys for a class
    ablation: str = "mean"  # mean | zero
    ablation_groups: int = 16
    ablation_games: int = _SIZES.ablation_games
    patch_pairs: int = _SIZES.patch_pairs
    patch_follow: int = 3  # moves after the differing one: positions p..p+follow
    top_k: int = 8  # top-activating test positions kept per neuron
    pages: int = 8  # neurons drawn in neuron_pages.png
    batch_games: int = 64
    workers: int = 0  # tree-fitting threads (0: every core)
    device: str = "auto"
    seed: int = 0
    allow_fewer: bool = False

    def __post_init__(self) -> None:
        if self.ablation not in ("mean", "zero"):
            raise UserError(f"ablation={self.ablation!r}: expected mean or zero")
        if self.device not in DEVICES:
            raise UserError(f"device={self.device!r}: expected one of {DEVICES}")
        sizes = (
            "test_games",
            "val_games",
            "train_games",
            "tree_positions",
            "val_positions",
            "test_positions",
            "max_depth",
            "min_samples_leaf",
            "batch_games",
        )
        for name in sizes:
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)}: must be at least 1")
        if not 0.5 < self.head_threshold <= 1:
            raise UserError(f"head_threshold={self.head_threshold}: must lie in (0.5, 1]")
        if self.patch_follow < 0 or self.patch_pairs < 0 or self.ablation_games < 0:
            raise UserError("patch_follow, patch_pairs and ablation_games must be >= 0")


@dataclass
class Inputs:
    """Everything the stage reads, loaded and checked before anything is written."""

    model: GPT
    control: GPT  # the same architecture at random initialisation (seed 0, as cache.py's)
    model_sha256: str
    games_sha256: str
    directions: dict  # {residual layer: {map: [d_model, 64]}}
    probe_accuracy: dict[str, float]  # mine/theirs linear test accuracy by layer
    layers: list[int]
    rows: dict[str, np.ndarray]  # games-file rows of each split used
    games_file: str  # its name and number of games: what the explorer matches top rows by
    games_count: int
    device: str = ""
    warnings: list[str] = field(default_factory=list)


def random_init(model: HookedModel, seed: int = 0) -> HookedModel:
    """The run's architecture at random initialisation: the weights
    :func:`othello.model.checkpoint.control_model` writes (same seed), made here without writing."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        control = build_model(model.cfg)
    return control.to(next(model.parameters()).device).eval()


def split_rows(g: GamesFile, cfg: CircuitsConfig) -> dict[str, np.ndarray]:
    """The games of each split the lab reads; asking for more than a split holds is refused
    (naming the setting) unless ``allow_fewer``."""
    rows = {}
    for split, key, seed in (
        ("test", "test_games", None),
        ("val", "val_games", None),
        ("train", "train_games", cfg.seed),
    ):
        wanted, have = getattr(cfg, key), len(g.split_indices(split))
        if have < wanted and not cfg.allow_fewer:
            raise UserError(
                f"{g.path}: split {split!r} holds {have:,} games, {key}={wanted:,} "
                "asked; ask for fewer, or allow_fewer=true to take them"
            )
        rows[split] = choose_rows(g, split, wanted, seed, allow_fewer=True)
    return rows


def check_inputs(
    run: str | os.PathLike,
    games: str | os.PathLike,
    probe_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: CircuitsConfig,
) -> Inputs:
    """Load and check the model, probes (fitted on this model, mine/theirs at every layer),
    probe metrics, games (enough of each split) and the output path; raise before writing."""
    path = model_file(run)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model; pass a run directory holding model.pt")
    if Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if not (Path(probe_dir) / PROBES).exists():
        raise FileNotFoundError(
            f"{probe_dir}: no {PROBES}; fit probes on this model's cache (scripts/fit_probes.py)"
        )
    device = pick_device(cfg.device)
    model = load_model_file(path, device)
    for part in (kinds.HEADS, kinds.NEURONS):  # its heads, attribution and atlas need both
        require(model, part, LAB)
    sha = file_sha256(path)
    probes, _ = load_probes(probe_dir, model_sha256=sha)
    directions = probe_directions(probes)
    check_directions(directions, model.cfg.n_layers, model.cfg.d_model, str(probe_dir))
    metrics = ProbeMetrics.load(probe_dir)
    accuracy = metrics.accuracy.get("mine_theirs", {}).get("linear", {})
    n = model.cfg.n_layers
    layers = sorted(set(cfg.layers)) if cfg.layers else list(range(n))
    if any(not 0 <= layer < n for layer in layers):
        asked = ",".join(map(str, layers))
        raise UserError(f"layers={asked}: the model's MLP layers are 0..{n - 1}")
    with GamesFile(games) as g:
        rows = split_rows(g, cfg)
        games_file = (g.path.name, int(g.n_games))
    probe_accuracy = {str(k): float(v) for k, v in accuracy.items()}
    warnings = [
        f"only {len(r):,} {split} games, {getattr(cfg, f'{split}_games'):,} asked (allow_fewer)"
        for split, r in rows.items()
        if len(r) < getattr(cfg, f"{split}_games")
    ]
    return Inputs(
        model,
        random_init(model),
        sha,
        file_sha256(games),
        directions,
        probe_accuracy,
        layers,
        rows,
        *games_file,
        str(device),
        warnings,
    )


def atlas_settings(cfg: CircuitsConfig) -> AtlasSettings:
    """The atlas's and trees' settings from the lab's (theirs have no defaults of their own,
    so the two cannot drift apart); ``workers=0`` becomes every core."""
    trees = TreeSettings(cfg.max_depth, cfg.min_samples_leaf, cfg.seed)
    workers = cfg.workers or os.cpu_count() or 1
    return AtlasSettings(
        trees=trees,
        r2_threshold=cfg.r2_threshold,
        control_neurons=cfg.control_neurons,
        margin=cfg.control_margin,
        ratio=cfg.control_ratio,
        top_k=cfg.top_k,
        workers=workers,
    )


def run_circuits(
    run: str | os.PathLike,
    games: str | os.PathLike,
    probe_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: CircuitsConfig,
    progress: bool = True,
) -> dict:
    """Run the laboratory and write ``out``; returns metrics.json's content."""
    inputs = check_inputs(run, games, probe_dir, out, cfg)
    seconds: dict[str, float] = {}
    with GamesFile(games) as g:
        outputs, atlas, positions = analyse(inputs, g, cfg, Laps(seconds), progress)
    metrics = headline(inputs, cfg, outputs, positions, seconds)
    write_outputs(Path(out), outputs, atlas, inputs, cfg, metrics)
    return metrics


class Laps:
    """Seconds of each part, recorded into a dict as the parts finish."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds, self.clock = seconds, time.perf_counter()

    def __call__(self, name: str) -> None:
        self.seconds[name] = round(time.perf_counter() - self.clock, 2)
        self.clock = time.perf_counter()


def analyse(
    inputs: Inputs, g: GamesFile, cfg: CircuitsConfig, lap: Laps, progress: bool
) -> tuple[dict, AtlasResult, dict]:
    """Every part on the open games file: the outputs by file name, the atlas, the sizes of
    its position samples."""
    model, rows = inputs.model, inputs.rows
    attribution, lens, test_heads = test_pass(
        model, inputs.directions, g, rows["test"], cfg.batch_games, progress
    )
    val_heads = head_classes_pass(model, g, rows["val"], cfg.batch_games)
    heads = heads_summary(val_heads, test_heads, cfg.head_threshold)
    lap("attribution_lens_heads")
    sizes = {"train": cfg.tree_positions, "val": cfg.val_positions, "test": cfg.test_positions}
    samples = atlas_samples(
        (model, inputs.control),
        g,
        rows,
        sizes,
        inputs.layers,
        cfg.control_neurons,
        cfg.seed,
        cfg.batch_games,
        progress,
    )
    atlas = run_atlas(
        model, inputs.directions, samples, inputs.layers, atlas_settings(cfg), progress
    )
    lap("atlas")
    groups = legality_groups(atlas.fits, cfg.r2_threshold, cfg.ablation_groups)
    test_rows = rows["test"][: cfg.ablation_games]
    ablation = ablation_check(
        model, g, test_rows, groups, atlas.means, cfg.ablation, cfg.batch_games, progress
    )
    lap("ablation")
    patching, approx = patching_pass(
        model, g, rows["test"], cfg.patch_pairs, cfg.patch_follow, cfg.seed
    )
    lap("patching")
    outputs = {
        NEURONS: atlas.records,
        NEURON_LAYERS: atlas.layers,
        ATTRIBUTION: attribution,
        LOGIT_LENS: lens,
        HEADS: heads,
        ABLATION: ablation,
        PATCHING: patching,
        ATTRIBUTION_PATCHING: approx,
    }
    splits = ("train", "val", "test")
    return outputs, atlas, {s: len(x.where) for s, x in zip(splits, samples, strict=True)}


def headline(
    inputs: Inputs, cfg: CircuitsConfig, outputs: dict, positions: dict, seconds: dict
) -> dict:
    """metrics.json: the figures a reader looks for first, what they were measured on, the
    settings and the time each part took."""
    layers, lens = outputs[NEURON_LAYERS], outputs[LOGIT_LENS]
    share_key = f"share_r2_above_{cfg.r2_threshold:g}"
    attribution = outputs[ATTRIBUTION]
    means = dict(zip(attribution["parts"], attribution["predicted"]["mean"], strict=True))
    top_parts = sorted(means, key=lambda k: -abs(means[k]))[:5]
    classes = [c for row in outputs[HEADS]["classes"] for c in row]
    patching = outputs[PATCHING]
    return {
        "model_sha256": inputs.model_sha256,
        "games_sha256": inputs.games_sha256,
        "games_file": inputs.games_file,
        "games_count": inputs.games_count,
        "games": {split: int(len(r)) for split, r in inputs.rows.items()},
        "positions": positions,
        "device": inputs.device,
        "logit_lens_final": lens[max(lens, key=int)],
        "logit_lens": lens,
        "probe_mine_theirs_linear": inputs.probe_accuracy,
        "attribution_top_parts": {k: means[k] for k in top_parts},
        "attribution_max_abs_sum_error": attribution["max_abs_sum_error"],
        "head_classes": {c: classes.count(c) for c in ("mine", "theirs", "mixed")},
        "neurons": {
            k: {
                "share": v[share_key],
                "random_init": v["random_init"],
                "shuffled_labels": v["shuffled_labels"],
                "verdict": v["verdict"],
            }
            for k, v in layers.items()
        },
        "ablation_ratio": outputs[ABLATION]["ratio"],
        "ablation_groups": len(outputs[ABLATION]["groups"]),
        "patching_pairs": patching["pairs"],
        "patching_resid_at_p": [row[0] for row in patching["resid"]],
        "attribution_patching": {
            k: outputs[ATTRIBUTION_PATCHING][k] for k in ("correlation", "seconds", "speedup")
        },
        "settings": asdict(cfg),
        "seconds": seconds,
        "warnings": inputs.warnings + shortfalls(cfg, outputs, positions),
    }


def shortfalls(cfg: CircuitsConfig, outputs: dict, positions: dict) -> list[str]:
    """What the parts got less of than the settings asked: tree positions (the games hold
    fewer), patching pairs (too few valid one-move-different games), legality groups (too few
    neurons with such rules above the threshold on validation)."""
    out = []
    for split, key in (("train", "tree"), ("val", "val"), ("test", "test")):
        asked = getattr(cfg, f"{key}_positions")
        if positions[split] < asked:
            out.append(
                f"only {positions[split]:,} {split} positions for the trees, "
                f"{key}_positions={asked:,} asked: the {split} games hold no more"
            )
    patching = outputs[PATCHING]
    if patching["pairs"] < cfg.patch_pairs:
        out.append(
            f"patching: {patching['pairs']} pairs, patch_pairs={cfg.patch_pairs} asked "
            f"({patching['candidate_pairs']} valid one-move-different games, "
            f"{patching['pairs_with_different_top_moves']} with different top moves)"
        )
    groups = len(outputs[ABLATION]["groups"])
    if groups < cfg.ablation_groups:
        out.append(
            f"ablation: {groups} groups of legality neurons (validation R^2 > "
            f"{cfg.r2_threshold:g}), ablation_groups={cfg.ablation_groups} asked"
        )
    return out


def best_explained(records: list[dict], n: int) -> list[dict]:
    """The ``n`` neurons whose trees predict their validation positions best: ranked on
    validation R^2, so the test R^2 they are shown with is not the ranking's own pick."""
    scored = (r for r in records if r["r2_val"] is not None and r["r2_test"] is not None)
    return sorted(scored, key=lambda r: -r["r2_val"])[:n]


def neuron_page_data(atlas: AtlasResult, pages: int) -> list[dict]:
    """The ``pages`` best-explained neurons (:func:`best_explained`), each with its maps."""
    ranked = best_explained(atlas.records, pages)
    layer_index = {int(layer): i for i, layer in enumerate(atlas.arrays["layers"])}
    out = []
    for r in ranked:
        i, n = layer_index[r["layer"]], r["neuron"]
        maps = {m: atlas.arrays[f"map_{m}"][i, n].astype(float).tolist() for m in MAPS}
        effect = atlas.arrays["logit_effect"][i, n].astype(float)
        maps["logit effect"] = (effect / (np.nanmax(np.abs(effect)) or 1.0)).tolist()
        title = f"L{r['layer']} N{n}  R^2 {r['r2_test']:.2f}: {r['rule']}"
        out.append({"title": title[:110], "maps": maps})
    return out


def write_outputs(
    out: Path, outputs: dict, atlas: AtlasResult, inputs: Inputs, cfg: CircuitsConfig, metrics: dict
) -> None:
    """Every file, figures included, then metrics.json last: its presence means done."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        write_text(out / name, json.dumps(data, indent=None if name == NEURONS else 1) + "\n")
    partial = partial_path(out / ATLAS)
    with open(partial, "wb") as handle:  # a handle, so numpy adds no .npz to the name
        np.savez_compressed(handle, **atlas.arrays)
    commit(partial, out / ATLAS)
    plots.attribution(outputs[ATTRIBUTION], out / FIGURES["attribution"])
    lens = {"lens": outputs[LOGIT_LENS], "probe": inputs.probe_accuracy}
    plots.logit_lens(lens, out / FIGURES["logit_lens"])
    plots.heads(outputs[HEADS], out / FIGURES["heads"])
    plots.head_boards(outputs[HEADS], out / FIGURES["head_boards"])
    plots.neuron_shares(outputs[NEURON_LAYERS], out / FIGURES["neuron_shares"])
    plots.neuron_pages(neuron_page_data(atlas, cfg.pages), out / FIGURES["neuron_pages"])
    if outputs[PATCHING]["pairs"]:
        plots.patching(outputs[PATCHING], out / FIGURES["patching"])
        approx = outputs[ATTRIBUTION_PATCHING]
        plots.attribution_patching(outputs[PATCHING], approx, out / FIGURES["attribution_patching"])
    write_text(out / METRICS, json.dumps(metrics, indent=1) + "\n")


@dataclass
class CircuitsResults:
    """A finished circuits folder, read back (the report, the explorer, the notebook)."""

    folder: Path
    metrics: dict
    neurons: list[dict]
    layers: dict[str, dict]
    attribution: dict
    logit_lens: dict[str, float]
    heads: dict
    ablation: dict
    patching: dict
    attribution_patching: dict | None = None  # None: a folder written before it existed

    @classmethod
    def load(cls, folder: str | os.PathLike) -> CircuitsResults:
        folder = Path(folder)
        if not (folder / METRICS).exists():
            raise FileNotFoundError(f"{folder / METRICS}: missing; run scripts/circuits.py")
        read = lambda name: json.loads((folder / name).read_text())  # noqa: E731
        return cls(
            folder,
            read(METRICS),
            read(NEURONS),
            read(NEURON_LAYERS),
            read(ATTRIBUTION),
            read(LOGIT_LENS),
            read(HEADS),
            read(ABLATION),
            read(PATCHING),
            read(ATTRIBUTION_PATCHING) if (folder / ATTRIBUTION_PATCHING).exists() else None,
        )

    def neuron(self, layer: int, neuron: int) -> dict | None:
        """One neuron's record, None when the atlas did not cover it."""
        for record in self.neurons:
            if record["layer"] == layer and record["neuron"] == neuron:
                return record
        return None

    def atlas(self) -> dict[str, np.ndarray]:
        with np.load(self.folder / ATLAS) as data:
            return {k: data[k] for k in data.files}

    def figure(self, name: str) -> Path:
        return self.folder / FIGURES[name]

    def summary(self, top: int = 10) -> dict:
        """summary.json's ``circuits`` part: the headline figures, each layer's share of
        rule-like neurons beside its controls, the ``top`` best-explained neurons' rules
        (:func:`best_explained`), the patching maps and how well attribution patching
        approximates them."""
        ranked = best_explained(self.neurons, top)
        keep = ("layer", "neuron", "r2_val", "r2_test", "rule", "promotes", "suppresses")
        return {
            "folder": str(self.folder),
            **{k: self.metrics[k] for k in ("games", "positions", "logit_lens", "head_classes")},
            "probe_mine_theirs_linear": self.metrics["probe_mine_theirs_linear"],
            "attribution_top_parts": self.metrics["attribution_top_parts"],
            "attribution_max_abs_sum_error": self.metrics["attribution_max_abs_sum_error"],
            "neuron_layers": self.layers,
            "top_neurons": [{k: r[k] for k in keep} for r in ranked],
            "ablation": {k: v for k, v in self.ablation.items() if k != "groups"},
            "ablation_groups": len(self.ablation["groups"]),
            "patching": {
                k: self.patching[k]
                for k in ("pairs", "layers", "offsets", "resid", "heads", "construction", "metric")
            },
            "attribution_patching": self.metrics.get("attribution_patching"),
            "settings": self.metrics["settings"],
            "warnings": self.metrics["warnings"],
        }

    def report_figures(self) -> dict[str, Path]:
        """``{caption: path}`` of the figures this run drew (the patching ones only with pairs,
        attribution patching's only in folders that have it)."""
        pairs = self.patching["pairs"] > 0
        has = {"patching": pairs, "attribution_patching": pairs and bool(self.attribution_patching)}
        drawn = [n for n in FIGURES if has.get(n, True)]
        return {CAPTIONS[n]: self.figure(n) for n in drawn}
