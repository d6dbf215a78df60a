"""The circuit laboratory's result and its folder: ``neurons.json`` (one record per neuron),
``neuron_layers.json`` (per layer: share of neurons with test R^2 above the threshold beside
both controls, verdict), ``atlas.npz`` (8x8 maps, logit effects, top-activating positions),
``attribution.json``, ``logit_lens.json`` (``{layer: top-1 legal accuracy}``), ``heads.json``,
``ablation.json``, ``patching.json``, ``attribution_patching.json``, the figures
(:data:`probes.circuits.plots.FIGURES`) and, last, ``metrics.json``: a folder without it is
not a finished run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from othello.common.atomic import commit, partial_path, write_text
from othello.common.errors import UserError
from othello.common.files import (
    ABLATION,
    ATLAS,
    ATTRIBUTION,
    ATTRIBUTION_PATCHING,
    HEADS,
    LOGIT_LENS,
    METRICS,
    NEURON_LAYERS,
    NEURONS,
    PATCHING,
)
from probes.circuits import plots
from probes.circuits.atlas import AtlasResult
from probes.circuits.directions import MAPS
from probes.circuits.plots import CAPTIONS, FIGURES


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


@dataclass
class CircuitsResult:
    """The laboratory's outputs: held in memory after :func:`probes.circuits.lab.measure`
    (with the atlas's arrays and the neuron pages' data, until :meth:`save`), or read back
    from a finished folder (the report, the explorer, the notebook)."""

    folder: Path | None
    metrics: dict
    neurons: list[dict]
    layers: dict[str, dict]
    attribution: dict
    logit_lens: dict[str, float]
    heads: dict
    ablation: dict
    patching: dict
    attribution_patching: dict | None = None  # None: a folder written before it existed
    arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)  # held atlas
    pages: list[dict] | None = field(default=None, repr=False)  # held neuron pages

    @classmethod
    def load(cls, folder: str | os.PathLike) -> CircuitsResult:
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
        if self.arrays is not None:
            return self.arrays
        with np.load(self.folder / ATLAS) as data:
            return {k: data[k] for k in data.files}

    def outputs(self) -> dict:
        """Every JSON output by its file name."""
        out = {
            NEURONS: self.neurons, NEURON_LAYERS: self.layers, ATTRIBUTION: self.attribution,
            LOGIT_LENS: self.logit_lens, HEADS: self.heads, ABLATION: self.ablation,
            PATCHING: self.patching,
        }  # fmt: skip
        if self.attribution_patching is not None:
            out[ATTRIBUTION_PATCHING] = self.attribution_patching
        return out

    def save(self, folder: str | os.PathLike) -> None:
        """Every file, figures included, then metrics.json last: its presence means done."""
        if self.arrays is None:
            raise UserError(f"{self.folder}: a finished circuits folder is saved already")
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, data in self.outputs().items():
            write_text(out / name, json.dumps(data, indent=None if name == NEURONS else 1) + "\n")
        partial = partial_path(out / ATLAS)
        with open(partial, "wb") as handle:  # a handle, so numpy adds no .npz to the name
            np.savez_compressed(handle, **self.arrays)
        commit(partial, out / ATLAS)
        self._draw(out)
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")
        self.folder = out

    def _draw(self, out: Path) -> None:
        plots.attribution(self.attribution, out / FIGURES["attribution"])
        lens = {"lens": self.logit_lens, "probe": self.metrics["probe_mine_theirs_linear"]}
        plots.logit_lens(lens, out / FIGURES["logit_lens"])
        plots.heads(self.heads, out / FIGURES["heads"])
        plots.head_boards(self.heads, out / FIGURES["head_boards"])
        plots.neuron_shares(self.layers, out / FIGURES["neuron_shares"])
        plots.neuron_pages(self.pages, out / FIGURES["neuron_pages"])
        if self.patching["pairs"]:
            plots.patching(self.patching, out / FIGURES["patching"])
            path = out / FIGURES["attribution_patching"]
            plots.attribution_patching(self.patching, self.attribution_patching, path)

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

    def figures(self) -> dict[str, Path]:
        """``{caption: path}`` of the figures this run drew (the patching ones only with pairs,
        attribution patching's only in folders that have it)."""
        pairs = self.patching["pairs"] > 0
        has = {"patching": pairs, "attribution_patching": pairs and bool(self.attribution_patching)}
        drawn = [n for n in FIGURES if has.get(n, True)]
        return {CAPTIONS[n]: self.figure(n) for n in drawn}
