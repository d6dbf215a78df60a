"""One attribution graph, one call: ``probes.attribution_graph(model, transcoders, game, ply,
target)``: the graph of the model's prediction after move ``ply`` of ``game`` for a target (a
move's logit, or a probe's reading built by :func:`probes.graphs.targets.probe_target`), pruned
as the paper prunes, scored (replacement, completeness) and, with the transcoders' board
labels, graded by the rules (:mod:`probes.graphs.grading`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from othello.common.errors import UserError
from othello.model.gpt import GPT
from othello.world.flanking import Lines, move_lines, sides
from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import MAX_MOVES, parse_square, square_name
from othello.world.tokens import encode
from probes.graphs.attribution import Graph, attribute
from probes.graphs.grading import FeatureBoard, split
from probes.graphs.replacement import Forward
from probes.graphs.targets import Target, move_target
from probes.graphs.transcoders import Transcoders, check_transcoders
from probes.transcoders.labels import KINDS, FeatureLabels


@dataclass
class Position:
    """A game prefix: ``moves`` (squares, the game so far up to and including move ``ply``)
    and the rules' view of the side to move there (``me``, ``opp`` bitboards, ``legal``
    squares)."""

    moves: np.ndarray
    ply: int
    me: int
    opp: int
    legal: np.ndarray

    @classmethod
    def of(cls, game, ply: int, where: str = "game") -> Position:
        """The position after move ``ply`` (0-based) of ``game`` (squares or their names);
        one ``error:`` line for a ply past the game's end or an illegal game."""
        squares = [parse_square(m) if isinstance(m, str) else int(m) for m in game]
        squares = [s for s in squares if s >= 0]  # a games file's padding
        if not 0 <= ply < len(squares):
            raise UserError(f"{where}: ply {ply} is outside the game's moves 0..{len(squares) - 1}")
        moves = np.full((1, MAX_MOVES), -1, np.int8)
        moves[0, : ply + 1] = squares[: ply + 1]
        labels = replay(moves, np.array([ply + 1], np.int8))
        if not labels.valid[0]:
            bad = int(labels.error[0])
            raise UserError(f"{where}: move {bad} ({square_name(squares[bad])}) is illegal")
        me, opp = sides(labels, 0, ply)
        legal = np.flatnonzero(labels.legal_squares()[0, ply])
        return cls(moves[0, : ply + 1].astype(np.int64), ply, me, opp, legal)

    def lines(self, square: int) -> Lines:
        return move_lines(self.me, self.opp, square)

    @property
    def board(self) -> np.ndarray:
        """int [64]: 0 empty, 1 mine, 2 theirs, from the side to move's view."""
        mine, theirs = unpack_bitboards(np.array([self.me, self.opp], np.uint64))
        return mine.astype(np.int64) + 2 * theirs


@dataclass
class GraphResult:
    """A graph and what was measured of it: the pruning (``node_mask``, ``edge_mask``,
    ``cumulative``), ``scores`` (replacement, completeness and, graded, ``flanking_share``,
    ``control_share``, ``by_layer_kind``), the target move's ``lines`` and the control move's
    (``other``, None for a probe target or a position with one legal move), ``seconds``."""

    graph: Graph
    position: Position
    node_mask: torch.Tensor
    edge_mask: torch.Tensor
    cumulative: torch.Tensor
    scores: dict
    lines: Lines | None
    other: Lines | None
    seconds: float
    board: FeatureBoard | None = field(default=None, repr=False)
    node_threshold: float = 0.8


def transcoders_of(model: GPT, transcoders) -> tuple[Transcoders, dict[int, FeatureLabels]]:
    """``transcoders`` as ``{layer: transcoder}`` with their labels (none when given as a
    dict): a transcoder stage's folder is read and refused in one line when its transcoders
    were trained on another model's activations."""
    if isinstance(transcoders, str | os.PathLike):
        from probes.stage_spec import model_sha256
        from probes.transcoders.result import TranscoderResult

        result = TranscoderResult.load(transcoders)
        trained_on, ours = result.metrics.get("model_sha256"), model_sha256(model)
        if ours is not None and trained_on != ours:
            raise UserError(f"{transcoders}: transcoders of another model (sha256 "
                            f"{str(trained_on)[:12]}..., this model's {ours[:12]}...)")  # fmt: skip
        return result.transcoders, result.labels
    return transcoders, {}


