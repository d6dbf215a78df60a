"""A graph graded by the rules: of the influence that the target's features carry, the share
carried by features whose board label (:mod:`probes.transcoders.labels`: a square x empty,
mine, theirs, flipped or legal) lies on the squares the engine says decide the target move
(:attr:`othello.world.flanking.Lines.truth`: the move and its flanking lines, or what blocks
an illegal move).

Influence is the graph's own (:meth:`probes.graphs.attribution.Graph.influence`, the paper's:
non-negative, summing paths of normalised direct effects), over feature nodes only: error and
input nodes carry no label. A feature without a label counts in the whole, never on a square.
The controls a share is read against:

* another legal move's lines at the same position, read on the same graph (does the graph
  read *this* move's lines, or any lines?);
* the labels shuffled among each layer's features (is it the labels, or how many features
  are labelled?);
* the random-init model's graph with its own transcoders and labels (made by
  :mod:`probes.graphs.stage`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probes.transcoders.labels import KINDS, FeatureLabels


@dataclass(frozen=True)
class FeatureBoard:
    """Each of a graph's feature nodes' board label: ``square`` int [F] (-1: none), ``kind``
    int [F] (an index of :data:`probes.transcoders.labels.KINDS`, -1: none) and ``layer``."""

    layer: np.ndarray
    square: np.ndarray
    kind: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray, labels: dict[int, FeatureLabels]) -> FeatureBoard:
        """The labels of ``features`` [F, 3] (layer, position, feature) from each layer's
        :class:`FeatureLabels`."""
        square, kind = np.full(len(features), -1), np.full(len(features), -1)
        for layer, table in labels.items():
            rows = np.flatnonzero(features[:, 0] == layer)
            index = features[rows, 2]
            kinds = np.array([-1 if k is None else KINDS.index(k) for k in table.kind])
            kind[rows] = kinds[index]
            square[rows] = np.where(kind[rows] >= 0, np.asarray(table.square)[index], -1)
        return cls(features[:, 0].astype(np.int64), square, kind)

    def shuffled(self, labels: dict[int, FeatureLabels], features: np.ndarray, rng):
        """The same nodes with each layer's labels permuted among all its features (every
        feature of the transcoder, not just the active ones)."""
        permuted = {}
        for layer, table in labels.items():
            order = rng.permutation(len(table.kind))
            permuted[layer] = FeatureLabels(
                *[[getattr(table, f)[i] for i in order] for f in ("kind", "square")],
                *[list(getattr(table, f)) for f in ("share", "precision", "recall", "f1")],
            )
        return FeatureBoard.of(features, permuted)


def split(influence: np.ndarray, board: FeatureBoard, squares: np.ndarray, n_layers: int):
    """float [layers, kinds]: of the features' total influence, the share carried by the
    features of each layer with each label kind on one of ``squares`` (bool [64]); its sum is
    the graph's share on those squares (NaN throughout when the features carry none)."""
    total = float(influence.sum())
    out = np.zeros((n_layers, len(KINDS)))
    if total <= 0:
        return out + np.nan
    on = (board.square >= 0) & squares[np.maximum(board.square, 0)]
    np.add.at(out, (board.layer[on], board.kind[on]), influence[on])
    return out / total
