"""The circuit laboratory's settings, its presets' sizes, and the games it reads."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from othello.common.device import DEVICES
from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from probes.circuits.atlas import AtlasSettings
from probes.circuits.positions import choose_rows
from probes.circuits.trees import TreeSettings

# the tiny preset's sizes (20k games: about 200 in each of its validation and test splits)
SIZES = {
    "tiny": {
        "test_games": 100,
        "val_games": 50,
        "train_games": 100,
        "tree_positions": 1000,
        "val_positions": 500,
        "test_positions": 1000,
        "ablation_games": 50,
        "patch_pairs": 20,
    }
}


@dataclass
class CircuitsConfig:
    """The lab's settings (``key=value`` on the command line), and the only place the atlas's
    and trees' defaults are written (:func:`atlas_settings` builds theirs from these). The
    sizes (games per split, positions per tree sample, ablation games, patching pairs) default
    to the default preset's; :data:`SIZES` holds the other presets'. Every sample is drawn by
    ``seed``."""

    test_games: int = 200  # held-out games: every figure
    val_games: int = 100  # validation: tree depths, head classes
    train_games: int = 300  # training games the tree sample is drawn from
    tree_positions: int = 4000  # training positions the trees are fitted on
    val_positions: int = 2000
    test_positions: int = 4000
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
    ablation_games: int = 100
    patch_pairs: int = 100
    patch_follow: int = 3  # moves after the differing one: positions p..p+follow
    top_k: int = 8  # top-activating test positions kept per neuron
    pages: int = 8  # neurons drawn in neuron_pages.png
    batch_games: int = 64
    workers: int = 0  # tree-fitting threads (0: every core)
    device: str = "auto"
    seed: int = 0
    allow_fewer: bool = False
    progress: bool = True  # progress bars (not a setting of the results: not recorded)

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