def target_of(model: GPT, forward: Forward, target) -> Target:
    """A :class:`Target` as given or made from the forward pass (a callable: e.g.
    ``lambda f: probe_target(probes, f, layer, square)``), or a move's logit from its square
    (index or name)."""
    if isinstance(target, Target):
        return target
    if callable(target):
        return target(forward)
    if isinstance(target, str):
        target = parse_square(target)
    if not isinstance(target, int | np.integer):
        raise UserError(f"target {target!r}: not a move (a square) or a probe target")
    return move_target(model, forward, int(target))


def attribution_graph(
    model: GPT,
    transcoders,
    game,
    ply: int,
    target,
    labels: dict[int, FeatureLabels] | None = None,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    seed: int = 0,
    batch_size: int = 256,
) -> GraphResult:
    """The attribution graph of ``model``'s prediction after move ``ply`` of ``game`` for
    ``target`` (a square: that move's logit; or a :class:`Target`), with ``transcoders`` a
    ``{layer: transcoder}`` dict or a transcoder stage's folder (whose labels it reads).
    ``labels`` (or the folder's) grade it; the control move is a random other legal move
    (``seed``)."""
    transcoders, found = transcoders_of(model, transcoders)
    labels = labels if labels is not None else found
    check_transcoders(model, transcoders)
    position = Position.of(game, ply)
    began = time.perf_counter()
    tokens = torch.as_tensor(encode(position.moves))
    forward = Forward.of(model, tokens)
    graph = attribute(model, transcoders, forward, target_of(model, forward, target), batch_size)
    node_mask, edge_mask, cumulative = graph.prune(node_threshold, edge_threshold)
    scores = graph.scores()
    lines = other = board = None
    if graph.target.kind == "move":
        lines = position.lines(graph.target.square)
        others = position.legal[position.legal != graph.target.square]
        if len(others):
            other = position.lines(int(np.random.default_rng(seed).choice(others)))
    if labels and lines is not None:
        board = FeatureBoard.of(graph.features.numpy(), labels)
        scores |= grade(graph, board, lines, other)
    return GraphResult(graph, position, node_mask, edge_mask, cumulative, scores, lines, other,
                       time.perf_counter() - began, board, node_threshold)  # fmt: skip


def grade(graph: Graph, board: FeatureBoard, lines: Lines, other: Lines | None) -> dict:
    """The rules' grades of one graph: ``flanking_share`` (the features' influence on the
    target move's squares), ``control_share`` (on another legal move's; None without one),
    ``by_layer_kind`` ({layer: {kind: share}} of the first)."""
    influence = graph.feature_influence()
    parts = split(influence, board, lines.truth, graph.n_layers)
    control = None
    if other is not None:
        control = float(split(influence, board, other.truth, graph.n_layers).sum())
    return {
        "flanking_share": float(parts.sum()),
        "control_share": control,
        "by_layer_kind": {
            str(layer): dict(zip(KINDS, map(float, row), strict=True))
            for layer, row in enumerate(parts)
        },
    }


def games_prefix(games: str | os.PathLike, game: int) -> np.ndarray:
    """The moves of game ``game`` of a games file (one ``error:`` line past its games)."""
    from othello.corpora.corpus import GamesFile

    with GamesFile(games) as g:
        found = g.game(game)
    return np.asarray(found.moves[: found.length], np.int64)


def probe_reading(model, folder: str | None, square: str):
    """The target of ``--probe``: the mine/theirs probe's reading of ``square`` at its best
    layer (chosen on validation games)."""
    from probes.graphs.targets import probe_target
    from probes.probe_spec import ProbeResult
    from probes.stage_spec import model_sha256

    if folder is None:
        raise UserError("--probe needs --probes PROBE_DIR (the run's probe folder)")
    found = ProbeResult.load(folder)
    probes, _ = found.probes(model_sha256(model))
    layer, where = int(found.metrics.best_of("mine_theirs").layer), parse_square(square)
    return lambda forward: probe_target(probes, forward, layer, where)
