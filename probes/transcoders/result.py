"""The transcoder stage's result: the transcoders (the model's and the random-init control's)
with their feature labels and figures, in memory and as a folder:

* ``transcoders/layer_{l}/`` and ``control/layer_{l}/``: SAELens's layout
  (:mod:`probes.transcoders.store`);
* ``circuit_tracer/config.yaml`` + ``layer_{l}.safetensors``: circuit-tracer's
  (:mod:`probes.transcoders.circuit_tracer`);
* ``labels.json``: ``{"model"|"random_init": {layer: FeatureLabels as lists}}``;
* ``transcoders.png``; ``metrics.json`` last: ``layers`` (``{layer: figures}``, each with
  ``variance_explained``, ``spliced_top1_legal``, ``spliced_loss``, ``l0``,
  ``dead_features``, label counts, and ``random_init``: the same for the control's
  transcoder), ``all_layers`` (every MLP replaced at once: ``spliced_loss``,
  ``spliced_top1_legal``, the clean and ablated figures, and ``random_init``), the settings
  and the hashes of the model and games.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.files import METRICS
from probes.sae.model import SparseAutoencoder
from probes.transcoders.circuit_tracer import write_circuit_tracer
from probes.transcoders.fit import Fitted
from probes.transcoders.labels import FeatureLabels
from probes.transcoders.plots import quality
from probes.transcoders.store import CONTROL_DIR, MODEL_DIR, load_transcoders, save_transcoders

LABELS = "labels.json"
CIRCUIT_TRACER = "circuit_tracer"
FIGURE = "transcoders.png"
CAPTION = "Transcoders per MLP layer: variance explained and top-1 legal spliced in, vs random init"


def metrics_of(fitted: Fitted, baseline: Fitted | None, about: dict) -> dict:
    """metrics.json's content: each layer's figures with the control's beside them."""
    layers = {}
    for layer, figures in fitted.layers.items():
        layers[str(layer)] = dict(figures)
        if baseline is not None:
            layers[str(layer)]["random_init"] = baseline.layers[layer]
    all_layers = dict(fitted.all_layers)
    if baseline is not None:
        all_layers["random_init"] = baseline.all_layers
    return {"layers": layers, "all_layers": all_layers, **about}


@dataclass
class TranscoderResult:
    """What the stage measured. ``transcoders`` / ``control``: ``{layer: transcoder}`` (the
    control's empty without one); ``labels`` / ``control_labels``: ``{layer:
    FeatureLabels}``; ``metrics``: metrics.json's content."""

    metrics: dict
    transcoders: dict[int, SparseAutoencoder] = field(default_factory=dict, repr=False)
    control: dict[int, SparseAutoencoder] = field(default_factory=dict, repr=False)
    labels: dict[int, FeatureLabels] = field(default_factory=dict, repr=False)
    control_labels: dict[int, FeatureLabels] = field(default_factory=dict, repr=False)
    folder: Path | None = None

    @classmethod
    def assemble(cls, fitted: Fitted, baseline: Fitted | None, about: dict) -> TranscoderResult:
        control = baseline or Fitted({}, {})
        return cls(metrics_of(fitted, baseline, about), fitted.transcoders, control.transcoders,
                   fitted.labels, control.labels)  # fmt: skip

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"model_sha256": self.metrics.get("model_sha256"),
                "games_sha256": self.metrics.get("games_sha256")}  # fmt: skip
        save_transcoders(self.transcoders, out / MODEL_DIR, meta)
        if self.control:
            save_transcoders(self.control, out / CONTROL_DIR, {**meta, "random_init": True})
        scan = f"othello-gpt-{str(meta['model_sha256'])[:12]}"
        write_circuit_tracer(self.transcoders, out / CIRCUIT_TRACER, scan)
        labels = {
            "model": {str(k): v.to_dict() for k, v in self.labels.items()},
            "random_init": {str(k): v.to_dict() for k, v in self.control_labels.items()},
        }
        write_text(out / LABELS, json.dumps(labels) + "\n")
        quality(self.metrics, out / FIGURE)
        write_text(out / METRICS, json.dumps(self.metrics, indent=1) + "\n")
        self.folder = out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TranscoderResult:
        """A finished folder, its transcoders and labels read back."""
        folder = Path(folder)
        if not (folder / METRICS).exists():
            raise FileNotFoundError(f"{folder / METRICS}: missing; run scripts/transcoders.py")
        metrics = json.loads((folder / METRICS).read_text())
        labels = json.loads((folder / LABELS).read_text())
        control = load_transcoders(folder, True) if (folder / CONTROL_DIR).exists() else {}
        return cls(metrics, load_transcoders(folder), control,
                   *({int(k): FeatureLabels.from_dict(v) for k, v in labels[who].items()}
                     for who in ("model", "random_init")), folder)  # fmt: skip

    def summary(self) -> dict:
        return self.metrics

    def figures(self) -> dict[str, Path]:
        return {CAPTION: self.folder / FIGURE}
