"""The circuit laboratory's figures, each drawn from the plain data of one JSON output (so a
figure can be redrawn, or checked, from the files alone); every board through
:func:`probes.drawing.draw_board`."""

from __future__ import annotations

import os

import numpy as np

from othello.common.plotting import plt
from probes.circuits.patching import MAPS
from probes.drawing import board_axes, draw_board, save_figure

# figure file names, defined here so the stage and the report agree
FIGURES = {
    "attribution": "attribution.png",
    "logit_lens": "logit_lens.png",
    "heads": "heads.png",
    "head_boards": "head_boards.png",
    "neuron_shares": "neuron_shares.png",
    "neuron_pages": "neuron_pages.png",
    "patching": "patching.png",
    "attribution_patching": "attribution_patching.png",
}
CAPTIONS = {  # how the report names each figure
    "attribution": "Direct logit attribution of the predicted move (circuits)",
    "logit_lens": "Logit lens vs the mine/theirs probe by layer (circuits)",
    "heads": "Heads: attention on the mover's own moves (circuits)",
    "head_boards": "Heads: writes along each square's mine/theirs probe (circuits)",
    "neuron_shares": "Neurons a board rule explains, beside the controls (circuits)",
    "neuron_pages": "Neuron atlas: the best-explained neurons (circuits)",
    "patching": "Activation patching: share of the logit difference restored (circuits)",
    "attribution_patching": "Attribution patching beside exact activation patching (circuits)",
}
DIVERGING = {"cmap": "RdBu_r", "vmin": -1.0, "vmax": 1.0}


def attribution(data: dict, path: str | os.PathLike) -> None:
    """attribution.json: the mean part of the predicted move's logit (bars) and of the legal
    moves' lead over the illegal squares, by move number (heat map)."""
    parts = data["parts"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.28 * len(parts)), 7.5))
    x = np.arange(len(parts))
    for offset, key, label in (
        (-0.2, "predicted", "predicted move"),
        (0.2, "legal_minus_illegal", "legal minus illegal"),
    ):
        top.bar(x + offset, data[key]["mean"], width=0.4, label=label)
    top.set_xticks(x, parts, rotation=90, fontsize=6)
    top.axhline(0, color="k", lw=0.5)
    top.set_ylabel("mean logit contribution")
    top.legend(fontsize=7)
    top.set_title(f"Direct logit attribution ({data['positions']:,} test positions)")
    grid = np.array(data["legal_minus_illegal"]["by_move"]).T
    bound = float(np.abs(grid).max()) or 1.0
    image = bottom.imshow(grid, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
    bottom.set_yticks(x, parts, fontsize=5)
    bottom.set_xlabel("position (move number - 1)")
    bottom.set_title("legal minus illegal, by move", fontsize=8)
    fig.colorbar(image, ax=bottom, shrink=0.8)
    save_figure(fig, path)


def logit_lens(data: dict, path: str | os.PathLike) -> None:
    """data: {"lens": {layer: acc}, "probe": {layer: acc}}: lens vs probe by layer."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    layers = list(data["lens"])
    ax.plot(layers, [100 * data["lens"][k] for k in layers], "o-", label="logit lens: top-1 legal")
    if data.get("probe"):
        probe_layers = [k for k in layers if k in data["probe"]]
        ax.plot(
            probe_layers,
            [100 * data["probe"][k] for k in probe_layers],
            "s--",
            label="mine/theirs linear probe: board accuracy",
        )
    ax.set_xlabel("residual stream layer (0 = embeddings)")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("When the model knows its move vs when it knows the board")
    save_figure(fig, path)


def heads(data: dict, path: str | os.PathLike) -> None:
    """heads.json: each head's share of attention on the mover's own moves, with its class."""
    shares = np.array(data["mine_share"])
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * shares.shape[1], 1.2 + 0.6 * shares.shape[0]))
    image = ax.imshow(shares, cmap="PuOr", vmin=0, vmax=1)
    for (layer, head), value in np.ndenumerate(shares):
        label = data["classes"][layer][head]
        ax.text(head, layer, f"{value:.2f}\n{label}", ha="center", va="center", fontsize=6)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(shares.shape[1]))
    ax.set_yticks(range(shares.shape[0]))
    ax.set_title("Attention on the mover's own moves (share)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    save_figure(fig, path)


def head_boards(data: dict, path: str | os.PathLike) -> None:
    """heads.json's board_writes: one 8x8 board per head (rows layers, columns heads): how far
    the head moves each square's mine/theirs probe towards the truth."""
    writes = np.array(data["board_writes"])
    n_layers, n_heads = writes.shape[:2]
    bound = float(np.abs(writes).max()) or 1.0
    style = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    fig, ax = plt.subplots(figsize=(1.6 * n_heads + 1, 1.6 * n_layers + 0.6))
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            at = (9.0 * head, 9.0 * layer)
            image = draw_board(ax, at=at, values=writes[layer, head], value_style=style)
            ax.text(at[0] + 4, at[1] - 0.3, f"L{layer}H{head}", ha="center", fontsize=6)
    ax.set_xlim(-0.5, 9 * n_heads)
    ax.set_ylim(9 * n_layers, -1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Head writes along the mine/theirs probe, signed by the true board", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.6, label="probe logit difference")
    save_figure(fig, path)


def neuron_shares(data: dict, path: str | os.PathLike) -> None:
    """neuron_layers.json: per layer, the share of neurons whose tree has test R^2 above the
    threshold, beside the random-init and shuffled-label controls."""
    layers = list(data)
    key = next(k for k in data[layers[0]] if k.startswith("share_r2_above"))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(layers)), 3.8))
    x = np.arange(len(layers))
    series = (
        (key, "model"),
        ("random_init", "random-init control"),
        ("shuffled_labels", "shuffled labels"),
    )
    for offset, (name, label) in zip((-0.27, 0, 0.27), series, strict=True):
        ax.bar(x + offset, [100 * data[k][name] for k in layers], width=0.27, label=label)
    ax.set_xticks(x, [f"layer {k}" for k in layers])
    ax.set_ylabel(f"neurons with test R^2 > {key.rsplit('_', 1)[1]} (%)")
    ax.legend(fontsize=7)
    ax.set_title("Neurons a board rule explains, beside the controls", fontsize=9)
    save_figure(fig, path)


