"""One attribution graph through the API: graded by the rules against known answers (every
feature labelled on the move's squares: share 1; none: 0; the layer x kind split sums to the
share), written in circuit-tracer's JSON layout, and bad input refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.common.errors import UserError
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.world.squares import parse_square
from probes.graphs.api import Position, attribution_graph
from probes.graphs.export import graph_json
from probes.graphs.grading import FeatureBoard, split
from probes.sae.model import SparseAutoencoder
from probes.transcoders.labels import KINDS, FeatureLabels

GAME = ["F5", "F6", "E6", "F4", "E3", "C5", "C4", "D3"]
D_TC = 48


def planted(n_layers: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layers=n_layers, d_model=32, n_heads=4, d_mlp=64)).eval()
    transcoders = {}
    for layer in range(n_layers):
        tc = SparseAutoencoder(32, D_TC, "standard", 8, d_out=32)
        with torch.no_grad():
            for p in (tc.W_enc, tc.W_dec, tc.b_enc, tc.b_dec):
                p.copy_(0.3 * torch.randn_like(p))
        tc.apply_b_dec_to_input = False
        transcoders[layer] = tc.eval()
    return model, transcoders


def labels_on(squares: list[int], kind: str = "mine", n_layers: int = 2):
    """Every feature labelled ``kind`` on the squares in turn."""
    n = D_TC
    table = lambda: FeatureLabels(  # noqa: E731
        [kind] * n, [squares[i % len(squares)] for i in range(n)], [0.5] * n, [1.0] * n,
        [1.0] * n, [1.0] * n,
    )  # fmt: skip
    return {layer: table() for layer in range(n_layers)}


def test_a_graph_whose_every_feature_is_on_the_moves_lines_has_share_one():
    model, transcoders = planted()
    position = Position.of(GAME, len(GAME) - 1)
    move = int(position.legal[0])
    truth = np.flatnonzero(position.lines(move).truth).tolist()
    result = attribution_graph(model, transcoders, GAME, len(GAME) - 1, move, labels_on(truth))
    assert result.scores["flanking_share"] == pytest.approx(1.0)
    parts = result.scores["by_layer_kind"]
    assert sum(sum(row.values()) for row in parts.values()) == pytest.approx(1.0)
    assert all(row[k] == 0 for row in parts.values() for k in KINDS if k != "mine")
    far = [s for s in range(64) if s not in truth and s not in (27, 28, 35, 36)]
    none = attribution_graph(model, transcoders, GAME, len(GAME) - 1, move, labels_on(far))
    assert none.scores["flanking_share"] == pytest.approx(0.0)


def test_the_split_sums_to_the_share_and_unlabelled_features_count_in_the_whole():
    rng = np.random.default_rng(0)
    features = np.stack([rng.integers(0, 3, 40), rng.integers(0, 5, 40), np.arange(40)], 1)
    board = FeatureBoard(features[:, 0], rng.integers(-1, 64, 40), rng.integers(0, 5, 40))
    board = FeatureBoard(board.layer, board.square, np.where(board.square < 0, -1, board.kind))
    influence, squares = rng.random(40), rng.random(64) < 0.3
    parts = split(influence, board, squares, 3)
    on = (board.square >= 0) & squares[np.maximum(board.square, 0)]
    assert parts.sum() == pytest.approx(influence[on].sum() / influence.sum())
    assert np.isnan(split(np.zeros(40), board, squares, 3)).all()


def test_the_graph_json_is_circuit_tracers_layout_with_our_scores():
    model, transcoders = planted()
    position = Position.of(GAME, len(GAME) - 1)
    move = int(position.legal[0])
    result = attribution_graph(model, transcoders, GAME, len(GAME) - 1, move, labels_on([move]))
    data = graph_json(result, "test")
    assert {"metadata", "qParams", "nodes", "links", "scores"} <= set(data)
    for key in ("replacement", "completeness", "flanking_share", "control_share"):
        assert key in data["scores"]
    ids = {n["node_id"] for n in data["nodes"]}
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    assert sum(n["is_target_logit"] for n in data["nodes"]) == 1
    assert sum(n["feature_type"] == "embedding" for n in data["nodes"]) == len(GAME)
    kept = result.node_mask[: len(result.graph.features)].sum()
    assert sum(n["feature_type"] == "cross layer transcoder" for n in data["nodes"]) == kept
    assert data["position"]["control_move"] in data["position"]["legal"]


@pytest.mark.parametrize(
    ("game", "ply", "target", "says"),
    [
        (GAME, len(GAME), "C3", "outside the game's moves"),
        (GAME, 3, "Z9", "not a square name"),
        (GAME, 3, "D4", "not a move"),
        (["F5", "F5"], 1, "C3", "illegal"),
    ],
)
def test_bad_input_is_one_user_error(game, ply, target, says):
    model, transcoders = planted()
    with pytest.raises(UserError, match=says):
        attribution_graph(model, transcoders, game, ply, target)


def test_transcoders_of_another_shape_are_refused():
    model, _ = planted()
    other = {layer: SparseAutoencoder(16, D_TC, "standard", 8, d_out=16) for layer in range(2)}
    with pytest.raises(UserError, match="transcoders of another model"):
        attribution_graph(model, other, GAME, 3, parse_square("C3"))
