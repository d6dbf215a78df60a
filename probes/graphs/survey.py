"""Graphs over many held-out positions, each graded by the rules beside its controls: one
position per test game (a random move number where the side to move has two legal moves or
more), the target the model's own top-1 move there; the share of the features' influence on
that move's squares, against another legal move's squares on the same graph, the labels
shuffled among features, and the random-init model's graph with its own transcoders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from othello.corpora.corpus import GamesFile
from othello.model.legality import square_scores
from othello.world.tokens import encode
from probes.circuits.positions import GameBatch, choose_rows, read_batch
from probes.graphs.api import Position, grade
from probes.graphs.attribution import attribute
from probes.graphs.grading import FeatureBoard, split
from probes.graphs.replacement import Forward
from probes.graphs.targets import move_target


@dataclass
class GraphsConfig:
    """How many positions are graphed (one per test game), the pruning thresholds of the
    written examples (the paper's), whether the random-init control is graphed too."""

    positions: int = 200
    node_threshold: float = 0.8
    edge_threshold: float = 0.98
    control: bool = True
    examples: int = 3  # graphs written as JSON and drawn
    seed: int = 0
    batch_size: int = 256
    progress: bool = True


@dataclass
class Side:
    """A model with its transcoders and their labels (the trained model's, or the control's)."""

    model: torch.nn.Module
    transcoders: dict
    labels: dict


def positions(games, n: int, seed: int) -> tuple[GameBatch, np.ndarray]:
    """``n`` test games and one move number in each whose side to move has >= 2 legal moves."""
    rng = np.random.default_rng(seed)
    with GamesFile(games) as g:
        batch = read_batch(g, choose_rows(g, "test", n, seed=seed, allow_fewer=True))
    legal = batch.labels.legal_squares().sum(-1)  # [G, 60]
    plies = np.empty(len(batch), np.int64)
    for i, length in enumerate(batch.length):
        ok = np.flatnonzero(legal[i, : int(length) - 1] >= 2)
        plies[i] = rng.choice(ok) if len(ok) else int(length) - 2
    return batch, plies


def top_move(forward: Forward) -> int:
    """The model's top-1 move (a playable square) at the prefix's last position."""
    return int(square_scores(forward.logits[-1], -torch.inf).argmax())


def forward_of(side: Side, position: Position) -> Forward:
    return Forward.of(side.model, torch.as_tensor(encode(position.moves)))


def graph_one(side: Side, forward: Forward, square: int, batch_size: int):
    """The full graph of ``side``'s model, run on the prefix (``forward``), for ``square``."""
    target = move_target(side.model, forward, square)
    return attribute(side.model, side.transcoders, forward, target, batch_size)


def record(model: Side, control: Side | None, position: Position, rng, cfg: GraphsConfig):
    """One position's grades: the model's graph for its own top-1 move, its controls."""
    forward = forward_of(model, position)
    square = top_move(forward)
    graph = graph_one(model, forward, square, cfg.batch_size)
    lines = position.lines(square)
    others = position.legal[position.legal != square]
    other = position.lines(int(rng.choice(others))) if len(others) else None
    features = graph.features.numpy()
    board = FeatureBoard.of(features, model.labels)
    out = {"ply": position.ply, "square": square, "legal": bool(lines.legal)}
    out |= grade(graph, board, lines, other) | graph.scores()
    influence = graph.feature_influence()
    shuffled = board.shuffled(model.labels, features, rng)
    out["shuffled_share"] = float(split(influence, shuffled, lines.truth, graph.n_layers).sum())
    out["features"] = len(features)
    if control is not None:
        graph = graph_one(control, forward_of(control, position), square, cfg.batch_size)
        influence = graph.feature_influence()
        board = FeatureBoard.of(graph.features.numpy(), control.labels)
        out["random_init_share"] = float(split(influence, board, lines.truth, graph.n_layers).sum())
        out["random_init_scores"] = graph.scores()
    return out


def survey(games, model: Side, control: Side | None, cfg: GraphsConfig) -> list[dict]:
    """Every surveyed position's record (:func:`record`), in game order."""
    batch, plies = positions(games, cfg.positions, cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    out = []
    for i in tqdm(range(len(batch)), desc="attribution graphs", disable=not cfg.progress):
        position = Position.of(batch.moves[i, : batch.length[i]], int(plies[i]))
        out.append({"game": int(batch.rows[i]), **record(model, control, position, rng, cfg)})
    return out
