"""The dynamics' figures: every curve against tokens seen (a log axis; step 0, the
initialisation, drawn at the left edge) normalised to its own rise beside the raw curves by
group, and the timeline of when each capacity appears."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from probes.drawing import save_figure

# raw panels: title -> the measures drawn there
GROUPS = {
    "behaviour": ("top1_legal",),
    "board, per square (linear probe, layer on val)": (
        "probe_mine_theirs", "probe_black_white", "probe_flipped", "probe_legal",
    ),
    "mine/theirs by disc history": ("mine_theirs_placed_colour", "mine_theirs_flipped_since"),
    "whole board": ("whole_board_mine_theirs", "whole_board_black_white"),
    "edit": ("edit_gap_closed",),
    "coherence": (
        "compression_precision", "distinction_precision", "distinction_recall", "r_ib", "d_ib",
    ),
}  # fmt: skip


def _x(result, steps: list[int]) -> np.ndarray:
    """Tokens seen at each step (steps where the run has no batch size: the step itself);
    step 0 at half the first positive value, so a log axis shows it."""
    by_step = {s["step"]: s.get("tokens") or s["step"] for s in result.snapshots}
    x = np.array([float(by_step[s]) for s in steps])
    positive = x[x > 0]
    x[x == 0] = positive.min() / 2 if len(positive) else 1.0
    return x


def _series(result, name: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    steps, means, errs = [], [], []
    for snap in result.snapshots:
        f = snap["figures"].get(name)
        if f and f.get("mean") is not None:
            steps.append(snap["step"])
            means.append(f["mean"])
            errs.append(f.get("stderr") or 0.0)
    return steps, np.array(means), np.array(errs)


def curves(result, path: Path) -> None:
    names = [n for n in result.phases if result.phases[n].get("rise")]
    panels = [(t, [m for m in ms if m in result.phases]) for t, ms in GROUPS.items()]
    panels = [(t, ms) for t, ms in panels if ms]
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.2 * (1 + len(panels)), 3.6))
    axes = np.atleast_1d(axes)
    for name in names:
        steps, means, _ = _series(result, name)
        progress = (means - means[0]) / (means[-1] - means[0])
        axes[0].plot(_x(result, steps), progress, marker=".", lw=1, label=name)
    axes[0].set_title("share of each rise (0: step 0, 1: the end)", fontsize=8)
    axes[0].legend(fontsize=5, ncol=2)
    for ax, (title, members) in zip(axes[1:], panels, strict=True):
        for name in members:
            steps, means, errs = _series(result, name)
            x = _x(result, steps)
            ax.plot(x, means, marker=".", lw=1, label=name)
            ax.fill_between(x, means - errs, means + errs, alpha=0.2)
        ax.set_title(title, fontsize=8)
        ax.legend(fontsize=5)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("tokens seen (log)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"How the world model forms: {result.run or ''}", fontsize=9)
    save_figure(fig, path)


def timeline(result, path: Path) -> None:
    timed = [o["measure"] for o in result.order]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(timed), 2) + 1.2))
    tokens = {s["step"]: s.get("tokens") or s["step"] for s in result.snapshots}
    per_step = max(tokens.values()) / max(max(tokens), 1)  # tokens per step
    for i, name in enumerate(timed):
        p = result.phases[name]
        lo, hi = p["half_interval"] or (p["half_step"], p["half_step"])
        ax.plot([lo * per_step, hi * per_step], [i, i], color="C0", lw=4, alpha=0.4)
        ax.plot(p["half_step"] * per_step, i, "o", color="C0")
        if p["ninety_step"] is not None:
            ax.plot(p["ninety_step"] * per_step, i, ">", color="C1")
    ax.set_yticks(range(len(timed)), timed, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("tokens seen (log): o 50% of the rise (bar: interval), > 90%", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def across_kinds(parts: dict[str, dict], path: Path) -> None:
    """One panel per measure every run has, each kind's curve against tokens seen."""
    names = [n for n in next(iter(parts.values()))["phases"]
             if all(n in p["phases"] for p in parts.values())]  # fmt: skip
    cols = 4
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for kind, part in parts.items():
            view = _View(part)
            steps, means, _ = _series(view, name)
            ax.plot(_x(view, steps), means, marker=".", lw=1, label=kind)
        ax.set_xscale("log")
        ax.set_title(name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Every measure along training, each kind (x: tokens seen, log)", fontsize=9)
    save_figure(fig, path)


class _View:
    """A dynamics part of summary.json, read as the plots read a result."""

    def __init__(self, part: dict) -> None:
        self.snapshots, self.phases = part["snapshots"], part["phases"]
        self.order, self.run = part["order"], part.get("run")
