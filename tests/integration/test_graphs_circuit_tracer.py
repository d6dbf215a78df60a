"""Our attribution graphs against circuit-tracer's (its own environment: skipped without it):
the same GPT, transcoders, prefix and target through both, every shared edge equal, our
influence code's scores on circuit-tracer's matrix equal to its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.world.tokens import encode
from probes.sae.model import SparseAutoencoder

pytest.importorskip("circuit_tracer", reason="circuit-tracer is not installed (its own env)")
from probes.graphs.tracer import compare  # noqa: E402

TOLERANCE = 1e-4  # of the largest edge: float32 sums in another order


def planted(architecture: str, seed: int):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layers=3, d_model=32, n_heads=4, d_mlp=64)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.2 * torch.randn_like(p))
    transcoders = {}
    for layer in range(3):
        tc = SparseAutoencoder(32, 96, architecture, 8, d_out=32)
        with torch.no_grad():
            for p in (tc.W_enc, tc.W_dec, tc.b_enc, tc.b_dec):
                p.copy_(0.3 * torch.randn_like(p))
            tc.threshold.copy_(0.2 * torch.rand_like(tc.threshold))
            if tc.W_skip is not None:
                tc.W_skip.copy_(0.1 * torch.randn_like(tc.W_skip))
        transcoders[layer] = tc.eval()
    return model, transcoders


@pytest.mark.parametrize("architecture", ["jumprelu_transcoder", "jumprelu_skip_transcoder"])
def test_our_graph_equals_circuit_tracers(tmp_path, architecture):
    model, transcoders = planted(architecture, seed=3)
    tokens = torch.as_tensor(encode(np.array([37, 43, 34, 29, 20, 21, 12, 44])))
    result = compare(model, transcoders, tokens, 19, tmp_path)
    assert result["edges_compared"] > 1000
    assert result["relative_difference"] < TOLERANCE, result
    for key, value in result["scores_theirs"].items():
        assert result["scores_ours_on_theirs"][key] == pytest.approx(value, abs=1e-5)


def test_our_graph_json_validates_as_circuit_tracers_frontend_model():
    from circuit_tracer.frontend.graph_models import Model

    from probes.graphs.api import Position, attribution_graph
    from probes.graphs.export import graph_json

    model, transcoders = planted("jumprelu_transcoder", seed=5)
    game = ["F5", "F6", "E6", "F4", "E3", "C5", "C4", "D3"]
    move = int(Position.of(game, len(game) - 1).legal[0])
    data = graph_json(attribution_graph(model, transcoders, game, len(game) - 1, move), "t")
    parsed = Model.model_validate(data)  # what its viewer's server loads
    assert len(parsed.nodes) == len(data["nodes"]) and len(parsed.links) == len(data["links"])
    assert sum(n.is_target_logit for n in parsed.nodes) == 1
