"""Intervention figures, each drawn from the plain data written to figures.json.

Boards are drawn by :func:`probes.drawing.draw_board`, from the view of the side to move.
"""

from __future__ import annotations

import os

import numpy as np

from othello.common.plotting import plt
from othello.world.labels import other_side
from othello.world.squares import square_name
from probes.drawing import board_axes, draw_board, save_figure

METHOD_COLOURS = {"linear": "tab:blue", "gradient": "tab:orange"}


def errors_by_layer(data: dict, path: str | os.PathLike) -> None:
    """data: {"layers": [...], "series": {"method/set": [errors...]},
    "null": {"set": errors}, "published": {label: errors}}."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x = np.arange(len(data["layers"]))
    for key, values in data["series"].items():
        method, kind = key.split("/")
        ax.plot(
            x,
            values,
            marker="o",
            color=METHOD_COLOURS.get(method, "grey"),
            ls="-" if kind == "natural" else "--",
            label=f"{method}, {kind}",
        )
    for i, (kind, value) in enumerate(data["null"].items()):
        ax.axhline(value, color="black", lw=1, ls="-" if i == 0 else "--", alpha=0.7)
        ax.text(x[-1], value, f" unedited ({kind})", va="bottom", ha="right", fontsize=7)
    for label, value in data.get("published", {}).items():  # label -> errors
        ax.axhline(value, color="tab:green", lw=0.8, ls=":")
        ax.text(x[0], value, f"{label}", va="bottom", fontsize=7, color="tab:green")
    ax.set_xticks(x, data["layers"])
    ax.set_xlabel("start layer of the edit (edited there and at every later layer)")
    ax.set_ylabel("mean top-N errors vs edited board")
    ax.set_ylim(bottom=0)
    ax.set_title("Interventions: does the model follow the edited board?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def tuning_sweep(data: dict, path: str | os.PathLike) -> None:
    """data: {method: {"settings": [labels], "series": {"layer L": [errors...]}, "null":
    errors}}: each tuned editor's candidate settings scored on the tuning cases, one panel
    per method."""
    fig, axes = plt.subplots(1, len(data), figsize=(6.5 * len(data), 4), squeeze=False)
    for ax, (method, panel) in zip(axes[0], data.items(), strict=True):
        x = np.arange(len(panel["settings"]))
        for label, values in panel["series"].items():
            ax.plot(x, values, marker="o", label=label)
        ax.axhline(panel["null"], color="black", lw=1, label="unedited")
        ax.set_xticks(x, panel["settings"], fontsize=7)
        ax.set_xlabel(f"{method} edit setting")
        ax.set_ylabel("mean top-N errors vs edited board")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{method}: settings tried on the tuning cases (validation games)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def gallery(data: dict, path: str | os.PathLike) -> None:
    """data: {"cases": [{"board", "square", "legal_before", "legal_after", "top_before",
    "top_after", "errors_before", "errors_after", "title"}]}: per case the unedited board with
    the unedited model's top-N, then the edited board with the intervened model's top-N."""
    cases = data["cases"]
    fig, axes = plt.subplots(len(cases), 2, figsize=(5.2, 2.7 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases, strict=True):
        after = list(case["board"])
        after[case["square"]] = other_side(after[case["square"]])
        draw_board(row[0], case["board"], legal=case["legal_before"],
                   predicted=case["top_before"])  # fmt: skip
        board_axes(row[0], f"{case['title']}\nunedited: {case['errors_before']} errors vs original")
        draw_board(row[1], after, legal=case["legal_after"], predicted=case["top_after"],
                   marked=case["square"])  # fmt: skip
        square = square_name(case["square"])
        board_axes(row[1], f"flip {square}: {case['errors_after']} errors vs edited")
    fig.suptitle(
        "black = side to move; rings = legal; dots = model's top-N (green legal, red not)",
        fontsize=7,
    )
    save_figure(fig, path)


def saliency_maps(data: dict, path: str | os.PathLike) -> None:
    """data: {"maps": [{"board", "saliency" (64, NaN on empty squares), "predicted_square",
    "probability", "title"}]}: Li et al.'s latent saliency, one 8x8 map per position."""
    maps = data["maps"]
    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 3.6), squeeze=False)
    for ax, item in zip(axes[0], maps, strict=True):
        values = np.array([np.nan if v is None else v for v in item["saliency"]], dtype=float)
        bound = max(np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0, 1e-3)
        style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
        image = draw_board(ax, item["board"], values=values, value_style=style,
                           marked=item["predicted_square"], mark_colour="lime")  # fmt: skip
        board_axes(
            ax,
            f"{item['title']}\npredicted {square_name(item['predicted_square'])} "
            f"(p={item['probability']:.2f}); drop in p when flipped",
        )
        fig.colorbar(image, ax=ax, shrink=0.7)
    save_figure(fig, path)
