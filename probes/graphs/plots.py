"""The graph stage's figures: the grading (the share of influence on the move's own lines
beside its three controls, and by layer), and one graph drawn (layers x positions, the kept
feature nodes sized by influence, the top ones named by their board label, beside the board
with the move's flanking squares marked)."""

from __future__ import annotations

import os

from matplotlib.collections import LineCollection

from othello.common.plotting import plt
from probes.drawing import board_axes, draw_board, save_figure
from probes.graphs.summary import SHARES

NAMES = {"flanking_share": "the move's own lines", "control_share": "another legal move's",
         "shuffled_share": "labels shuffled", "random_init_share": "random-init model"}  # fmt: skip


def grading(grades: dict, path: str | os.PathLike) -> None:
    """Bars of each share (mean and standard error), and the own lines' share by layer."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    shown = [k for k in SHARES if grades[k]["mean"] is not None]
    left.bar(range(len(shown)), [grades[k]["mean"] for k in shown],
             yerr=[grades[k]["stderr"] or 0 for k in shown], capsize=3,
             color=["tab:green", "tab:gray", "tab:gray", "tab:gray"][: len(shown)])  # fmt: skip
    left.set_xticks(range(len(shown)), [NAMES[k] for k in shown], fontsize=7, rotation=15)
    left.set_ylabel("share of the features' influence", fontsize=8)
    left.set_title("Influence on the target move's squares", fontsize=9)
    layers = sorted(grades["by_layer"], key=int)
    means = [grades["by_layer"][layer]["mean"] or 0 for layer in layers]
    errors = [grades["by_layer"][layer]["stderr"] or 0 for layer in layers]
    right.bar(range(len(layers)), means, yerr=errors, capsize=3, color="tab:green")
    right.set_xticks(range(len(layers)), [f"MLP {layer}" for layer in layers], fontsize=7)
    right.set_title("... carried by each layer's features", fontsize=9)
    save_figure(fig, path)


def graph_figure(data: dict, path: str | os.PathLike, named: int = 8) -> None:
    """One graph's JSON (:func:`probes.graphs.export.graph_json`) drawn: its kept nodes by
    layer and position, edges to the target, the ``named`` most influential features named."""
    from othello.world.squares import parse_square

    fig, (ax, board_ax) = plt.subplots(1, 2, figsize=(11, 4),
                                       gridspec_kw={"width_ratios": [3, 1]})  # fmt: skip
    n_pos = len(data["metadata"]["prompt_tokens"])
    n_layers = max(int(n["layer"]) for n in data["nodes"] if n["feature_type"] == "logit") - 1
    where = {}
    for node in data["nodes"]:
        layer = -1 if node["layer"] == "E" else min(int(node["layer"]), n_layers)
        where[node["node_id"]] = (node["ctx_idx"], layer)
    segments = [(where[link["source"]], where[link["target"]]) for link in data["links"]]
    colours = ["tab:blue" if link["weight"] > 0 else "tab:red" for link in data["links"]]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.3, alpha=0.3))
    features = [n for n in data["nodes"] if n["feature_type"] == "cross layer transcoder"]
    for kind, marker in (("cross layer transcoder", "o"), ("mlp reconstruction error", "s"),
                         ("embedding", "^"), ("logit", "*")):  # fmt: skip
        xs = [where[n["node_id"]] for n in data["nodes"] if n["feature_type"] == kind]
        if xs:
            ax.scatter(*zip(*xs, strict=True), marker=marker, s=30 if kind != "logit" else 150,
                       label=kind, zorder=3)  # fmt: skip
    for rank, node in enumerate(sorted(features, key=lambda n: n["influence"])[:named]):
        x, y = where[node["node_id"]]
        line = {"arrowstyle": "-", "lw": 0.3}
        ax.annotate(node["clerp"] or "-", (x, y), fontsize=6, xytext=(-60, 8 * rank - 28),
                    textcoords="offset points", arrowprops=line)  # fmt: skip
    ax.set_xticks(range(n_pos), data["metadata"]["prompt_tokens"], fontsize=6, rotation=90)
    ax.set_yticks(range(-1, n_layers + 1),
                  ["embed", *[f"MLP {i}" for i in range(n_layers)], "target"])  # fmt: skip
    ax.legend(fontsize=6, loc="upper left")
    scores = data["scores"]
    ax.set_title(f"{data['target']['name']}: replacement {scores['replacement']:.2f}, "
                 f"completeness {scores['completeness']:.2f}, on its lines "
                 f"{_pct(scores.get('flanking_share'))}", fontsize=8)  # fmt: skip
    truth = [parse_square(s) for s in data["position"]["truth"] or []]
    draw_board(board_ax, data["position"]["board"],
               values=[1.0 if s in truth else 0.0 for s in range(64)],
               value_style={"cmap": "YlGn", "vmin": 0, "vmax": 1.3},
               legal=[parse_square(s) for s in data["position"]["legal"]],
               marked=parse_square(data["target"]["square"]))  # fmt: skip
    board_axes(board_ax, f"{data['position']['flanking']} (black: mine)", fontsize=6)
    save_figure(fig, path)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"
