"""The soundness figure: each search's success rate against its budget (log axis), the model's
strategies beside the random-init model's and the engine's."""

from __future__ import annotations

import os

from othello.common.plotting import plt
from probes.drawing import save_figure


def success_figure(metrics: dict, path: str | os.PathLike) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    subjects = (("model", metrics["search"]["by_strategy"], "-"),
                ("random-init", metrics.get("random_init") or {}, ":"),
                ("engine", metrics.get("engine") or {}, "--"))  # fmt: skip
    for who, strategies, style in subjects:
        for name, summary in strategies.items():
            budgets = sorted(int(k) for k in summary if k.isdigit())
            rates = [summary[str(b)]["success_rate"] for b in budgets]
            ax.plot(budgets, rates, style, marker="o", label=f"{who}: {name}")
    ax.set_xscale("log")
    ax.set_xlabel("budget (model calls per search)")
    ax.set_ylabel("searches finding an illegal top move")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6)
    save_figure(fig, path)
