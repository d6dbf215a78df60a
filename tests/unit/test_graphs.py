"""Attribution graphs, against known answers: the rules' flanking lines against a slow walk of
the board; a planted one-layer model whose MLP is exactly a transcoder (error nodes zero,
completeness 1, every edge equal to a hand computation from the weights); every row equal to
autograd's gradient through the frozen model (circuit-tracer's way of computing it); a row's
direct effects summing to its value minus the bias terms (a forward pass with every node
zeroed); influence and scores on hand-made graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.model.hooked import freeze
from othello.model.hooks import EMBED, POS_EMBED, act_name, frozen_hooks
from othello.world import engine
from othello.world.flanking import move_lines, sides
from othello.world.labels import replay
from othello.world.tokens import encode
from probes.graphs.attribution import attribute
from probes.graphs.influence import NodeLayout, node_influence, prune, scores
from probes.graphs.replacement import Forward, center
from probes.graphs.targets import move_target
from probes.graphs.transcoders import reconstruct
from probes.sae.model import SparseAutoencoder

DIRECTIONS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def slow_lines(board: np.ndarray, square: int) -> tuple[set, set, set]:
    """(flips, anchors, blockers) by walking the 8 directions square by square (board: 0
    empty, 1 mine, 2 theirs)."""
    if board[square]:
        return set(), set(), {square}
    flips, anchors, blockers = set(), set(), set()
    row, col = divmod(square, 8)
    for dr, dc in DIRECTIONS:
        run, r, c = [], row + dr, col + dc
        while 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == 2:
            run.append(r * 8 + c)
            r, c = r + dr, c + dc
        inside = 0 <= r < 8 and 0 <= c < 8
        if run and inside and board[r * 8 + c] == 1:
            flips |= set(run)
            anchors.add(r * 8 + c)
        elif inside:
            blockers.add(r * 8 + c)
    return flips, anchors, blockers


def random_games(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    moves = np.empty((n, 60), np.int8)
    lengths = np.empty(n, np.int8)
    engine.generate_games(seed, 0, moves, lengths)
    return moves, lengths


def test_flanking_lines_match_a_slow_walk_of_the_board():
    moves, lengths = random_games(20)
    labels = replay(moves, lengths)
    boards = labels.board_relative()
    checked = legal_seen = 0
    for row in range(len(moves)):
        for ply in range(0, int(lengths[row]) - 1, 7):
            me, opp = sides(labels, row, ply)
            legal = set(np.flatnonzero(labels.legal_squares()[row, ply]))
            for square in range(64):
                lines = move_lines(me, opp, square)
                flips, anchors, blockers = slow_lines(boards[row, ply], square)
                assert lines.legal == (square in legal)
                assert set(np.flatnonzero(lines.flips)) == flips
                assert set(np.flatnonzero(lines.anchors)) == anchors
                assert set(np.flatnonzero(lines.blockers)) == blockers
                truth = set(np.flatnonzero(lines.truth))
                assert square in truth and truth - {square} <= flips | anchors | blockers
                if lines.legal:  # the engine's own flips for a legal move
                    assert int(engine.flips(np.uint64(me), np.uint64(opp), square)) == sum(
                        1 << s for s in flips
                    )
                checked += 1
                legal_seen += lines.legal
    assert checked > 2000 and legal_seen > 100


class MLPTranscoder(nn.Module):
    """A block's own MLP written as a transcoder (GELU features: W_enc folds ln2's weight and
    bias into fc_in, W_dec is fc_out): it reproduces the MLP exactly, so error nodes vanish."""

    def __init__(self, block) -> None:
        super().__init__()
        w_in, b_in = block.mlp.fc_in.weight.detach(), block.mlp.fc_in.bias.detach()
        self.W_enc = block.ln2.weight.detach()[:, None] * w_in.T
        self.b_enc = block.ln2.bias.detach() @ w_in.T + b_in
        self.W_dec = block.mlp.fc_out.weight.detach().T
        self.b_dec = block.mlp.fc_out.bias.detach()

    def pre_activations(self, x):
        return x @ self.W_enc + self.b_enc

    def activate(self, pre):
        return F.gelu(pre)


def small_gpt(n_layers: int, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layers=n_layers, d_model=16, n_heads=2, d_mlp=24)).eval()
    with torch.no_grad():  # LayerNorm weights and biases away from 1 and 0, biases nonzero
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return model


def attention_write(model: GPT, forward: Forward, v: torch.Tensor, key: int) -> torch.Tensor:
    """[P, d]: what vector ``v`` at position ``key`` of block 0's input adds to its attention
    output at every position, written forward from the weights."""
    block, d = model.blocks[0], model.cfg.d_model
    y = (center(v) / forward.ln1_scale[0, key] * block.ln1.weight) @ block.attn.qkv.weight[
        2 * d :
    ].T
    heads = y.view(model.cfg.n_heads, -1)  # [H, dh]
    z = forward.pattern[0][:, :, key, None] * heads[:, None, :]  # [H, query, dh]
    return z.transpose(0, 1).reshape(len(forward.tokens), d) @ block.attn.out.weight.T


@torch.no_grad()
def test_a_planted_model_whose_mlp_is_a_transcoder_gives_the_hand_computed_graph():
    model = small_gpt(1)
    transcoders = {0: MLPTranscoder(model.blocks[0])}
    tokens = torch.as_tensor(encode(np.array([37, 43, 34, 29, 20])))
    forward = Forward.of(model, tokens)
    target = move_target(model, forward, 21)
    graph = attribute(model, transcoders, forward, target, batch_size=7)
    n_pos, layout = len(tokens), graph.layout
    assert graph.adjacency[:, layout.span("errors")].abs().max() < 1e-5  # error nodes vanish
    s = graph.scores()
    assert s["completeness"] > 1 - 1e-4 and s["replacement"] > 1 - 1e-4
    # the hand computation: each embedding pushed forward through block 0's attention
    readers = [center(transcoders[0].W_enc[:, f]) / forward.ln2_scale[0, p]
               for _, p, f in graph.features.tolist()]  # fmt: skip
    expected = torch.zeros_like(graph.adjacency)
    inputs = layout.span("inputs").start
    vectors = [model.embed.weight[tokens], model.pos_embed[:n_pos]]
    for kind, table in enumerate(vectors):
        for key in range(n_pos):
            mid = attention_write(model, forward, table[key], key)
            mid[key] += table[key]  # the residual path
            column = inputs + kind * n_pos + key
            for row, (_, p, _) in enumerate(graph.features.tolist()):
                expected[row, column] = mid[p] @ readers[row]
            expected[-1, column] = mid[-1] @ target.vector
    last = graph.features[:, 1] == n_pos - 1
    decoded = graph.activation[:, None] * transcoders[0].W_dec[graph.features[:, 2]]
    expected[-1, : len(graph.features)] = torch.where(last, decoded @ target.vector, 0.0)
    expected[:, layout.span("errors")] = graph.adjacency[:, layout.span("errors")]
    torch.testing.assert_close(graph.adjacency, expected, atol=1e-4, rtol=1e-4)


def random_transcoders(model: GPT, width: int = 40, skip: bool = True, seed: int = 1) -> dict:
    """Random TopK transcoders (SparseAutoencoder, no b_dec on the input), with a linear skip."""
    torch.manual_seed(seed)
    d = model.cfg.d_model
    out = {}
    for layer in range(model.cfg.n_layers):
        tc = SparseAutoencoder(d, width, "topk", 6, d_out=d)
        with torch.no_grad():
            for p in (tc.W_enc, tc.W_dec, tc.b_enc, tc.b_dec):
                p.copy_(0.4 * torch.randn_like(p))
        tc.apply_b_dec_to_input = False
        if skip:
            tc.W_skip = 0.2 * torch.randn(d, d)
        out[layer] = tc.eval()
    return out


def replaced_hooks(model: GPT, transcoders: dict, zero_nodes: bool, kept: dict) -> list:
    """Hooks making the model the replacement model: scales and patterns frozen (at this run's
    own values, outside autograd), each MLP's output its transcoder's skip of the live input
    plus a constant (its true output less that skip; with ``zero_nodes``, ``b_dec`` alone:
    features and errors off) and, with ``zero_nodes``, the embeddings zero. ``kept`` collects
    the tensors the tests differentiate."""
    hooks = []
    for layer, tc in transcoders.items():

        def keep_in(x, hook, layer=layer):
            kept[("in", layer)] = x

        def replace(out, hook, layer=layer, tc=tc):
            x = kept[("in", layer)][0]
            skip = x @ tc.W_skip.T if getattr(tc, "W_skip", None) is not None else 0 * x
            constant = tc.b_dec.expand_as(x) if zero_nodes else (out[0] - skip).detach()
            kept[("out", layer)] = (skip + constant)[None]
            return kept[("out", layer)]

        hooks += [
            (act_name("ln2_normalized", layer), keep_in),
            (act_name("mlp_out", layer), replace),
        ]
    for name in (EMBED, POS_EMBED):

        def embed(x, hook, name=name):
            kept[name] = torch.zeros_like(x) if zero_nodes else x
            return kept[name]

        hooks.append((name, embed))
    return hooks


def test_every_row_equals_autograd_through_the_frozen_model():
    model = small_gpt(3, seed=2)
    transcoders = random_transcoders(model)
    tokens = torch.as_tensor(encode(np.array([37, 43, 34, 29, 20, 21, 12])))
    forward = Forward.of(model, tokens)
    target = move_target(model, forward, 44)
    graph = attribute(model, transcoders, forward, target, batch_size=16)
    layout, n_pos = graph.layout, len(tokens)
    _, frozen = model.run_with_cache(tokens[None], frozen_hooks(3))
    rows = [len(graph.features) - 1, 0, len(graph.features) // 2, -1]
    for row in rows:
        kept: dict = {}
        hooks = freeze(frozen_hooks(3), frozen) + replaced_hooks(model, transcoders, False, kept)
        with model.hooks(hooks):
            logits = model(tokens[None])
        for t in kept.values():
            t.retain_grad()
        if row == -1:
            value = logits[0, -1, int(encode(44))]
        else:
            layer, p, f = graph.features[row].tolist()
            value = transcoders[layer].pre_activations(kept[("in", layer)][0, p])[f]
        value.backward()
        expected = torch.zeros(layout.size)
        for column, (layer, p, f) in enumerate(graph.features.tolist()):
            grad = kept[("out", layer)].grad
            vector = graph.activation[column] * transcoders[layer].W_dec[f]
            expected[column] = 0.0 if grad is None else grad[0, p] @ vector.detach()
        for layer in range(3):
            grad = kept[("out", layer)].grad
            if grad is not None:
                span = slice(graph.error_node(layer, 0), graph.error_node(layer, 0) + n_pos)
                expected[span] = torch.einsum(
                    "pd,pd->p", grad[0], graph_errors(forward, transcoders, layer)
                )
        first = layout.span("inputs").start
        for offset, name in ((first, EMBED), (first + n_pos, POS_EMBED)):
            grad = kept[name].grad.reshape(n_pos, -1)  # pos_embed has no batch dimension
            vectors = model.embed.weight[tokens] if name == EMBED else model.pos_embed[:n_pos]
            expected[offset : offset + n_pos] = torch.einsum("pd,pd->p", grad, vectors.detach())
        torch.testing.assert_close(graph.adjacency[row], expected, atol=2e-5, rtol=1e-4)


def graph_errors(forward: Forward, transcoders: dict, layer: int) -> torch.Tensor:
    return forward.mlp_out[layer] - reconstruct(transcoders[layer], forward.mlp_in[layer])[1]


@torch.no_grad()
def test_direct_effects_sum_to_the_value_less_the_bias_terms():
    model = small_gpt(2, seed=4)
    transcoders = random_transcoders(model, skip=True, seed=5)
    tokens = torch.as_tensor(encode(np.array([37, 43, 34, 29, 20, 21])))
    forward = Forward.of(model, tokens)
    target = move_target(model, forward, 44)
    graph = attribute(model, transcoders, forward, target)
    _, frozen = model.run_with_cache(tokens[None], frozen_hooks(2))
    kept: dict = {}
    hooks = freeze(frozen_hooks(2), frozen) + replaced_hooks(model, transcoders, True, kept)
    with model.hooks(hooks):
        bias_only = model(tokens[None])[0, -1, int(encode(44))]
    assert abs(target.value - float(forward.logits[-1, int(encode(44))])) < 1e-6
    assert abs(graph.bias - float(bias_only)) < 1e-4  # the sum of direct effects is the rest
    assert abs(float(graph.adjacency[-1].sum()) + graph.bias - target.value) < 1e-4
    for row in (0, len(graph.features) - 1):  # a feature's pre-activation likewise
        layer, p, f = graph.features[row].tolist()
        pre = transcoders[layer].pre_activations(forward.mlp_in[layer, p])[f]
        rest = transcoders[layer].pre_activations(kept[("in", layer)][0, p])[f]
        assert abs(float(graph.adjacency[row].sum() + rest - pre)) < 1e-4


def test_influence_and_scores_on_hand_made_graphs():
    # feature 0 <- input 0 (weight 2) and error 0 (weight -2); target <- feature 0 (1) and
    # error 0 (3): the error carries 3/4 of the target directly, 1/4 * 1/2 through the feature
    layout = NodeLayout(features=1, errors=1, inputs=1)
    a = torch.zeros(4, 4)
    a[0, 2], a[0, 1] = 2.0, -2.0
    a[3, 0], a[3, 1] = 1.0, 3.0
    influence = node_influence(a, layout)
    torch.testing.assert_close(influence, torch.tensor([0.25, 0.75 + 0.125, 0.125, 0.0]))
    s = scores(a, layout)
    assert s["replacement"] == pytest.approx(0.125 / (0.125 + 0.875))
    # completeness: feature 0 half from errors (weight 0.25), target 3/4 from errors (weight 1)
    assert s["completeness"] == pytest.approx(
        (0.5 * 0.25 + 1 * 0.875 + 1 * 0.125 + 0.25 * 1) / 2.25
    )
    keep, edges, cumulative = prune(a, layout, node_threshold=0.5, edge_threshold=0.98)
    assert keep.tolist() == [False, True, True, True]  # the feature holds too little
    assert edges[3, 1] and not edges[3, 0] and cumulative[1] == pytest.approx(0.875 / 1.25)
    with pytest.raises(ValueError, match="node_threshold"):
        prune(a, layout, 1.5, 0.9)
