"""The transcoder stage's figure: per MLP layer, the variance of the MLP output explained and
the model's top-1 legal accuracy with that MLP replaced, beside the random-init control's."""

from __future__ import annotations

import os

import numpy as np

from othello.common.plotting import plt
from probes.drawing import save_figure

PANELS = (("variance_explained", "variance of the MLP output explained"),
          ("spliced_top1_legal", "top-1 legal, this MLP replaced"))  # fmt: skip


def quality(metrics: dict, path: str | os.PathLike) -> None:
    """Two panels of bars by layer: the model's transcoders and the control's."""
    layers = list(metrics["layers"])
    x = np.arange(len(layers))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        model = [metrics["layers"][layer][key] for layer in layers]
        ax.bar(x - 0.2, model, 0.4, label="trained model")
        control = [metrics["layers"][layer].get("random_init", {}).get(key) for layer in layers]
        if all(c is not None for c in control):
            ax.bar(x + 0.2, control, 0.4, label="random init")
        if key == "spliced_top1_legal":
            clean = metrics["layers"][layers[0]]["top1_legal_clean"]
            ax.axhline(clean, color="black", lw=0.8, ls="--", label="clean model")
        ax.set_xticks(x, [f"MLP {layer}" for layer in layers])
        ax.set_ylim(min(0.0, *model, *(c for c in control if c is not None)), 1.0)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    save_figure(fig, path)
