"""Transcoders (the SAE room's ``*_transcoder`` architectures and the transcoders stage's
pieces): JumpReLU and TopK as specified, the skip term, scales folded without changing the
map; a planted one-layer model whose ReLU MLP is exactly a transcoder (variance explained 1,
the model unchanged with it spliced in) and transcoders trained on that model's activations
learning it; feature labels of planted features; the SAELens and circuit-tracer folders,
checked against those libraries where they are installed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from othello.common.errors import UserError
from othello.model.config import GPTConfig
from othello.model.gpt import MLP
from othello.model.hooks import transcoder_hooks
from othello.model.kinds import build_model
from othello.world.tokens import encode
from probes.acts.arrays import ArraySource
from probes.sae.architectures import BANDWIDTH
from probes.sae.evaluate import reconstruction, splice_figures, splice_hooks
from probes.sae.model import SAEConfig, SparseAutoencoder
from probes.sae.train import train_sae
from probes.transcoders import circuit_tracer_config, load_transcoders
from probes.transcoders.circuit_tracer import read_circuit_tracer, read_config, write_circuit_tracer
from probes.transcoders.labels import feature_labels
from probes.transcoders.store import save_transcoders

D_MODEL, D_MLP = 16, 32


def random_transcoder(architecture: str, d_in=8, d_sae=12, d_out=6, k=3, seed=0):
    """A transcoder with every parameter random (thresholds in [0, 0.5))."""
    torch.manual_seed(seed)
    tc = SparseAutoencoder(d_in, d_sae, architecture, k, d_out)
    with torch.no_grad():
        for name, p in tc.named_parameters():
            p.copy_(torch.rand_like(p) * 0.5 if name == "threshold" else torch.randn_like(p))
    return tc.eval()


def test_jumprelu_is_zero_up_to_its_threshold_and_its_gradient_reaches_the_threshold():
    tc = SparseAutoencoder(4, 4, "jumprelu_transcoder", 0, 4)
    with torch.no_grad():
        tc.W_enc.copy_(torch.eye(4))
        tc.threshold.copy_(torch.tensor([0.5, 0.5, 1.0, 0.0]))
    x = torch.tensor([[0.49, 0.51, 1.0, -0.2], [2.0, 0.5, 1.01, 0.3]])
    expected = torch.tensor([[0.0, 0.51, 0.0, 0.0], [2.0, 0.0, 1.01, 0.3]])
    torch.testing.assert_close(tc.encode(x), expected)
    tc.encode(x).sum().backward()  # the straight-through estimator: a window of BANDWIDTH
    near = ((x - tc.threshold).abs() < BANDWIDTH / 2).float()
    torch.testing.assert_close(tc.threshold.grad, -(near * x / BANDWIDTH).sum(0))
    assert tc.threshold.grad[1] != 0 and tc.threshold.grad[3] == 0


def test_topk_keeps_exactly_k_the_largest():
    tc = random_transcoder("topk_transcoder", k=3)
    with torch.no_grad():
        tc.b_enc.fill_(100.0)  # every pre-activation positive: only k may fire
    x = torch.randn(50, 8)
    f = tc.encode(x)
    assert ((f > 0).sum(-1) == 3).all()
    top = tc.pre_activations(x).topk(3, -1)
    torch.testing.assert_close(f.gather(-1, top.indices), top.values)


@pytest.mark.parametrize("architecture", ["jumprelu_skip_transcoder", "topk_skip_transcoder"])
def test_with_no_encoder_a_skip_transcoder_is_its_linear_skip(architecture):
    tc = random_transcoder(architecture)
    with torch.no_grad():
        tc.W_enc.zero_()
        tc.b_enc.fill_(-1.0)  # no feature fires
    x = torch.randn(20, 8)
    assert (tc.encode(x) == 0).all() and tc.W_skip.shape == (6, 8)
    torch.testing.assert_close(tc(x), x @ tc.W_skip.T + tc.b_dec)
    with pytest.raises(ValueError, match="decodes with its input"):
        tc.decode(tc.encode(x))


@pytest.mark.parametrize("architecture", ["jumprelu_skip_transcoder", "topk_transcoder"])
def test_folding_the_training_scales_keeps_the_map(architecture):
    """Trained on x * s -> y * t, the folded transcoder maps x to y: the same features."""
    tc = random_transcoder(architecture)
    x, s, t = torch.randn(30, 8), 2.5, 0.4
    features, out = tc.encode(x * s), tc(x * s) / t
    with torch.no_grad():
        tc.fold_scales(s, t)
    torch.testing.assert_close(tc.encode(x), features)
    torch.testing.assert_close(tc(x), out)


class ReluMLP(MLP):
    """The GPT's MLP with a ReLU: exactly a JumpReLU transcoder of threshold 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.hook_post(F.relu(self.fc_in(x))))


