"""Regression trees from the true board to one neuron's activation, and the rule they read.

One scikit-learn ``DecisionTreeRegressor`` per neuron is grown once to ``max_depth`` on
training positions; every shallower tree is that tree cut at depth d (the node each sample
reaches at depth d predicts the mean of its training samples there), so the depth is chosen on
validation positions at the cost of one fit, and R^2 is reported on test positions at that
depth. The neuron's *rule* is the strongest path of the chosen tree: the conditions leading to
the node with the highest mean activation (the situation in which the neuron fires most),
written with square names ("C3 empty and D4 theirs and E5 mine"). Features are the binary
columns of :func:`probes.circuits.positions.feature_names`.

scikit-learn costs 2.5 s to import, so it is imported inside the functions that fit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from othello.world.squares import N_SQUARES, square_name
from probes.circuits.positions import FEATURE_KINDS

BOARD_STATES = ("empty", "mine", "theirs")


@dataclass
class TreeSettings:
    """One neuron's tree settings; depth, leaf size and seed are CircuitsConfig's (no defaults
    here, so the two cannot drift), the tolerance is this module's own."""

    max_depth: int
    min_samples_leaf: int
    seed: int
    # the shallowest depth whose validation R^2 is within this of the best is taken: a
    # shorter rule that predicts as well is the better description
    tolerance: float = 0.005


@dataclass
class TreeResult:
    """One neuron's tree: the depth chosen on validation, R^2 on validation and test (None
    for a neuron whose activation does not vary), and its rule."""

    depth: int
    r2_val: float | None
    r2_test: float | None
    conditions: list[tuple[int, bool]]  # (feature column, required value), root first
    rule: str
    rule_mean: float  # mean training activation where the rule holds
    rule_samples: int


def r2_score(y: np.ndarray, pred: np.ndarray) -> float | None:
    """Coefficient of determination; None when ``y`` is (nearly) constant."""
    y = y.astype(np.float64)
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 1e-8 * max(len(y), 1):
        return None
    return 1.0 - float(((y - pred) ** 2).sum()) / total


def ancestors(tree_) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(parent, depth, anc)``: each node's parent (-1 for the root) and depth, and ``anc
    [max_depth + 1, nodes]``, its ancestor at depth d (itself when it is shallower than d):
    the node a sample ending there passes at depth d."""
    n = tree_.node_count
    parent = np.full(n, -1)
    for children in (tree_.children_left, tree_.children_right):
        inner = children >= 0
        parent[children[inner]] = np.flatnonzero(inner)
    depth = np.zeros(n, np.int64)
    for node in range(1, n):  # depth-first ids: a parent's id is below its children's
        depth[node] = depth[parent[node]] + 1
    anc = np.tile(np.arange(n), (int(depth.max()) + 1, 1))
    for d in range(int(depth.max()) - 1, -1, -1):
        deeper = depth > d
        anc[d, deeper] = parent[anc[d + 1, deeper]]
    return parent, depth, anc


def depth_predictions(tree, anc: np.ndarray, x: np.ndarray, max_depth: int) -> np.ndarray:
    """[max_depth + 1, N]: the tree's prediction for ``x`` cut at each depth 0..max_depth."""
    leaf = tree.apply(x)
    values = tree.tree_.value[:, 0, 0]
    rows = np.minimum(np.arange(max_depth + 1), anc.shape[0] - 1)
    return values[anc[rows][:, leaf]]


def strongest_path(tree, parent: np.ndarray, depth: np.ndarray, cut: int) -> tuple[list, int]:
    """The conditions ``(feature, value)``, root first, leading to the node with the highest
    mean of the tree cut at depth ``cut``, and that node."""
    t = tree.tree_
    ends = np.flatnonzero((depth == cut) | ((depth < cut) & (t.children_left < 0)))
    end = int(ends[np.argmax(t.value[ends, 0, 0])])
    conditions, node = [], end
    while parent[node] >= 0:
        up = int(parent[node])
        conditions.append((int(t.feature[up]), bool(t.children_right[up] == node)))
        node = up
    return conditions[::-1], end


