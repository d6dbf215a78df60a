"""Probe figures. Each takes the plain data written to figures.json, so a figure can be
redrawn, or checked by a test, from the JSON alone."""

from __future__ import annotations

import os

import numpy as np

from othello.common.plotting import plt
from probes.drawing import board_axes, draw_board, save_figure

STYLE = {
    "mine_theirs": "tab:blue",
    "black_white": "tab:red",
    "flipped": "tab:green",
    "legal": "tab:purple",
}


def accuracy_by_layer(data: dict, path: str | os.PathLike) -> None:
    """data: {"layers": [...], "series": {"scheme/kind": [acc...]}, "control": {...},
    "majority": {scheme: acc}, "chance": {scheme: acc}, optional "placed_by": {scheme: acc}}."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(data["layers"]))
    for key, values in data["series"].items():
        name, kind = key.split("/")
        ax.plot(
            x,
            100 * np.array(values),
            color=STYLE[name],
            marker="o",
            ls="-" if kind == "linear" else "--",
            label=f"{name} {kind}",
        )
        if key in data["control"]:
            ax.plot(
                x,
                100 * np.array(data["control"][key]),
                color=STYLE[name],
                marker="x",
                ls=":",
                lw=1,
                label=f"{name} {kind}, random-init control",
            )
    for name, value in data["majority"].items():
        ax.axhline(100 * value, color=STYLE[name], lw=0.8, alpha=0.6, ls="-.")
    for name, value in data.get("placed_by", {}).items():
        ax.axhline(100 * value, color=STYLE[name], lw=0.8, alpha=0.6, ls=(0, (1, 3)))
    ax.text(
        0.01,
        0.01,
        "dash-dot: majority-class baseline per scheme; dotted: placed-by rule (each disc the "
        "colour of whoever played it, no flips tracked); chance is "
        + ", ".join(f"{100 * v:.0f}%" for v in sorted(set(data["chance"].values()))),
        transform=ax.transAxes,
        fontsize=7,
    )
    ax.set_xticks(x, data["layers"])
    ax.set_xlabel("residual stream layer (0 = embeddings)")
    ax.set_ylabel("held-out accuracy per square (%)")
    ax.set_title("Probe accuracy by layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(fig, path)


def square_heatmaps(data: dict, path: str | os.PathLike) -> None:
    """data: {"panels": {title: [64 accuracies]}}: one 8x8 board per panel, A1 top left."""
    panels = data["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    lowest = min(min(values) for values in panels.values())
    style = {"cmap": "viridis", "vmin": min(50.0, 100 * lowest), "vmax": 100}
    for ax, (title, values) in zip(axes[0], panels.items(), strict=False):
        percent = [100 * v for v in values]
        image = draw_board(ax, values=percent, value_style=style)
        for s, v in enumerate(percent):
            ax.text(s % 8 + 0.5, s // 8 + 0.5, f"{v:.0f}", ha="center", va="center",
                    fontsize=6, color="white" if v < 80 else "black")  # fmt: skip
        board_axes(ax, title, fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="accuracy (%)")
    save_figure(fig, path, tight=False)


def accuracy_by_move(data: dict, path: str | os.PathLike) -> None:
    """data: {"series": {label: [59 accuracies]}, "baselines": {label: [59]}, optional
    "rules": {label: [59]} (the placed-by board), optional "whole_board": {label: [59]} and
    "whole_board_control": {label: [59]} (a second panel: the share of positions whose 64
    squares are all right)."""
    whole = data.get("whole_board")
    fig, axes = plt.subplots(1, 2 if whole else 1, figsize=(13 if whole else 7.5, 4), squeeze=False)
    ax = axes[0, 0]
    moves = np.arange(1, 60)
    for i, (label, values) in enumerate(data["series"].items()):
        ax.plot(moves, 100 * np.array(values), color=f"C{i}", lw=1.5, label=label)
    for i, (label, values) in enumerate(data["baselines"].items()):
        ax.plot(moves, 100 * np.array(values), color=f"C{i}", lw=0.8, ls=":", label=label)
    for i, (label, values) in enumerate(data.get("rules", {}).items()):
        ax.plot(moves, 100 * np.array(values), color=f"C{i}", lw=0.8, ls="--", label=label)
    ax.set_ylabel("held-out accuracy per square (%)")
    ax.set_title("Probe accuracy by move number (best layer)")
    if whole:
        board = axes[0, 1]
        for i, (label, values) in enumerate(whole.items()):
            board.plot(moves, 100 * np.array(values), color=f"C{i}", lw=1.5, label=label)
        for label, values in data.get("whole_board_control", {}).items():
            board.plot(moves, 100 * np.array(values), color="grey", lw=1, ls=":", label=label)
        board.set_ylabel("positions with all 64 squares right (%)")
        board.set_title("Whole-board accuracy by move number")
    for a in axes[0]:
        a.set_xlabel("moves played")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    save_figure(fig, path)


def confusions(data: dict, path: str | os.PathLike) -> None:
    """data: {"panels": {title: {"classes": [...], "matrix": [[...]]}}}, rows = true class."""
    panels = data["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (title, panel) in zip(axes[0], panels.items(), strict=False):
        m = np.array(panel["matrix"], dtype=float)
        rates = m / np.maximum(m.sum(1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for r in range(len(m)):
            for c in range(len(m)):
                ax.text(
                    c,
                    r,
                    f"{100 * rates[r, c]:.1f}%",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rates[r, c] > 0.5 else "black",
                )
        ax.set_xticks(range(len(m)), panel["classes"], fontsize=7)
        ax.set_yticks(range(len(m)), panel["classes"], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=8)
    save_figure(fig, path)


def direction_cosines(data: dict, path: str | os.PathLike) -> None:
    """data: {"layers": [...], "cosine": [[...]]}: mean over squares."""
    cos = np.array(data["cosine"])
    fig, ax = plt.subplots(figsize=(4.6, 4))
    image = ax.imshow(cos, vmin=-1, vmax=1, cmap="RdBu_r")
    for r in range(len(cos)):
        for c in range(len(cos)):
            ax.text(c, r, f"{cos[r, c]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cos)), data["layers"])
    ax.set_yticks(range(len(cos)), data["layers"])
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    ax.set_title("cosine of mine-minus-theirs directions\n(mean over squares)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    save_figure(fig, path)


def plot_probe_curve(data: dict, path: str | os.PathLike) -> None:
    """data: curve.json (``probes.curve``): probe accuracy of each layer by training step,
    beside the run's own validation legal-move accuracy where it was measured."""
    points = data["points"]
    steps = [int(s) for s in points]
    layers = list(next(iter(points.values()))["layers"])
    fig, (ax, ax_legal) = plt.subplots(1, 2, figsize=(11, 4))
    cmap = plt.get_cmap("viridis")
    for i, layer in enumerate(layers):
        ax.plot(
            steps,
            [100 * p["layers"][layer] for p in points.values()],
            marker="o",
            color=cmap(i / max(len(layers) - 1, 1)),
            label=f"layer {layer}",
        )
    last = points[str(steps[-1])]["baselines"]
    for key, style, text in (
        ("majority_by_move", "-.", "majority by move"),
        ("placed_by", ":", "placed-by rule (no flips tracked)"),
    ):
        if key in last:
            ax.axhline(100 * last[key], color="grey", ls=style, lw=1, label=text)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out accuracy per square (%)")
    ax.set_title(f"{data['scheme']} linear probe along training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    measured = [
        (step, 100 * point["val_top1_legal"])
        for step, point in zip(steps, points.values(), strict=True)
        if point["val_top1_legal"] is not None
    ]
    if measured:
        ax_legal.plot(*zip(*measured, strict=True), marker="o")
    ax_legal.set_xlabel("training step")
    ax_legal.set_ylabel("validation top-1 legal (%)")
    ax_legal.set_title("the model's legal-move accuracy")
    ax_legal.grid(alpha=0.3)
    save_figure(fig, path)