@pytest.fixture(scope="module")
def planted(tiny_corpus):
    """A one-layer GPT whose MLP is a sparse ReLU map (each unit fires ~15% of the time), and
    its MLP's input and output on 100 games (80/10/10 split)."""
    from probes.acts.memory import cache_activations

    torch.manual_seed(0)
    model = build_model(GPTConfig(n_layers=1, d_model=D_MODEL, n_heads=2, d_mlp=D_MLP)).eval()
    block = model.blocks[0]
    block.mlp.__class__ = ReluMLP
    with torch.no_grad():
        block.ln2.weight.uniform_(0.5, 1.5)
        block.ln2.bias.normal_(0, 0.1)
        block.mlp.fc_in.weight.normal_(0, 0.5)
        block.mlp.fc_in.bias.fill_(-2.0)
        block.mlp.fc_out.weight.normal_(0, 0.3)
    hooks = list(transcoder_hooks(0))
    source = cache_activations(model, tiny_corpus, 100, hooks=hooks, progress=False)
    return model, source


def mlp_as_transcoder(block) -> SparseAutoencoder:
    """Block's MLP read off its weights: ln2's scale and shift folded into the encoder (it reads
    the normalised input), its hidden units the features, fc_out the decoder."""
    ln, mlp = block.ln2, block.mlp
    tc = SparseAutoencoder(D_MODEL, D_MLP, "jumprelu_transcoder", 0, D_MODEL)
    with torch.no_grad():
        tc.W_enc.copy_(ln.weight[:, None] * mlp.fc_in.weight.T)
        tc.b_enc.copy_(ln.bias @ mlp.fc_in.weight.T + mlp.fc_in.bias)
        tc.W_dec.copy_(mlp.fc_out.weight.T)
        tc.b_dec.copy_(mlp.fc_out.bias)
        tc.threshold.zero_()
    return tc.eval()


def test_a_planted_relu_mlp_is_exactly_its_transcoder(planted):
    model, source = planted
    tc = mlp_as_transcoder(model.blocks[0])
    hook, hook_out = transcoder_hooks(0)
    tokens = torch.as_tensor(encode(source.moves[:4, :20]))
    with torch.no_grad():
        clean, cache = model.run_with_cache(tokens, [hook, hook_out])
        torch.testing.assert_close(tc(cache[hook]), cache[hook_out], atol=1e-5, rtol=1e-5)
        with model.hooks(splice_hooks(tc, hook, hook_out)):
            torch.testing.assert_close(model(tokens), clean, atol=1e-5, rtol=1e-5)
    figures = reconstruction(tc, source, hook, "test", hook_out)
    assert figures["explained_variance"] > 0.999  # the cache holds float32, the model float32
    assert 1 < figures["l0"] < 0.4 * D_MLP  # sparse, as planted
    spliced = splice_figures(model, source, splice_hooks(tc, hook, hook_out), [hook_out],
                             "sampled", games=6)  # fmt: skip
    assert spliced["top1_legal_sae"] == spliced["top1_legal_clean"]
    assert spliced["loss_sae"] == pytest.approx(spliced["loss_clean"], abs=1e-5)
    assert spliced["loss_zero"] != pytest.approx(spliced["loss_clean"], abs=1e-3)


