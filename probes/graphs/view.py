"""The explorer's attribution graphs: the stage's headline in ``/api/info`` and, on request
(``/api/graph``), the graph of any move at any position through the transcoders the stage
read: its scores, the rules' squares for the move and the most influential features with
their board labels."""

from __future__ import annotations

import numpy as np
import torch

from othello.world.squares import square_name
from othello.world.tokens import encode
from probes.graphs.api import attribution_graph
from probes.graphs.replacement import Forward
from probes.graphs.report import headline
from probes.graphs.result import GraphsResult
from probes.graphs.survey import top_move
from probes.transcoders.labels import KINDS
from probes.transcoders.result import TranscoderResult

TOP = 15  # features listed per graph


class GraphsView:
    """A finished graph stage, its transcoders loaded on the first graph asked for."""

    def __init__(self, result: GraphsResult) -> None:
        self.metrics = result.metrics
        self.folder = result.metrics.get("transcoders")
        self._transcoders: TranscoderResult | None = None

    def info(self) -> dict:
        return {"graphs": {"headline": headline(self.metrics)}}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {}

    def graph(self, model, moves: np.ndarray, ply: int, square: int | None) -> dict:
        """The graph of ``square``'s logit (the model's top move when None) after move
        ``ply`` of ``moves``, summed up for the page."""
        if self._transcoders is None:
            self._transcoders = TranscoderResult.load(self.folder)
        found = self._transcoders
        if square is None:  # the top move: one forward pass
            square = top_move(Forward.of(model, torch.as_tensor(encode(moves[: ply + 1]))))
        result = attribution_graph(model, found.transcoders, moves, ply, square, found.labels)
        graph = result.graph
        influence = graph.feature_influence()
        share = influence / max(float(influence.sum()), 1e-12)
        top = []
        for i in np.argsort(-share)[:TOP]:
            layer, position, feature = graph.features[i].tolist()
            kind = -1 if result.board is None else int(result.board.kind[i])
            label = "-" if kind < 0 else f"{square_name(int(result.board.square[i]))} {KINDS[kind]}"
            top.append({"layer": layer, "position": position, "feature": feature,
                        "move": square_name(int(moves[position])), "label": label,
                        "share": float(share[i]),
                        "activation": float(graph.activation[i])})  # fmt: skip
        lines = result.lines
        return {
            "target": graph.target.name,
            "square": int(square),
            "scores": {k: v for k, v in result.scores.items() if k != "by_layer_kind"},
            "truth": [] if lines is None else np.flatnonzero(lines.truth).tolist(),
            "flanking": None if lines is None else lines.describe(),
            "control_move": None if result.other is None else square_name(result.other.square),
            "features": len(graph.features),
            "top": top,
            "seconds": result.seconds,
        }
