"""The graph stage's result, in memory and as a folder:

* ``records.json``: one record per surveyed position (its shares, scores, controls);
* ``examples/graph-{i}.json``: a few graphs in circuit-tracer's JSON layout
  (:mod:`probes.graphs.export`), each drawn as ``examples/graph-{i}.png``;
* ``grading.png``; ``metrics.json`` last: ``grading`` (:func:`probes.graphs.summary.
  summarise`), ``seconds_per_graph``, the settings and the hashes of the model and games.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import METRICS
from probes.graphs.plots import grading, graph_figure

RECORDS, EXAMPLES, FIGURE = "records.json", "examples", "grading.png"
CAPTION = "Attribution graphs graded by the rules: influence on the move's own lines vs controls"


@dataclass
class GraphsResult:
    """``metrics`` (metrics.json's content), ``records`` and ``examples`` (graph JSONs)."""

    metrics: dict
    records: list[dict] = field(default_factory=list, repr=False)
    examples: list[dict] = field(default_factory=list, repr=False)
    folder: Path | None = None

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        (out / EXAMPLES).mkdir(parents=True, exist_ok=True)
        write_text(out / RECORDS, json.dumps(self.records) + "\n")
        for i, data in enumerate(self.examples):
            write_text(out / EXAMPLES / f"graph-{i}.json", json.dumps(data) + "\n")
            graph_figure(data, out / EXAMPLES / f"graph-{i}.png")
        grading(self.metrics["grading"], out / FIGURE)
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")
        self.folder = out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> GraphsResult:
        folder = Path(folder)
        if not (folder / METRICS).exists():
            raise FileNotFoundError(f"{folder / METRICS}: missing; run make graphs")
        examples = [json.loads(p.read_text()) for p in sorted((folder / EXAMPLES).glob("*.json"))]
        return cls(json.loads((folder / METRICS).read_text()),
                   json.loads((folder / RECORDS).read_text()), examples, folder)  # fmt: skip

    def summary(self) -> dict:
        return self.metrics

    def figures(self) -> dict[str, Path]:
        shown = {CAPTION: self.folder / FIGURE}
        if self.examples:
            shown["One attribution graph (layers x positions) and its move's flanking squares"] = (
                self.folder / EXAMPLES / "graph-0.png"
            )
        return shown