@pytest.mark.parametrize("architecture", ["topk_transcoder", "jumprelu_transcoder"])
def test_a_transcoder_trained_on_the_planted_mlp_learns_it(planted, architecture):
    model, source = planted
    hook, hook_out = transcoder_hooks(0)
    cfg = SAEConfig(architecture=architecture, expansion=4, k=8, epochs=10, lr=1e-2,
                    batch_positions=128, chunk_games=64, sparsity_coefficient=0.01)  # fmt: skip
    tc, record = train_sae(source, hook, cfg, None, False, hook_out=hook_out)
    figures = reconstruction(tc, source, hook, "test", hook_out)
    assert figures["explained_variance"] > 0.85, figures
    assert record["output_scale"] != pytest.approx(record["input_scale"], rel=0.05)
    if architecture == "jumprelu_transcoder":
        assert (tc.threshold >= 0).all() and figures["l0"] < 20


def test_each_feature_is_labelled_by_the_board_property_it_fires_on():
    """Feature 0 fires where square 10 is the mover's, feature 1 where square 20 was just
    flipped, feature 2 never: their labels, with test precision and recall 1."""
    rng = np.random.default_rng(0)
    n, pos = 60, 59
    board = rng.integers(0, 3, (n, pos, 64))
    flipped = rng.random((n, pos, 64)) < 0.2
    legal = rng.random((n, pos, 64)) < 0.3
    x = np.stack([board[..., 10] == 1, flipped[..., 20], rng.random((n, pos))], -1)
    split = np.repeat([0, 1, 2], [48, 6, 6]).astype(np.int8)
    labels = {"board_relative": board.astype(np.int8), "flipped": flipped, "legal": legal}
    source = ArraySource({"x": x.astype(np.float32)}, labels, np.ones((n, pos), bool), split)
    tc = SparseAutoencoder(3, 3, "jumprelu_transcoder", 0, 2)
    with torch.no_grad():
        tc.W_enc.copy_(torch.diag(torch.tensor([1.0, 2.0, 0.0])))
        tc.b_enc.copy_(torch.tensor([0.0, 0.0, -1.0]))
        tc.threshold.fill_(0.1)
    named = feature_labels(tc, source, "x", chunk_games=16)
    assert named.name(0) == "C2 mine" and named.name(1) == "E3 flipped"  # A1 = 0, C2 = 10
    assert named.kind[2] is None and named.name(2) == "-"
    assert named.precision[:2] == [1.0, 1.0] and named.recall[:2] == [1.0, 1.0]


CT_SHAPES = {"W_enc": (12, 8), "W_dec": (12, 8), "b_enc": (12,), "b_dec": (8,),
             "activation_function.threshold": (12,), "W_skip": (8, 8)}  # fmt: skip


def test_the_circuit_tracer_folder_has_its_names_and_shapes_and_round_trips(tmp_path):
    tcs = {i: random_transcoder("jumprelu_skip_transcoder", 8, 12, 8, seed=i) for i in range(2)}
    write_circuit_tracer(tcs, tmp_path, "othello-test")
    text = (tmp_path / "config.yaml").read_text()
    assert 'feature_input_hook: "ln2.hook_normalized"' in text
    assert 'feature_output_hook: "hook_mlp_out"' in text
    assert read_config(tmp_path)["transcoders"] == ["layer_0.safetensors", "layer_1.safetensors"]
    for layer, tc in tcs.items():
        tensors = load_file(str(tmp_path / f"layer_{layer}.safetensors"))
        assert {k: tuple(v.shape) for k, v in tensors.items()} == CT_SHAPES
        torch.testing.assert_close(tensors["W_enc"], tc.W_enc.T.detach())
    back = read_circuit_tracer(tmp_path, "jumprelu_skip_transcoder")
    x = torch.randn(20, 8)
    for layer, tc in tcs.items():
        assert torch.equal(back[layer](x), tc(x))
    topk = {0: random_transcoder("topk_transcoder", 8, 12, 8, k=5)}
    write_circuit_tracer(topk, tmp_path / "topk", "t")
    assert read_config(tmp_path / "topk")["activation"] == "topk"
    assert read_config(tmp_path / "topk")["k"] == 5
    assert "activation_function.threshold" not in load_file(
        str(tmp_path / "topk/layer_0.safetensors")
    )
    with pytest.raises(ValueError, match="every layer from 0"):
        write_circuit_tracer({1: tcs[1]}, tmp_path / "gap", "t")