def rule_text(conditions: list[tuple[int, bool]]) -> str:
    """Conditions in words: board states of one square merged ("C3 not theirs", "C3 mine"),
    flips and legality as they are ("D4 flipped", "E5 not legal"); "always" for none."""
    allowed: dict[int, set[str]] = {}
    order: list[tuple[str, int | str]] = []
    for column, value in conditions:
        kind, square = FEATURE_KINDS[column // N_SQUARES], column % N_SQUARES
        if kind in BOARD_STATES:
            if square not in allowed:
                allowed[square] = set(BOARD_STATES)
                order.append(("board", square))
            allowed[square] = {kind} & allowed[square] if value else allowed[square] - {kind}
        else:
            order.append(("text", f"{square_name(square)} {'' if value else 'not '}{kind}"))
    words = []
    for what, item in order:
        if what == "text":
            words.append(item)
            continue
        states = [s for s in BOARD_STATES if s in allowed[item]]
        missing = [s for s in BOARD_STATES if s not in allowed[item]]
        name = square_name(int(item))
        words.append(f"{name} {states[0]}" if len(states) == 1 else f"{name} not {missing[0]}")
    return " and ".join(words) if words else "always"


def holds(conditions: list[tuple[int, bool]], features: np.ndarray) -> np.ndarray:
    """bool [N]: positions (features [N, 320]) where every condition holds."""
    ok = np.ones(len(features), bool)
    for column, value in conditions:
        ok &= features[:, column].astype(bool) == value
    return ok


@dataclass
class CutTree:
    """A neuron's tree grown to ``max_depth`` on training positions and the depth it is cut
    at (chosen on validation, or set by a caller), with the validation R^2 at every depth:
    what a caller needs to predict activations (the neuron simulation), not only score them."""

    tree: Any  # a fitted sklearn DecisionTreeRegressor
    parent: np.ndarray
    node_depth: np.ndarray
    anc: np.ndarray
    depth: int
    val_scores: list[float | None]  # validation R^2 cut at depth 0..max_depth

    @property
    def r2_val(self) -> float | None:
        return self.val_scores[self.depth]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """[N]: the tree cut at :attr:`depth` on features float32 [N, 320]."""
        return depth_predictions(self.tree, self.anc, x, self.depth)[self.depth]


def grow_tree(data: TreeData, column: int, cfg: TreeSettings) -> CutTree:
    """Grow one neuron's tree on the training positions and cut it at the depth that predicts
    the validation positions best (ties within ``cfg.tolerance``: the shallower)."""
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor(
        max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf, random_state=cfg.seed
    ).fit(data.x_train, data.y_train[:, column])
    parent, depth, anc = ancestors(tree.tree_)
    val = depth_predictions(tree, anc, data.x_val, cfg.max_depth)
    scores = [r2_score(data.y_val[:, column], p) for p in val]
    usable = np.array([s if s is not None else -np.inf for s in scores])
    cut = int(np.argmax(usable >= usable.max() - cfg.tolerance))
    return CutTree(tree, parent, depth, anc, cut, scores)


def fit_tree(data: TreeData, column: int, cfg: TreeSettings) -> TreeResult:
    """:func:`grow_tree`, scored on the test positions, with its rule."""
    cut = grow_tree(data, column, cfg)
    tree, depth = cut.tree, cut.node_depth
    test = cut.predict(data.x_test)
    conditions, end = strongest_path(tree, cut.parent, depth, min(cut.depth, int(depth.max())))
    return TreeResult(
        depth=cut.depth,
        r2_val=cut.r2_val,
        r2_test=r2_score(data.y_test[:, column], test),
        conditions=conditions,
        rule=rule_text(conditions),
        rule_mean=float(tree.tree_.value[end, 0, 0]),
        rule_samples=int(tree.tree_.n_node_samples[end]),
    )


@dataclass
class TreeData:
    """Features (float32 [N, 320], as scikit-learn wants them: converted once, not per
    tree) and activations [N, neurons] of the training, validation and test positions."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def of(cls, *arrays: np.ndarray) -> TreeData:
        x_tr, y_tr, x_va, y_va, x_te, y_te = arrays
        f = lambda x: np.ascontiguousarray(x, dtype=np.float32)  # noqa: E731
        return cls(f(x_tr), np.asarray(y_tr), f(x_va), np.asarray(y_va), f(x_te), np.asarray(y_te))

    def shuffled(self, seed: int) -> TreeData:
        """The same data with every split's activations shuffled across positions: the
        control in which the board says nothing about the neuron."""
        rng = np.random.default_rng(seed)
        p = lambda y: y[rng.permutation(len(y))]  # noqa: E731
        return TreeData(
            self.x_train, p(self.y_train), self.x_val, p(self.y_val), self.x_test, p(self.y_test)
        )


def fit_trees(
    data: TreeData,
    columns: list[int],
    cfg: TreeSettings,
    workers: int,
    desc: str,
    progress: bool = True,
    fit: Callable[[TreeData, int, TreeSettings], Any] = fit_tree,
) -> list:
    """``fit`` (:func:`fit_tree`, or :func:`grow_tree` for the trees themselves) for each
    neuron column, on ``workers`` threads (scikit-learn's tree builder releases the GIL, so
    threads use every core without copying the data)."""
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        jobs = pool.map(lambda c: fit(data, c, cfg), columns)
        return list(tqdm(jobs, total=len(columns), desc=desc, disable=not progress, leave=False))
