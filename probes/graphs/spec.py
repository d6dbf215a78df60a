"""The attribution-graph stage as a registered :class:`probes.stage_spec.Stage`: graphs of the
model's own moves at held-out positions through the transcoder stage's transcoders, graded by
the rules beside their controls (:mod:`probes.graphs.survey`)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict

from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.model.kinds import random_init
from probes.graphs.api import attribution_graph, games_prefix
from probes.graphs.export import graph_json
from probes.graphs.report import headline, scores_line, section_lines
from probes.graphs.result import GraphsResult
from probes.graphs.summary import summarise
from probes.graphs.survey import GraphsConfig, Side, survey
from probes.graphs.transcoders import check_transcoders
from probes.graphs.view import GraphsView
from probes.stage_spec import Stage, fewer_than_asked, model_sha256


class GraphStage(Stage):
    name = "graphs"
    question = "How does it compute a move? Attribution graphs graded by the rules"
    config = GraphsConfig
    presets = {"tiny": {"positions": 8, "examples": 1}}
    reads = ("transcoders",)
    order = 46

    def measure(self, model, games, inputs: dict, cfg: GraphsConfig) -> GraphsResult:
        """Graphs of ``cfg.positions`` held-out positions through ``inputs["transcoders"]``
        (a :class:`probes.transcoders.TranscoderResult` of this model); nothing written."""
        began = time.perf_counter()
        found = inputs["transcoders"]
        trained_on, ours = found.metrics.get("model_sha256"), model_sha256(model)
        if ours is not None and trained_on != ours:
            raise UserError(f"transcoders of another model (sha256 {str(trained_on)[:12]}..., "
                            f"this model's {ours[:12]}...)")  # fmt: skip
        check_transcoders(model, found.transcoders)
        side = Side(model, found.transcoders, found.labels)
        control = None
        if cfg.control and found.control:
            control = Side(random_init(model), found.control, found.control_labels)
        records = survey(games, side, control, cfg)
        examples = []
        for record in records[: cfg.examples]:  # the first positions surveyed, drawn in full
            moves, ply, slug = games_prefix(games, record["game"]), record["ply"], "game-{}-ply-{}"
            result = attribution_graph(model, found.transcoders, moves, ply, record["square"],
                                       found.labels, cfg.node_threshold, cfg.edge_threshold,
                                       cfg.seed, cfg.batch_size)  # fmt: skip
            examples.append(graph_json(result, slug.format(record["game"], ply)))
        seconds = time.perf_counter() - began
        metrics = {
            "grading": summarise(records, model.cfg.n_layers),
            "warnings": fewer_than_asked(
                "held-out positions (one per test game)", len(records), cfg.positions
            ),  # fmt: skip
            "seconds_per_graph": seconds / (len(records) * (2 if control else 1) + len(examples)),
            "seconds": round(seconds, 1),
            "settings": asdict(cfg),
            "model_sha256": ours,
            "games_sha256": file_sha256(games),
            "transcoders": str(found.folder) if found.folder else None,
        }
        return GraphsResult(metrics, records, examples)

    def load(self, folder: str | os.PathLike) -> GraphsResult:
        return GraphsResult.load(folder)

    def view(self, result: GraphsResult, hooks: dict[int, str]) -> GraphsView:
        return GraphsView(result)

    def section(self, part: dict) -> list[str]:
        return section_lines(part)

    def printed(self, result: GraphsResult) -> list[str]:
        warnings = [f"WARNING: {w}" for w in result.metrics["warnings"]]
        return [headline(result.metrics), scores_line(result.metrics), *warnings]