def neuron_pages(pages: list[dict], path: str | os.PathLike) -> None:
    """pages: [{"title", "maps": {name: [64]}}]: one row of 8x8 maps per neuron: the cosines
    of its input weights with the probe directions (colour scale: the row's largest cosine)
    and its logit effects (scaled to +-1)."""
    names = list(pages[0]["maps"]) if pages else []
    height = 12.5
    fig, ax = plt.subplots(figsize=(2.0 * max(len(names), 1) + 0.5, 2.4 * max(len(pages), 1)))
    for row, page in enumerate(pages):
        y = height * row
        cosine = [np.array(v, float) for k, v in page["maps"].items() if k != "logit effect"]
        bound = float(np.nanmax(np.abs(cosine))) if np.isfinite(cosine).any() else 1.0
        ax.text(0, y - 1.0, f"{page['title']}  (cosine scale +-{bound:.2f})", fontsize=7)
        for col, name in enumerate(names):
            scale = 1.0 if name == "logit effect" else bound
            style = {**DIVERGING, "vmin": -scale, "vmax": scale}
            values = np.array(page["maps"][name], float)
            draw_board(ax, at=(9.0 * col, y), values=values, value_style=style)
            ax.text(9.0 * col + 4, y + 8.3, name, ha="center", va="top", fontsize=6)
    ax.set_xlim(-0.5, 9 * max(len(names), 1))
    ax.set_ylim(height * max(len(pages), 1) - 2, -2.5)
    ax.set_aspect("equal")
    ax.axis("off")
    save_figure(fig, path)


def patching(data: dict, path: str | os.PathLike) -> None:
    """patching.json: share restored, residual layer x position and layer x head."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, MAPS, strict=True):
        share_map(fig, ax, data, key)
    fig.suptitle(f"Share of the logit difference restored ({data['pairs']} pairs)", fontsize=9)
    save_figure(fig, path)


def share_map(fig, ax, data: dict, key: str, title: str = "") -> None:
    """One patching map (``resid``: residual layer x position, ``heads``: layer x head) with
    its values written in the cells, on the +-1 scale of the share restored."""
    grid = np.array(data[key], float)
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        colour = "white" if abs(v) > 0.6 else "black"
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ticks = data["offsets"] if key == "resid" else [str(h) for h in range(grid.shape[1])]
    ax.set_xticks(range(len(ticks)), ticks, fontsize=7)
    rows = data["layers"] if key == "resid" else [str(i) for i in range(len(grid))]
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("position (p = the differing move)" if key == "resid" else "head")
    ax.set_ylabel("residual layer" if key == "resid" else "block")
    ax.set_title(title, fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.8)


def attribution_patching(exact: dict, approx: dict, path: str | os.PathLike) -> None:
    """patching.json's exact maps beside attribution_patching.json's approximate ones (rows:
    the residual and head maps), and each map's cells, approximate against exact."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for row, key in zip(axes, MAPS, strict=True):
        share_map(fig, row[0], exact, key, "exact patching")
        share_map(fig, row[1], approx["approx"], key, "attribution patching")
        x, y = (np.ravel(np.array(m[key], float)) for m in (exact, approx["approx"]))
        r = approx["correlation"][key]["pearson"]
        row[2].scatter(x, y, s=12)
        bounds = [min(x.min(), y.min()), max(x.max(), y.max())]
        row[2].plot(bounds, bounds, "k--", lw=0.7, label="approximation = exact")
        row[2].set_xlabel("exact share restored")
        row[2].set_ylabel("attribution estimate")
        row[2].set_title(f"{key}: Pearson r = {'n/a' if r is None else f'{r:.3f}'}", fontsize=8)
        row[2].legend(fontsize=7)
    seconds = approx["seconds"]
    fig.suptitle(
        f"Attribution vs exact patching ({approx['pairs']} pairs; attribution "
        f"{seconds['approx']:.2f} s, exact {seconds['exact']:.2f} s)",
        fontsize=9,
    )
    save_figure(fig, path)


def board_panel(ax, values, title: str) -> None:
    """One map of 64 values in [-1, 1] on its own axes (the explorer and notebook use it)."""
    draw_board(ax, values=values, value_style=DIVERGING)
    board_axes(ax, title)
