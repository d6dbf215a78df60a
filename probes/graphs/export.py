"""A graph as JSON in circuit-tracer's layout (``circuit_tracer.frontend.graph_models``:
``metadata``, ``qParams``, ``nodes``, ``links``), so its viewer opens our graphs, plus ours:
``scores`` (replacement, completeness and the rules' grades), ``target`` and ``position``
(the moves, the target's flanking squares, the control move).

The pruned graph is written: the nodes the pruning keeps, the edges it keeps between them.
circuit-tracer has one input node per position (the token's embedding); ours are two (token
and position embeddings, both at layer 0 of that position): they are written as one node
``E_{token}_{position}`` whose edges are the two's summed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from othello.world.squares import square_name
from othello.world.tokens import VOCAB_SIZE, encode

if TYPE_CHECKING:
    from probes.graphs.api import GraphResult


def _cantor(x: int, y: int) -> int:
    return (x + y) * (x + y + 1) // 2 + y


def _node(node_id: str, js: str, **fields) -> dict:
    base = {"node_id": node_id, "jsNodeId": js, "token_prob": 0.0, "is_target_logit": False,
            "run_idx": 0, "reverse_ctx_idx": 0, "clerp": "", "influence": None,
            "activation": None}  # fmt: skip
    return base | fields


def _nodes(result: GraphResult) -> tuple[dict[int, str], list[dict]]:
    """``({matrix index: node id}, nodes)`` of the kept nodes; both input nodes of a position
    map to its one embedding node."""
    graph, keep, cumulative = result.graph, result.node_mask, result.cumulative
    layout, n_layers, n_pos = graph.layout, graph.n_layers, graph.n_pos
    ids, nodes = {}, []
    for i in torch.nonzero(keep[layout.span("features")]).flatten().tolist():
        layer, pos, feat = graph.features[i].tolist()
        label = "" if result.board is None else _label(result.board, i)
        ids[i] = f"{layer}_{feat}_{pos}"
        nodes.append(_node(ids[i], f"{layer}_{feat}-0", feature=_cantor(layer, feat),
                           layer=str(layer), ctx_idx=pos, feature_type="cross layer transcoder",
                           influence=float(cumulative[i]), clerp=label,
                           activation=float(graph.activation[i])))  # fmt: skip
    errors = layout.span("errors")
    for i in torch.nonzero(keep[errors]).flatten().tolist():
        layer, pos = divmod(i, n_pos)
        ids[errors.start + i] = f"0_{layer}_{pos}"
        nodes.append(_node(ids[errors.start + i], f"{layer}_{pos}-0", feature=-1,
                           layer=str(layer), ctx_idx=pos, feature_type="mlp reconstruction error",
                           influence=float(cumulative[errors.start + i])))  # fmt: skip
    inputs = layout.span("inputs").start
    for pos, token in enumerate(graph.tokens.tolist()):
        node_id = f"E_{token}_{pos}"
        ids[inputs + pos] = ids[inputs + n_pos + pos] = node_id
        nodes.append(_node(node_id, f"E_{token}-{pos}", feature=pos, layer="E", ctx_idx=pos,
                           feature_type="embedding",
                           clerp=square_name(int(result.position.moves[pos]))))  # fmt: skip
    target = graph.target
    vocab = int(encode(target.square)) if target.kind == "move" else VOCAB_SIZE
    last = layout.size - 1
    ids[last] = f"{n_layers + 1}_{vocab}_{n_pos - 1}"
    nodes.append(_node(ids[last], f"L_{vocab}-{n_pos - 1}", feature=vocab,
                       layer=str(n_layers + 1), ctx_idx=n_pos - 1, feature_type="logit",
                       is_target_logit=True, clerp=target.name))  # fmt: skip
    return ids, nodes


def _label(board, i: int) -> str:
    from probes.transcoders.labels import KINDS

    kind = int(board.kind[i])
    return "" if kind < 0 else f"{square_name(int(board.square[i]))} {KINDS[kind]}"


def _links(result: GraphResult, ids: dict[int, str]) -> list[dict]:
    """The kept edges between kept nodes, ``source`` -> ``target`` with their direct effect;
    the two input nodes of a position summed into one edge."""
    adjacency, edges = result.graph.adjacency, result.edge_mask
    weights: dict[tuple[str, str], float] = {}
    for dst, src in edges.nonzero().tolist():
        if dst in ids and src in ids:
            key = (ids[src], ids[dst])
            weights[key] = weights.get(key, 0.0) + float(adjacency[dst, src])
    return [{"source": s, "target": t, "weight": w} for (s, t), w in weights.items()]


def graph_json(result: GraphResult, slug: str) -> dict:
    """The JSON of one graph (module docstring)."""
    ids, nodes = _nodes(result)
    moves = [square_name(int(m)) for m in result.position.moves]
    names = lambda mask: [square_name(int(s)) for s in torch.as_tensor(mask).nonzero()]  # noqa: E731
    return {
        "metadata": {
            "slug": slug,
            "scan": "othello-gpt",
            "transcoder_list": [],
            "prompt_tokens": moves,
            "prompt": " ".join(moves),
            "node_threshold": result.node_threshold,
            "schema_version": 1,
        },  # fmt: skip
        "qParams": {
            "pinnedIds": [],
            "supernodes": [],
            "linkType": "both",
            "clickedId": "",
            "sg_pos": "",
        },  # fmt: skip
        "nodes": nodes,
        "links": _links(result, ids),
        "scores": {k: v for k, v in result.scores.items() if k != "by_layer_kind"},
        "by_layer_kind": result.scores.get("by_layer_kind"),
        "target": {
            "name": result.graph.target.name,
            "kind": result.graph.target.kind,
            "square": square_name(result.graph.target.square),
            "value": result.graph.target.value,
            "bias": result.graph.bias,
        },  # fmt: skip
        "position": {
            "moves": moves,
            "ply": result.position.ply,
            "legal": [square_name(int(s)) for s in result.position.legal],
            "board": result.position.board.tolist(),
            "truth": None if result.lines is None else names(result.lines.truth),
            "flanking": None if result.lines is None else result.lines.describe(),
            "control_move": None if result.other is None else square_name(result.other.square),
        },
        "seconds": result.seconds,
    }


def summary_line(data: dict, seconds: float) -> str:
    """One line of a written graph: its size kept, its scores and its time."""
    s = data["scores"]
    share = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    return (f"{data['target']['name']}: {len(data['nodes'])} nodes, {len(data['links'])} edges "
            f"kept; replacement {s['replacement']:.3f}, completeness {s['completeness']:.3f}; "
            f"on its flanking squares {share(s.get('flanking_share'))}, on "
            f"{data['position']['control_move']}'s {share(s.get('control_share'))}; "
            f"{seconds:.2f} s")  # fmt: skip
