"""Feature pages: for chosen SAE features, the positions that activate them most drawn as
boards (the square of the property the feature matches outlined), and the histogram of the
feature's activations."""

from __future__ import annotations

import os

import numpy as np

from othello.plotting import plt
from othello.squares import square_name
from probes.probe_plots import save_figure

COLOURS = {0: "#2e8b57", 1: "#1f4fd1", 2: "#f08c00"}  # empty, mine, theirs


def _board(ax, board: list[int], square: int | None, title: str) -> None:
    grid = np.array(board).reshape(8, 8)
    for r in range(8):
        for c in range(8):
            ax.add_patch(plt.Rectangle((c, r), 1, 1, color="#2e8b57", ec="#164"))
            if grid[r, c] > 0:
                ax.add_patch(plt.Circle((c + 0.5, r + 0.5), 0.38, color=COLOURS[int(grid[r, c])]))
    if square is not None:
        r, c = divmod(square, 8)
        ax.add_patch(plt.Rectangle((c + 0.05, r + 0.05), 0.9, 0.9, fill=False, ec="red", lw=2))
    ax.set_xlim(0, 8)
    ax.set_ylim(8, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=6)


def feature_pages(data: dict, path: str | os.PathLike) -> None:
    """data: {"features": [{"feature", "match", "match_f1", "square", "top": [{"board",
    "activation", "where"}], "histogram": {"counts", "edges"}}]}: one row per feature."""
    features = data["features"]
    columns = 1 + max(len(f["top"]) for f in features)
    fig, axes = plt.subplots(
        len(features), columns, figsize=(1.6 * columns, 1.8 * len(features)), squeeze=False
    )
    for row, feature in zip(axes, features, strict=True):
        hist = feature["histogram"]
        row[0].bar(hist["edges"][:-1], hist["counts"], width=np.diff(hist["edges"]), align="edge")
        row[0].set_yscale("log")
        row[0].set_title(
            f"feature {feature['feature']}\n{feature['match']} (F1 {feature['match_f1']:.2f})",
            fontsize=6,
        )
        row[0].tick_params(labelsize=5)
        for ax, top in zip(row[1:], feature["top"] + [None] * columns, strict=False):
            if top is None:
                ax.axis("off")
                continue
            _board(
                ax, top["board"], feature["square"], f"{top['where']}\nact {top['activation']:.2f}"
            )
    fig.suptitle(
        "SAE features: top-activating positions (blue = mine, orange = theirs)", fontsize=8
    )
    save_figure(fig, path)


def property_name(scheme_name: str, index: int) -> tuple[str, int]:
    """A readable name of property ``index`` of a scheme, and its square."""
    if scheme_name == "mine_theirs":
        square, cls = divmod(index, 3)
        return f"{square_name(square)} {('empty', 'mine', 'theirs')[cls]}", square
    return f"{square_name(index)} {scheme_name}", index
