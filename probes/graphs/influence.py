"""Influence, pruning and the two scores of an attribution graph, as the paper defines them and
circuit-tracer computes them (``circuit_tracer.graph``: ``normalize_matrix``,
``compute_influence``, ``prune_graph``, ``compute_graph_scores``): the facts carried over, the
code our own.

The adjacency matrix ``A`` [N, N] holds direct effects, a row per target node and a column per
source node, in the node order :class:`NodeLayout` names: features, error nodes, input nodes
(token embeddings, then position embeddings: circuit-tracer has the tokens alone), targets.
Influence is measured on ``|A|`` with each row scaled to sum to 1 (a node's share of its
inputs): a node's influence on the targets is the sum over every path of the products of
those shares, ``w (Â + Â² + ...)`` for the targets' weights ``w`` (one target: weight 1).

* replacement score: of the influence that reaches the targets from the input nodes and the
  error nodes, the share from the input nodes (an input's paths through error nodes are
  counted at the error node);
* completeness score: each node's share of its inputs not from error nodes, averaged over the
  nodes weighted by their influence (targets by their weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NodeLayout:
    """How many nodes of each kind a graph has, in its order."""

    features: int
    errors: int
    inputs: int
    targets: int = 1

    @property
    def size(self) -> int:
        return self.features + self.errors + self.inputs + self.targets

    def span(self, kind: str) -> slice:
        """The index range of the nodes of ``kind`` (features, errors, inputs, targets)."""
        order = ("features", "errors", "inputs", "targets")
        start = sum(getattr(self, k) for k in order[: order.index(kind)])
        return slice(start, start + getattr(self, kind))

    def weights(self, device=None) -> torch.Tensor:
        """[N]: each target weighted 1 (circuit-tracer weighs logits by their probability;
        a graph of one target has one weight, and shares do not depend on it)."""
        w = torch.zeros(self.size, device=device)
        w[self.span("targets")] = 1.0
        return w


def normalized(adjacency: torch.Tensor) -> torch.Tensor:
    """``|A|`` with each row scaled to sum to 1 (rows of zeros stay zero)."""
    a = adjacency.abs()
    return a / a.sum(1, keepdim=True).clamp(min=1e-10)


def influence(matrix: torch.Tensor, weights: torch.Tensor, max_iter: int = 1000) -> torch.Tensor:
    """``w M + w M² + ...`` for a nilpotent ``M`` (a graph's edges run forward in layers, so
    the series ends after at most as many terms as the graph has layers)."""
    step = weights @ matrix
    total = step.clone()
    for _ in range(max_iter):
        if not step.any():
            return total
        step = step @ matrix
        total += step
    raise RuntimeError(f"influence did not converge in {max_iter} steps: the graph has a cycle")


def node_influence(adjacency: torch.Tensor, layout: NodeLayout) -> torch.Tensor:
    """[N]: each node's influence on the targets."""
    return influence(normalized(adjacency), layout.weights(adjacency.device))


def scores(
    adjacency: torch.Tensor, layout: NodeLayout, nodes: torch.Tensor | None = None
) -> dict[str, float]:
    """The replacement and completeness scores (module docstring); ``nodes``: the nodes'
    influence when already computed (:func:`node_influence`)."""
    matrix = normalized(adjacency)
    weights = layout.weights(adjacency.device)
    nodes = influence(matrix, weights) if nodes is None else nodes
    errors, inputs = layout.span("errors"), layout.span("inputs")
    from_inputs, from_errors = nodes[inputs].sum(), nodes[errors].sum()
    replacement = from_inputs / (from_inputs + from_errors)
    non_error = 1 - matrix[:, errors].sum(-1)
    weighted = nodes + weights
    completeness = (non_error * weighted).sum() / weighted.sum()
    return {"replacement": float(replacement), "completeness": float(completeness)}


def _threshold(values: torch.Tensor, share: float) -> torch.Tensor:
    """The value above which the largest ``values`` hold ``share`` of their sum (zeros,
    most of a graph's edges, hold nothing and are left out of the sort)."""
    positive = values[values > 0]
    if len(positive) == 0:
        return values.new_tensor(0.0)
    ranked = positive.sort(descending=True).values
    cumulative = ranked.cumsum(0) / ranked.sum()
    index = min(int(torch.searchsorted(cumulative, share)), len(ranked) - 1)
    return ranked[index]


def prune(
    adjacency: torch.Tensor,
    layout: NodeLayout,
    node_threshold: float,
    edge_threshold: float,
    nodes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(node_mask, edge_mask, cumulative)``: the nodes holding ``node_threshold`` of the
    influence (inputs and targets always kept), the edges holding ``edge_threshold`` of the
    edge influence among them, then, until nothing changes, features and errors without an
    outgoing edge and features without an incoming one dropped; ``cumulative``: each node's
    place in the cumulative influence (circuit-tracer's ``prune_graph``); ``nodes``: the nodes'
    influence when already computed."""
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value}: must lie in [0, 1]")
    weights = layout.weights(adjacency.device)
    nodes = node_influence(adjacency, layout) if nodes is None else nodes
    keep = nodes >= _threshold(nodes, node_threshold)
    fixed = layout.span("inputs").start
    keep[fixed:] = True
    pruned = adjacency.clone()
    pruned[~keep] = 0
    pruned[:, ~keep] = 0
    matrix = normalized(pruned)
    edges = matrix * (influence(matrix, weights) + weights)[:, None]
    edge_mask = edges >= _threshold(edges.flatten(), edge_threshold)
    features = layout.span("features")
    while True:
        before = keep.clone()
        edge_mask[~keep] = False
        edge_mask[:, ~keep] = False
        keep[:fixed] &= edge_mask[:, :fixed].any(0)
        keep[features] &= edge_mask[features].any(1)
        if torch.equal(keep, before):
            break
    ranked, order = nodes.sort(descending=True)
    cumulative = torch.zeros_like(nodes)
    cumulative[order] = ranked.cumsum(0) / ranked.sum()
    return keep, edge_mask, cumulative
