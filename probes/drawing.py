"""Figure helpers every room of the analysis package draws with: saving a figure, and one
function that draws an Othello board (discs, a value per square, legal moves, the model's
choices, a marked square) wherever a figure needs one.

Boards are drawn from the view of the side to move, A1 top left as in every probe map: its
discs black, the opponent's white. ``draw_board`` draws each part as one matplotlib
collection, so a page of dozens of boards on one axes stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.collections import EllipseCollection, LineCollection, PatchCollection

from othello.common.plotting import plt
from othello.world.squares import N_SQUARES

FELT, GRID = "#2e7d32", "#164"
DISC = {1: "black", 2: "white"}  # mine, theirs (the side to move's view)


def save_figure(fig, path: str | os.PathLike, tight: bool = True) -> None:
    """Write ``fig`` as a PNG and free it."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_board(
    ax,
    board: Sequence[int] | None = None,
    *,
    at: tuple[float, float] = (0.0, 0.0),
    values: Sequence[float | None] | None = None,
    value_style: dict | None = None,
    legal: Sequence[int] = (),
    predicted: Sequence[int] = (),
    marked: int | None = None,
    mark_colour: str = "magenta",
):
    """One 8x8 board on ``ax``, its top-left corner at ``at`` (one square = one unit, rows
    downward). ``board``: 64 of 0 empty, 1 mine, 2 theirs; ``values``: 64 numbers (None or
    NaN: no value) coloured with ``value_style`` (``cmap``, ``vmin``, ``vmax``) instead of the
    felt; ``legal``: squares ringed yellow; ``predicted``: the model's choices, dotted green
    when legal, red when not; ``marked``: one square boxed. Returns the value image (for a
    colour bar), else None."""
    x0, y0 = at
    image = None
    if values is not None:
        grid = np.array([np.nan if v is None else v for v in values], float).reshape(8, 8)
        extent = (x0, x0 + 8, y0 + 8, y0)
        image = ax.imshow(grid, extent=extent, interpolation="nearest", **(value_style or {}))
    else:
        ax.add_patch(plt.Rectangle((x0, y0), 8, 8, facecolor=FELT, edgecolor=GRID))
    lines = [[(x0 + i, y0), (x0 + i, y0 + 8)] for i in range(1, 8)]
    lines += [[(x0, y0 + i), (x0 + 8, y0 + i)] for i in range(1, 8)]
    ax.add_collection(LineCollection(lines, colors=GRID, linewidths=0.5))
    centre = {s: (x0 + s % 8 + 0.5, y0 + s // 8 + 0.5) for s in range(N_SQUARES)}
    if board is not None:
        discs = [s for s in range(N_SQUARES) if board[s]]
        _circles(ax, [centre[s] for s in discs], 0.8, [DISC[int(board[s])] for s in discs])
    _circles(ax, [centre[s] for s in legal], 0.55, "none", edge="yellow")
    colours = ["lime" if s in legal else "red" for s in predicted]
    _circles(ax, [centre[s] for s in predicted], 0.22, colours, edge="black")
    if marked is not None:
        r, c = divmod(int(marked), 8)
        box = plt.Rectangle((x0 + c + 0.04, y0 + r + 0.04), 0.92, 0.92)
        ax.add_collection(PatchCollection([box], facecolor="none", edgecolor=mark_colour, lw=2))
    return image


def _circles(ax, centres: list, size: float, faces, edge: str = "black") -> None:
    if centres:
        ax.add_collection(
            EllipseCollection(size, size, 0, units="xy", offsets=np.array(centres),
                              offset_transform=ax.transData, facecolors=faces,
                              edgecolors=edge, linewidths=0.6)
        )  # fmt: skip


def board_axes(ax, title: str = "", fontsize: int = 7) -> None:
    """Limits, square names and aspect for an axes holding one board at (0, 0)."""
    ax.set_xlim(0, 8)
    ax.set_ylim(8, 0)
    ax.set_xticks(np.arange(8) + 0.5, list("ABCDEFGH"), fontsize=6)
    ax.set_yticks(np.arange(8) + 0.5, [str(i) for i in range(1, 9)], fontsize=6)
    ax.tick_params(length=0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=fontsize)
