"""Model kinds (othello.model.kinds): the registry, planted layers whose hooked output equals a
hand computation, save/load round trips and refusals, decoding equal to the forward pass, and
an edit that reaches later positions of a recurrent model but not earlier ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from othello.common.errors import UserError
from othello.model.checkpoint import load_model_file, save_model
from othello.model.config import GPTConfig, LSTMConfig, MambaConfig
from othello.model.hooks import act_name, resid_hooks
from othello.model.kinds import (
    HEADS,
    MODEL_KINDS,
    NEURONS,
    ModelKind,
    build_model,
    config_from_dict,
    register_model_kind,
    require,
)

SMALL = {
    "gpt": GPTConfig(n_layers=2, d_model=16, n_heads=2),
    "lstm": LSTMConfig(n_layers=2, d_model=16),
    "mamba": MambaConfig(n_layers=2, d_model=16, d_state=4),
}


def small(kind: str):
    if kind == "mamba":
        pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    torch.manual_seed(0)
    return build_model(SMALL[kind]).eval()


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_the_registry_refuses_a_second_kind_of_a_name_and_names_the_choices():
    with pytest.raises(UserError, match="already registered"):
        register_model_kind(ModelKind("lstm", LSTMConfig, "othello.model.lstm:LSTM"))
    with pytest.raises(UserError, match="choose from"):
        config_from_dict({"kind": "gru", "n_layers": 1})
    assert config_from_dict(GPTConfig(n_layers=3).to_dict()) == GPTConfig(n_layers=3)
    no_kind = {k: v for k, v in GPTConfig(n_layers=3).to_dict().items() if k != "kind"}
    assert config_from_dict(no_kind) == GPTConfig(n_layers=3)  # files written before kinds
    with pytest.raises(UserError, match="not a lstm config"):
        config_from_dict({"kind": "lstm", "n_heads": 4})
    assert {"gpt", "lstm", "mamba"} <= set(MODEL_KINDS)
    with pytest.raises(ValueError, match="its config's kind must be 'gru'"):
        ModelKind("gru", LSTMConfig, "othello.model.lstm:LSTM")  # a name its config disowns
    with pytest.raises(UserError, match="d_conv must be at least 2"):
        MambaConfig(d_conv=1)  # mambapy's step would keep no inputs
    with pytest.raises(UserError, match="at least 1"):
        LSTMConfig(n_layers=0)


def test_parts_a_kind_lacks_are_refused_in_one_line():
    require(small("gpt"), HEADS, "head patching")
    with pytest.raises(UserError, match="head patching needs attention heads; a lstm model"):
        require(small("lstm"), HEADS, "head patching")
    with pytest.raises(UserError, match="MLP neurons"):
        require(small("lstm"), NEURONS, "the neuron atlas")


def test_a_planted_lstm_layer_outputs_the_hand_computed_values():
    cfg = LSTMConfig(n_layers=1, d_model=2, d_hidden=1)
    model = build_model(cfg).eval()
    rng = np.random.default_rng(0)
    w_ih, w_hh = rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    b = rng.normal(size=4)
    w_out = np.array([[1.5], [-0.5]])
    with torch.no_grad():
        block = model.blocks[0]
        block.lstm.weight_ih_l0.copy_(torch.tensor(w_ih))
        block.lstm.weight_hh_l0.copy_(torch.tensor(w_hh))
        block.lstm.bias_ih_l0.copy_(torch.tensor(b))
        block.lstm.bias_hh_l0.zero_()
        block.out.weight.copy_(torch.tensor(w_out))
        block.out.bias.zero_()
    tokens = torch.tensor([[5, 17, 40]])
    _, cache = model.run_with_cache(tokens, [act_name("resid_pre", 0), "blocks.0.hook_mixer_out"])
    x = cache[act_name("resid_pre", 0)][0].double().numpy()
    normed = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    h, c, expected = np.zeros(1), np.zeros(1), []
    for t in range(3):  # PyTorch's gate order: input, forget, cell, output
        gates = w_ih @ normed[t] + w_hh @ h + b
        i, f, g, o = sigmoid(gates[0]), sigmoid(gates[1]), np.tanh(gates[2]), sigmoid(gates[3])
        c = f * c + i * g
        h = o * np.tanh(c)
        expected.append(w_out @ h)
    got = cache["blocks.0.hook_mixer_out"][0].double().numpy()
    np.testing.assert_allclose(got, np.array(expected), atol=1e-6)


def test_a_planted_mamba_layer_outputs_the_hand_computed_values():
    pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    cfg = MambaConfig(n_layers=1, d_model=1, d_state=2, expand=1, d_conv=2)
    model = build_model(cfg).eval()
    s6 = model.blocks[0].mixer
    rng = np.random.default_rng(1)
    w_in = rng.normal(size=(2, 1))  # -> x, z
    conv_w, conv_b = rng.normal(size=2), 0.3
    w_x = rng.normal(size=(1 + 2 * 2, 1))  # -> dt (rank 1), B (2), C (2)
    w_dt, b_dt = 0.7, -0.2
    a = np.array([-1.0, -2.5])
    d_skip, w_out = 0.4, 1.3
    with torch.no_grad():
        s6.in_proj.weight.copy_(torch.tensor(w_in))
        s6.conv1d.weight.copy_(torch.tensor(conv_w).view(1, 1, 2))
        s6.conv1d.bias.fill_(conv_b)
        s6.x_proj.weight.copy_(torch.tensor(w_x))
        s6.dt_proj.weight.fill_(w_dt)
        s6.dt_proj.bias.fill_(b_dt)
        s6.A_log.copy_(torch.tensor(np.log(-a)).view(1, 2))
        s6.D.fill_(d_skip)
        s6.out_proj.weight.fill_(w_out)
        model.blocks[0].norm.weight.fill_(1.0)
    tokens = torch.tensor([[5, 17, 40, 2]])
    names = [act_name("resid_pre", 0), "blocks.0.hook_mixer_out"]
    _, cache = model.run_with_cache(tokens, names)
    u = cache[names[0]][0, :, 0].double().numpy()
    u = u / np.sqrt(u**2 + 1e-5)  # RMSNorm of a width-1 stream
    silu = lambda v: v * sigmoid(v)  # noqa: E731
    xs, zs = w_in[0, 0] * u, w_in[1, 0] * u
    h, prev, expected = np.zeros(2), 0.0, []
    for t in range(4):
        conv = silu(conv_w[0] * prev + conv_w[1] * xs[t] + conv_b)  # causal, kernel 2
        prev = xs[t]
        dt_raw, b_in, c_out = w_x[0, 0] * conv, w_x[1:3, 0] * conv, w_x[3:5, 0] * conv
        delta = math.log1p(math.exp(w_dt * dt_raw + b_dt))
        h = np.exp(delta * a) * h + delta * b_in * conv
        y = c_out @ h + d_skip * conv
        expected.append(w_out * y * silu(zs[t]))
    got = cache["blocks.0.hook_mixer_out"][0, :, 0].double().numpy()
    np.testing.assert_allclose(got, np.array(expected), atol=1e-5)


@pytest.mark.parametrize("kind", ["gpt", "lstm", "mamba"])
def test_each_kind_saves_and_loads_and_refuses_another(kind, tmp_path):
    model = small(kind)
    save_model(model, tmp_path / "model.pt")
    again = load_model_file(tmp_path, kind=kind)
    assert type(again) is type(model) and again.cfg == model.cfg
    tokens = torch.randint(1, 61, (3, 20))
    with torch.no_grad():
        assert torch.equal(model(tokens), again(tokens))
    other = "lstm" if kind != "lstm" else "gpt"
    with pytest.raises(UserError, match=f"a {kind} model, not a {other} one"):
        load_model_file(tmp_path, kind=other)


def test_weights_of_another_shape_than_the_config_are_refused(tmp_path):
    model = small("lstm")
    payload = {"config": LSTMConfig(n_layers=2, d_model=24).to_dict(), "model": model.state_dict()}
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(UserError, match="do not fit its lstm config"):
        load_model_file(tmp_path)
    torch.save({**payload, "config": {"kind": "gru"}}, tmp_path / "model.pt")
    with pytest.raises(UserError, match=r"model\.pt: unknown model kind 'gru'"):
        load_model_file(tmp_path)  # the file is named, and the kinds to choose from
    torch.save({"weights": model.state_dict()}, tmp_path / "model.pt")
    with pytest.raises(UserError, match=r"model\.pt: not a model file of ours"):
        load_model_file(tmp_path)


@pytest.mark.parametrize("kind", ["gpt", "lstm", "mamba"])
def test_every_kind_has_the_residual_hooks_and_decodes_as_it_runs(kind):
    model = small(kind)
    tokens = torch.randint(1, 61, (4, 30))
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, list(resid_hooks(2).values()))
        assert all(a.shape == (4, 30, 16) for a in cache.values()) and len(cache) == 3
        lengths = torch.tensor([30, 7, 18, 1])
        state = model.new_cache(4)
        prefill = model.prefill(tokens, state, lengths)
        inside = torch.arange(30)[None] < lengths[:, None]
        torch.testing.assert_close(prefill[inside], logits[inside], atol=1e-5, rtol=0)
        seen = []
        with model.hooks([(act_name("resid_pre", 1), lambda x, _: seen.append(x.shape) or x)]):
            model.prefill(tokens, model.new_cache(4), lengths)
        assert seen == [torch.Size([4, 30, 16])]  # hooks fire as in the forward pass, once
        state = state.select(torch.tensor([1, 1, 2]))  # rows repeat
        rows, at = torch.tensor([1, 1, 2]), torch.tensor([7, 7, 18])
        for _ in range(5):  # several steps on, each equal to the forward pass
            step = model.step(tokens[rows, at], at, state)
            torch.testing.assert_close(step, logits[rows, at], atol=1e-5, rtol=0)
            at = at + 1
        fresh = model.new_cache(1)  # row 0 of another prefill joins slot 1 by write
        model.prefill(tokens[3:, :25], fresh)
        state.write(torch.tensor([1]), fresh, torch.tensor([0]))
        games, at = torch.tensor([1, 3, 2]), torch.tensor([12, 25, 23])
        step = model.step(tokens[games, at], at, state)
        torch.testing.assert_close(step, logits[games, at], atol=1e-5, rtol=0)
    one_row = model.new_cache(1)
    tensors = [*one_row.keys, *one_row.values] if kind == "gpt" else sum(one_row.layers, [])
    assert model.cache_row_bytes() == sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("kind", ["lstm", "mamba"])
def test_an_edit_reaches_later_positions_of_a_recurrent_model_and_not_earlier(kind):
    model = small(kind)
    if kind == "mamba":  # a state that does not decay (A near 0) and is read strongly (B, C
        with torch.no_grad():  # from a larger x_proj), so the edit is carried far
            for block in model.blocks:
                block.mixer.A_log.fill_(-10.0)
                block.mixer.x_proj.weight.mul_(30.0)
    tokens = torch.randint(1, 61, (2, 25))
    direction = torch.randn(16)

    def push(x, hook):
        x = x.clone()
        x[:, 10] += 5.0 * direction
        return x

    with torch.no_grad():
        before = model(tokens)
        after = model.run_with_hooks(tokens, [(act_name("resid_pre", 1), push)])
    change = (after - before).abs().amax(-1)  # [batch, pos]
    assert (change[:, :10] == 0).all()
    assert (change[:, 10:] > 1e-6).all()  # position 10 and every later one, through the state


def test_the_selective_scan_equals_mambapys_in_values_and_gradients():
    pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    from mambapy.mamba import MambaBlock
    from mambapy.mamba import MambaConfig as S6Config

    from othello.model.mamba import S6Block

    torch.manual_seed(0)
    cfg = S6Config(d_model=8, n_layers=1, d_state=4, expand_factor=2, d_conv=3)
    theirs = MambaBlock(cfg).double()
    ours = S6Block(cfg).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 11, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 11, 8, dtype=torch.float64)
    grads = []
    for block in (theirs, ours):
        out = block(x)
        grads.append(torch.autograd.grad((out * weight).sum(), [x, *block.parameters()]))
        grads[-1] = (out.detach(), *grads[-1])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("kind", ["lstm", "mamba"])
def test_each_recurrent_kind_trains_under_bf16_autocast_like_float32(kind):
    """The paper presets train with bf16 autocast on a GPU; the CPU's autocast checks the same
    path: Mamba's scan runs in float32 inside it, so its gradients follow float32's."""
    tokens = torch.randint(1, 61, (4, 30))

    def gradient(autocast: bool) -> torch.Tensor:
        model = small(kind).train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            model(tokens).float().logsumexp(-1).mean().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    exact, mixed = gradient(False), gradient(True)
    assert torch.isfinite(mixed).all()
    assert torch.nn.functional.cosine_similarity(exact, mixed, dim=0) > 0.99
