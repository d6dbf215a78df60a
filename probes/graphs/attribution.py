"""An attribution graph of one prefix and target: every node's direct effect on every node it
reaches, in one dense matrix laid out as circuit-tracer lays its own (rows: features, then the
target; columns: features, error nodes, token embeddings, then, ours only, position
embeddings; the target last), so influence, pruning and the scores
(:mod:`probes.graphs.influence`) read it the same way.

A feature's row holds the direct effects on its pre-activation, the target's on its value;
error and input nodes receive nothing. Rows are computed a batch of readers at a time, each
batch pulled back through the replacement model's linear paths once
(:class:`probes.graphs.replacement.Medium`) and dotted with every source it passes. Because
the replacement model is affine in its nodes, a row sums, with the bias terms (``b_dec``,
attention and LayerNorm biases, the target's own bias), to its reader's value: the target's
``bias`` below is that remainder, which the tests check against a forward pass with every node
zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from othello.model.gpt import GPT
from probes.graphs.influence import NodeLayout, node_influence, prune, scores
from probes.graphs.replacement import Forward, Medium, Nodes, center
from probes.graphs.targets import Target
from probes.graphs.transcoders import Transcoders


@dataclass
class Graph:
    """A graph's dense adjacency [N, N] (rows: targets of each edge; columns: sources), its
    nodes (``features`` [F, 3] of (layer, position, feature) with ``activation`` [F]), the
    prefix's ``tokens`` [P], the ``target`` and what its direct effects leave unexplained
    (``bias``: the bias terms' part of its value)."""

    adjacency: torch.Tensor
    features: torch.Tensor
    activation: torch.Tensor
    tokens: torch.Tensor
    n_layers: int
    target: Target
    bias: float
    _influence: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def n_pos(self) -> int:
        return len(self.tokens)

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout(len(self.features), self.n_layers * self.n_pos, 2 * self.n_pos)

    def error_node(self, layer: int, position: int) -> int:
        return self.layout.span("errors").start + layer * self.n_pos + position

    def influence(self) -> torch.Tensor:
        """[N]: each node's influence on the target (computed once: the scores, the pruning
        and the grades all read it)."""
        if self._influence is None:
            self._influence = node_influence(self.adjacency, self.layout)
        return self._influence

    def feature_influence(self) -> np.ndarray:
        """[F]: the feature nodes' influence on the target."""
        return self.influence()[self.layout.span("features")].numpy()

    def scores(self) -> dict[str, float]:
        """The replacement and completeness scores (:func:`probes.graphs.influence.scores`)."""
        return scores(self.adjacency, self.layout, self.influence())

    def prune(self, node_threshold: float = 0.8, edge_threshold: float = 0.98):
        """``(node_mask, edge_mask, cumulative)``: the paper's pruning at these thresholds."""
        return prune(self.adjacency, self.layout, node_threshold, edge_threshold,
                     self.influence())  # fmt: skip


class _Sources:
    """What writes into each residual layer, laid out for dotting with pulled-back readers:
    block k's features and error vectors land in layer k + 1, the embeddings in layer 0.
    A block's features are padded to the same count at each of its positions (``vectors``
    [positions, most, d], ``columns`` [positions, most] with -1 for padding), so one batched
    product serves every position."""

    def __init__(self, model: GPT, nodes: Nodes, transcoders: Transcoders, tokens, layout):
        self.nodes, self.layout, self.n_pos = nodes, layout, len(tokens)
        self.blocks: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        index, d = nodes.index, model.cfg.d_model
        runs = _runs(index[:, :2])
        for layer in range(len(transcoders)):
            mine = [(start, end) for start, end in runs if int(index[start, 0]) == layer]
            if not mine:
                continue
            most = max(end - start for start, end in mine)
            vectors, columns = torch.zeros(len(mine), most, d), torch.full((len(mine), most), -1)
            decoder = transcoders[layer].W_dec.detach().float()
            for i, (start, end) in enumerate(mine):
                rows = torch.arange(start, end)
                vectors[i, : end - start] = nodes.activation[rows, None] * decoder[index[rows, 2]]
                columns[i, : end - start] = rows
            positions = torch.tensor([int(index[start, 1]) for start, _ in mine])
            self.blocks[layer] = (positions, vectors, columns)
        self.embed = model.embed.weight.detach().float()[tokens]
        self.pos_embed = model.pos_embed.detach().float()[: len(tokens)]

    def dot(self, out: torch.Tensor, g: torch.Tensor, block: int) -> None:
        """Write into ``out`` [B, N] the direct effects on the readers of ``g`` [B, P', d] (at
        residual layer ``block + 1``) of block ``block``'s features and error nodes."""
        n_pos = g.shape[1]
        if block in self.blocks:
            positions, vectors, columns = self.blocks[block]
            m = int(torch.searchsorted(positions, n_pos))
            effects = torch.einsum("bmd,mkd->bmk", g[:, positions[:m]], vectors[:m])
            columns = columns[:m].flatten()
            real = columns >= 0
            out[:, columns[real]] = effects.reshape(len(g), -1)[:, real]
        first = self.layout.span("errors").start + block * self.n_pos
        errors = self.nodes.errors[block, :n_pos]
        out[:, first : first + n_pos] = torch.einsum("bpd,pd->bp", g, errors)

    def dot_inputs(self, out: torch.Tensor, g: torch.Tensor) -> None:
        """The embeddings' direct effects on the readers of ``g`` at residual layer 0."""
        n_pos, first = g.shape[1], self.layout.span("inputs").start
        for offset, vectors in ((first, self.embed), (first + self.n_pos, self.pos_embed)):
            out[:, offset : offset + n_pos] = torch.einsum("bpd,pd->bp", g, vectors[:n_pos])


@torch.no_grad()
def attribute(
    model: GPT,
    transcoders: Transcoders,
    forward: Forward,
    target: Target,
    batch_size: int = 256,
) -> Graph:
    """The full (unpruned) graph of ``forward``'s prefix for ``target``: every active
    feature's row, a batch of at most ``batch_size`` features of one block at a time, then
    the target's."""
    nodes = Nodes.of(forward, transcoders)
    n_layers, n_pos = forward.mlp_in.shape[:2]
    layout = NodeLayout(len(nodes.index), n_layers * n_pos, 2 * n_pos)
    medium = Medium(model, forward, transcoders)
    sources = _Sources(model, nodes, transcoders, forward.tokens, layout)
    adjacency = torch.zeros(layout.size, layout.size)
    for start, end in _runs(nodes.index[:, :1]):
        layer = int(nodes.index[start, 0])
        encoder = transcoders[layer].W_enc.detach().float()
        for first in range(start, end, batch_size):
            rows = nodes.index[first : min(first + batch_size, end)]
            positions = rows[:, 1]
            g = torch.zeros(len(rows), int(positions.max()) + 1, medium.d_model)
            g[torch.arange(len(rows)), positions] = (
                center(encoder[:, rows[:, 2]].T) / (forward.ln2_scale[layer, positions])
            )
            g = medium.through_attention(g, layer)
            adjacency[first : first + len(rows)] = _pull(g, layer, medium, sources, layout.size)
    g = torch.zeros(1, n_pos, medium.d_model)
    g[0, -1] = target.vector
    adjacency[-1] = _pull(g, target.layer, medium, sources, layout.size)[0]
    bias = target.value - float(adjacency[-1].double().sum())
    return Graph(adjacency, nodes.index, nodes.activation, forward.tokens, n_layers, target, bias)


def _pull(g: torch.Tensor, layer: int, medium: Medium, sources: _Sources, size: int):
    """[B, size]: the direct effects on readers whose gradients at residual ``layer`` are
    ``g``, of every source below that layer."""
    out = torch.zeros(g.shape[0], size)
    for block in range(layer - 1, -1, -1):
        sources.dot(out, g, block)
        g = medium.through_attention(medium.through_skip(g, block), block)
    sources.dot_inputs(out, g)
    return out


def _runs(keys: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of equal consecutive rows of ``keys`` [N, k]."""
    if len(keys) == 0:
        return []
    change = (keys[1:] != keys[:-1]).any(1).nonzero().flatten() + 1
    bounds = [0, *change.tolist(), len(keys)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