def test_circuit_tracer_loads_the_folder_as_the_same_transcoders(tmp_path):
    tcs = {i: random_transcoder("jumprelu_skip_transcoder", 8, 12, 8, seed=i) for i in range(2)}
    write_circuit_tracer(tcs, tmp_path, "othello-test")
    try:
        from circuit_tracer.utils.hf_utils import load_transcoders as ct_load
    except ImportError:
        pytest.skip("circuit-tracer is not installed: pip install circuit-tracer to check it")
    theirs = ct_load(circuit_tracer_config(tmp_path), torch.device("cpu"), lazy_decoder=False)
    assert theirs.feature_input_hook == "ln2.hook_normalized" and theirs.skip_connection
    x = torch.randn(20, 8)
    for layer, tc in tcs.items():
        torch.testing.assert_close(theirs[layer].encode(x), tc.encode(x))
        torch.testing.assert_close(theirs[layer](x), tc(x))


SAELENS_SHAPES = {"W_enc": (8, 12), "W_dec": (12, 8), "b_enc": (12,), "b_dec": (8,),
                  "threshold": (12,), "W_skip": (8, 8)}  # fmt: skip


def test_the_saelens_folder_has_its_keys_and_shapes_and_round_trips(tmp_path):
    """SAELens's JumpReLUSkipTranscoder: cfg.json with d_in, d_sae, d_out, both hooks and
    ``apply_b_dec_to_input`` false; weights W_enc [d_in, d_sae], W_dec [d_sae, d_out],
    threshold, W_skip [d_out, d_in]."""
    tcs = {i: random_transcoder("jumprelu_skip_transcoder", 8, 12, 8, seed=i) for i in range(2)}
    save_transcoders(tcs, tmp_path / "transcoders", {"model_sha256": "ab" * 32})
    cfg = json.loads((tmp_path / "transcoders/layer_1/cfg.json").read_text())
    assert (
        cfg["architecture"] == "jumprelu_skip_transcoder" and cfg["apply_b_dec_to_input"] is False
    )
    assert (cfg["d_in"], cfg["d_sae"], cfg["d_out"]) == (8, 12, 8)
    assert cfg["metadata"]["hook_name"] == "blocks.1.ln2.hook_normalized"
    assert cfg["metadata"]["hook_name_out"] == "blocks.1.hook_mlp_out"
    weights = load_file(str(tmp_path / "transcoders/layer_1/sae_weights.safetensors"))
    assert {k: tuple(v.shape) for k, v in weights.items()} == SAELENS_SHAPES
    back = load_transcoders(tmp_path, model_sha256="ab" * 32)
    x = torch.randn(20, 8)
    assert all(torch.equal(back[i](x), tcs[i](x)) for i in tcs)
    with pytest.raises(UserError, match="transcoders of another model"):
        load_transcoders(tmp_path, model_sha256="cd" * 32)
    with pytest.raises(FileNotFoundError, match="no transcoders"):
        load_transcoders(tmp_path, control=True)
    try:
        from sae_lens import SAE
    except ImportError:
        pytest.skip('SAELens is not installed: pip install -e ".[sae]" to check the interchange')
    for i, tc in tcs.items():
        theirs = SAE.load_from_disk(str(tmp_path / f"transcoders/layer_{i}"))
        torch.testing.assert_close(theirs.encode(x), tc.encode(x))
        torch.testing.assert_close(theirs(x), tc(x))
