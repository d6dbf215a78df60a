"""Figures shared by stages. No backend is chosen here: in a notebook the figures show
inline; the scripts choose the headless Agg backend themselves (:func:`othello.common.cli.main`)."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt


def accuracy_by_move(accuracy: list[float], path: str | os.PathLike, title: str) -> None:
    """Top-1 legal-move accuracy against the number of the move being predicted."""
    moves = list(range(2, 2 + len(accuracy)))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(moves, [100 * a for a in accuracy], marker=".", lw=1)
    ax.set_xlabel("move number predicted")
    ax.set_ylabel("top-1 legal (%)")
    ax.set_ylim(min(90.0, 100 * min(accuracy) - 1), 100.5)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
