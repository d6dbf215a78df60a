"""Each transcoder feature's best board label: the one board property (a square empty, mine or
theirs, a disc just flipped, a legal move) that the feature firing above one share of its
largest activation predicts best, as the SAE room's board metrics score properties
(Karvonen et al. 2024) but read the other way round, feature by feature.

The label and its threshold are chosen on the *training* games (best F1); precision (of the
positions where the feature fires, the share with the property), recall (of the positions
with the property, the share where it fires) and F1 are then counted on the *test* games. A
property seen fewer than ``MIN_POSITIVES`` times in training is never a label; a feature
that never fires on the training games has none (``kind`` None).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from othello.world.squares import N_SQUARES, square_name
from probes.acts.source import ActivationSource
from probes.sae.evaluate import MIN_POSITIVES, THRESHOLDS, features_of, property_labels
from probes.sae.model import SparseAutoencoder
from probes.schemes import scheme

SCHEMES = ("mine_theirs", "flipped", "legal")  # in property order: 192 + 64 + 64 properties
LABEL_KEYS = tuple(scheme(name).label for name in SCHEMES)
KINDS = (*scheme("mine_theirs").classes, "flipped", "legal")  # empty, mine, theirs, ...


def property_kind(index: int) -> tuple[str, int]:
    """(kind, square) of property ``index``: mine/theirs properties are square * 3 + class
    (the SAE room's order), then one flipped and one legal property per square."""
    if index < 3 * N_SQUARES:
        square, cls = divmod(index, 3)
        return KINDS[cls], square
    kind, square = divmod(index - 3 * N_SQUARES, N_SQUARES)
    return KINDS[3 + kind], square


def properties(chunk: dict) -> np.ndarray:
    """float32 [positions, 320]: every board property at each valid position of a chunk."""
    return np.concatenate([property_labels(chunk, name) for name in SCHEMES], 1).astype(np.float32)


@dataclass
class FeatureLabels:
    """One transcoder's labels, a list entry per feature: ``kind`` (one of :data:`KINDS`,
    None for a feature that never fired in training), ``square`` (0..63, A1 = 0, as
    ``othello.world.squares`` numbers them), ``share`` (the threshold: a share of the
    feature's largest training activation), and test ``precision``, ``recall``, ``f1``."""

    kind: list[str | None]
    square: list[int]
    share: list[float]
    precision: list[float]
    recall: list[float]
    f1: list[float]

    def name(self, feature: int) -> str:
        """``"D3 mine"``: the feature's label in words ("-" when it has none)."""
        kind = self.kind[feature]
        return "-" if kind is None else f"{square_name(self.square[feature])} {kind}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureLabels:
        return cls(**{k: list(v) for k, v in data.items()})


class Counts:
    """Per threshold, feature and property: positions where the feature fires above the
    threshold and the property holds (``tp``); per threshold and feature, positions where it
    fires; per property, positions where it holds."""

    def __init__(self, n_features: int, n_properties: int) -> None:
        self.tp = np.zeros((len(THRESHOLDS), n_features, n_properties))
        self.fired = np.zeros((len(THRESHOLDS), n_features))
        self.held = np.zeros(n_properties)

    def add(self, features: np.ndarray, levels: np.ndarray, labels: np.ndarray) -> None:
        """``features`` [positions, F], ``levels`` [thresholds, F], ``labels`` [positions, P]:
        dense float32 products through BLAS (exact counts below 2^24 positions a chunk; a
        sparse product is many times slower where features fire at a tenth of positions)."""
        f, held = torch.from_numpy(features), torch.from_numpy(labels)
        for j, level in enumerate(levels):
            fires = (f > torch.from_numpy(level)).float()
            self.tp[j] += (fires.T @ held).double().numpy()
            self.fired[j] += fires.sum(0).double().numpy()
        self.held += labels.sum(0)


def _counts(sae, source, hook, split, levels, chunk_games: int) -> Counts:
    counts = Counts(sae.d_sae, 5 * N_SQUARES)
    for _, f, chunk in features_of(sae, source, hook, split, LABEL_KEYS, chunk_games):
        counts.add(f.numpy(), levels, properties(chunk))
    return counts


@torch.no_grad()
def feature_labels(
    sae: SparseAutoencoder, source: ActivationSource, hook: str, chunk_games: int = 256
) -> FeatureLabels:
    """Each feature's best board label (chosen on training games, scored on test games) for
    the transcoder ``sae`` reading ``hook`` of ``source``."""
    peak = torch.zeros(sae.d_sae)
    for _, f, _ in features_of(sae, source, hook, "train", (), chunk_games):
        peak = torch.maximum(peak, f.max(0).values)
    peak = peak.numpy()
    # a feature that never fired gets an infinite level: it fires nowhere, so it has no label
    levels = np.where(peak > 0, THRESHOLDS[:, None] * peak[None, :], np.inf)
    train = _counts(sae, source, hook, "train", levels, chunk_games)
    test = _counts(sae, source, hook, "test", levels, chunk_games)
    f1 = 2 * train.tp / np.maximum(train.fired[:, :, None] + train.held[None, None, :], 1)
    f1[:, :, train.held < MIN_POSITIVES] = -1.0
    flat = f1.transpose(1, 0, 2).reshape(sae.d_sae, -1)  # [features, thresholds x properties]
    level, prop = np.divmod(flat.argmax(1), f1.shape[2])
    rows = np.arange(sae.d_sae)
    tp = test.tp[level, rows, prop]
    fired, held = test.fired[level, rows], test.held[prop]
    named = [property_kind(int(p)) for p in prop]
    alive = peak > 0
    return FeatureLabels(
        kind=[kind if a else None for (kind, _), a in zip(named, alive, strict=True)],
        square=[square for _, square in named],
        share=THRESHOLDS[level].tolist(),
        precision=np.round(tp / np.maximum(fired, 1), 4).tolist(),
        recall=np.round(tp / np.maximum(held, 1), 4).tolist(),
        f1=np.round(2 * tp / np.maximum(fired + held, 1), 4).tolist(),
    )


def label_summary(labels: FeatureLabels, good: float = 0.5) -> dict:
    """Per transcoder: features with a label, their mean test F1, and how many of each kind
    reach a test F1 of ``good`` (a reporting line, not a choice made on the test games)."""
    f1 = np.array(labels.f1)
    alive = np.array([k is not None for k in labels.kind])
    by_kind = {
        kind: int(sum(k == kind and f >= good for k, f in zip(labels.kind, f1, strict=True)))
        for kind in KINDS
    }
    return {
        "labelled_features": int(alive.sum()),
        "label_f1_mean": float(f1[alive].mean()) if alive.any() else 0.0,
        f"labels_f1_over_{good:g}": int((f1[alive] >= good).sum()),
        "labels_by_kind": by_kind,
    }
