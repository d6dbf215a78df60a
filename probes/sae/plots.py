"""Feature pages: for chosen SAE features, the positions that activate them most drawn as
boards (the square of the property the feature matches outlined), and the histogram of the
feature's activations."""

from __future__ import annotations

import os

import numpy as np

from othello.common.plotting import plt
from othello.world.squares import square_name
from probes.drawing import draw_board, save_figure

UNIT = 0.17  # inches per board square
CELL_W, CELL_H, TOP = 9.0, 11.5, 1.6  # a board's cell in squares: width, height, title band
HIST_W, HEAD = 2.1, 0.45  # inches: the histograms' column, the figure's heading


def _boards(ax, features: list[dict]) -> None:
    """Every feature's top positions as boards on one axes (row = feature); an axes per
    board took seconds a page."""
    for row, feature in enumerate(features):
        for col, top in enumerate(feature["top"]):
            x0, y0 = col * CELL_W, row * CELL_H + TOP
            draw_board(ax, top["board"], at=(x0, y0), marked=feature["square"], mark_colour="red")
            ax.text(x0 + 4, y0 - 0.2, f"{top['where']}\nact {top['activation']:.2f}",
                    ha="center", va="bottom", fontsize=6)  # fmt: skip
    ax.set_xlim(0, max(len(f["top"]) for f in features) * CELL_W)
    ax.set_ylim(len(features) * CELL_H, 0)
    ax.set_axis_off()


def feature_pages(data: dict, path: str | os.PathLike) -> None:
    """data: {"features": [{"feature", "match", "match_f1", "square", "top": [{"board",
    "activation", "where"}], "histogram": {"counts", "edges"}}]}: one row per feature, its
    activation histogram then its top-activating positions."""
    features = data["features"]
    columns = max(len(f["top"]) for f in features)
    board_w, board_h = columns * CELL_W * UNIT, len(features) * CELL_H * UNIT
    width, height = HIST_W + board_w, HEAD + board_h
    fig = plt.figure(figsize=(width, height))
    _boards(fig.add_axes((HIST_W / width, 0, board_w / width, board_h / height)), features)
    for row, feature in enumerate(features):
        top = board_h - (row * CELL_H + TOP) * UNIT  # inches from the bottom
        ax = fig.add_axes((0.6 / width, (top - 7.5 * UNIT) / height, (HIST_W - 0.85) / width,
                           7.5 * UNIT / height))  # fmt: skip
        hist = feature["histogram"]
        ax.bar(hist["edges"][:-1], hist["counts"], width=np.diff(hist["edges"]), align="edge")
        ax.set_yscale("log")
        ax.set_title(
            f"feature {feature['feature']}\n{feature['match']} (F1 {feature['match_f1']:.2f})",
            fontsize=6,
        )
        ax.tick_params(labelsize=5)
    fig.suptitle(
        "SAE features: top-activating positions (black = mine, white = theirs)", fontsize=8,
        y=1 - 0.12 / height,
    )  # fmt: skip
    save_figure(fig, path, tight=False)


def property_name(scheme_name: str, index: int) -> tuple[str, int]:
    """A readable name of property ``index`` of a scheme, and its square."""
    if scheme_name == "mine_theirs":
        square, cls = divmod(index, 3)
        return f"{square_name(square)} {('empty', 'mine', 'theirs')[cls]}", square
    return f"{square_name(index)} {scheme_name}", index
