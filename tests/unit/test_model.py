"""The GPT: shapes, causality and hooks (interop with published layouts: test_interop.py)."""

from __future__ import annotations

import pytest
import torch

from othello.model.gpt import GPT, Frozen, GPTConfig
from othello.model.hooked import freeze
from othello.model.hooks import FINAL_SCALE, act_name, block_hooks, frozen_hooks

CFG = GPTConfig(n_layers=2, d_model=32, n_heads=4, n_ctx=59)


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG).eval()


def tokens(batch: int = 3, n: int = 59) -> torch.Tensor:
    return torch.randint(1, 61, (batch, n), generator=torch.Generator().manual_seed(1))


def test_shapes_and_context_limit(model):
    assert model(tokens()).shape == (3, 59, 61)
    assert model(tokens(2, 10)).shape == (2, 10, 61)
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.ones(1, 60, dtype=torch.long))


def test_later_moves_never_change_earlier_logits(model):
    x = tokens()
    y = x.clone()
    y[:, 30:] = torch.randint(1, 61, y[:, 30:].shape)
    assert torch.allclose(model(x)[:, :30], model(y)[:, :30], atol=1e-6)
    changed = (model(x)[:, 30:] - model(y)[:, 30:]).abs().amax(-1)  # [batch, positions]
    assert (changed > 1e-3).all()  # from the first changed move on, every prediction moves


def test_cache_holds_every_named_hook_with_the_right_values(model):
    x = tokens()
    logits, cache = model.run_with_cache(x)
    expected = {"hook_embed", "hook_pos_embed", "ln_final.hook_normalized", FINAL_SCALE}
    for layer in range(CFG.n_layers):
        expected |= {
            f"blocks.{layer}.{name}"
            for name in (
                "hook_resid_pre",
                "hook_attn_out",
                "hook_resid_mid",
                "hook_mlp_in",
                "hook_mlp_out",
                "hook_resid_post",
                "attn.hook_pattern",
                "mlp.hook_post",
                "ln1.hook_normalized",
                "ln1.hook_scale",
                "ln2.hook_scale",
            )
        }
    assert expected <= set(cache)
    assert torch.allclose(logits, model(x), atol=1e-5)  # reading the pattern changes nothing
    # residual bookkeeping: pre + attn_out = mid, mid + mlp_out = post = next pre
    b0, b1 = "blocks.0.", "blocks.1."
    assert torch.allclose(
        cache[b0 + "hook_resid_pre"], cache["hook_embed"] + cache["hook_pos_embed"]
    )
    assert torch.allclose(
        cache[b0 + "hook_resid_pre"] + cache[b0 + "hook_attn_out"],
        cache[b0 + "hook_resid_mid"],
        atol=1e-6,
    )
    assert torch.allclose(
        cache[b0 + "hook_resid_mid"] + cache[b0 + "hook_mlp_out"],
        cache[b0 + "hook_resid_post"],
        atol=1e-6,
    )
    assert torch.equal(cache[b0 + "hook_resid_post"], cache[b1 + "hook_resid_pre"])
    pattern = cache[b0 + "attn.hook_pattern"]
    assert pattern.shape == (3, 4, 59, 59)
    assert torch.allclose(pattern.sum(-1), torch.ones(3, 4, 59), atol=1e-5)
    assert (pattern.triu(1) == 0).all()
    unembedded = model.unembed(
        cache["ln_final.hook_normalized"] * model.ln_final.weight + model.ln_final.bias
    )
    assert torch.allclose(unembedded, logits, atol=1e-5)


def test_hooks_edit_what_they_say(model):
    x = tokens()
    clean = model(x)
    zeroed = model.run_with_hooks(x, [("blocks.1.hook_mlp_out", lambda a, hook: a * 0)])
    _, cache = model.run_with_cache(x)
    post = cache["blocks.1.hook_resid_mid"]
    expected = model.unembed(model.ln_final(post))
    assert torch.allclose(zeroed, expected, atol=1e-5)
    assert not torch.allclose(zeroed, clean)
    # a hook that returns None only reads; hooks are gone after the call
    seen = []
    model.run_with_hooks(x, [("blocks.0.hook_resid_pre", lambda a, hook: seen.append(hook.name))])
    assert seen == ["blocks.0.hook_resid_pre"]
    assert all(not hp.fns for hp in model.hook_points.values())
    assert torch.allclose(model(x), clean)
    with pytest.raises(KeyError, match="no hook point"):
        model.run_with_hooks(x, [("blocks.9.hook_resid_pre", lambda a, hook: a)])


def test_editing_the_attention_pattern_takes_effect(model):
    x = tokens()
    uniform = torch.tril(torch.ones(59, 59))
    uniform = uniform / uniform.sum(-1, keepdim=True)
    edited = model.run_with_hooks(
        x, [("blocks.0.attn.hook_pattern", lambda p, hook: uniform.expand_as(p))]
    )
    # the same model with block 0's attention output computed by hand from that pattern
    _, cache = model.run_with_cache(x, ["blocks.0.ln1.hook_normalized"])
    attn = model.blocks[0].attn
    ln1 = model.blocks[0].ln1
    normed = cache["blocks.0.ln1.hook_normalized"] * ln1.weight + ln1.bias
    v = attn.qkv(normed).split(CFG.d_model, dim=2)[2].view(3, 59, CFG.n_heads, -1)
    z = torch.einsum("qk,bkhd->bqhd", uniform, v).reshape(3, 59, CFG.d_model)
    by_hand = model.run_with_hooks(x, [("blocks.0.hook_attn_out", lambda a, hook: attn.out(z))])
    assert torch.allclose(edited, by_hand, atol=1e-6)
    assert (edited - model(x)).abs().max() > 1e-4  # 100x the tolerance: a real change


def test_scale_hooks_hold_sqrt_var_plus_eps_and_reading_them_changes_nothing(model):
    """TransformerLens's ``hook_scale``: [batch, pos, 1], the divisor of the centred input of
    each LayerNorm; the fused LayerNorm still runs, so the logits are the same to the bit."""
    x = tokens()
    inputs = {
        act_name("ln1_scale", 1): act_name("resid_pre", 1),
        FINAL_SCALE: "blocks.1.hook_resid_post",
    }
    inputs[act_name("ln2_scale", 0)] = act_name("mlp_in", 0)
    logits, cache = model.run_with_cache(x, list(inputs) + list(inputs.values()))
    assert torch.equal(logits, model(x))
    for scale, stream in inputs.items():
        s = cache[scale]
        assert s.shape == (3, 59, 1)
        expected = (cache[stream].var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
        torch.testing.assert_close(s, expected, atol=1e-6, rtol=0)
        assert (s - 1).abs().max() > 1e-2  # not a LayerNorm of an already-normalised stream


def test_mlp_in_is_the_mlps_input_and_an_edit_there_reaches_the_mlp_alone(model):
    """As in TransformerLens: ``hook_mlp_in`` is resid_mid before ln2; the residual stream
    past the MLP keeps the unedited resid_mid."""
    x = tokens()
    names = block_hooks("resid_mid", 2) + block_hooks("mlp_in", 2) + block_hooks("mlp_out", 2)
    names.append(act_name("resid_post", 0))
    _, cache = model.run_with_cache(x, names)
    assert cache["blocks.0.hook_mlp_in"].shape == (3, 59, CFG.d_model)
    assert torch.equal(cache["blocks.0.hook_mlp_in"], cache["blocks.0.hook_resid_mid"])
    with model.hooks([(act_name("mlp_in", 0), lambda a, hook: a * 0)]):
        _, edited = model.run_with_cache(x, names)
    block = model.blocks[0]
    zero_in = block.mlp(block.ln2(torch.zeros(CFG.d_model)))  # the MLP of a zero input
    torch.testing.assert_close(edited["blocks.0.hook_mlp_out"], zero_in.expand(3, 59, -1))
    torch.testing.assert_close(
        edited["blocks.0.hook_resid_post"],
        edited["blocks.0.hook_resid_mid"] + edited["blocks.0.hook_mlp_out"],
    )
    assert torch.equal(edited["blocks.0.hook_resid_mid"], cache["blocks.0.hook_resid_mid"])


def own_values(model: GPT, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return model.run_with_cache(x, frozen_hooks(CFG.n_layers))[1]


def test_a_block_frozen_at_its_own_values_computes_the_same(model):
    x = tokens()
    names = [act_name("resid_pre", 1), act_name("resid_post", 1)] + frozen_hooks(CFG.n_layers)
    logits, cache = model.run_with_cache(x, names)
    frozen = Frozen(*(cache[act_name(n, 1)] for n in ("ln1_scale", "pattern", "ln2_scale")))
    out = model.blocks[1](cache["blocks.1.hook_resid_pre"], frozen=frozen)
    torch.testing.assert_close(out, cache["blocks.1.hook_resid_post"], atol=1e-6, rtol=0)
    # the whole model through hooks: the same logits with every scale and pattern frozen
    frozen_logits = model.run_with_hooks(x, freeze(frozen_hooks(CFG.n_layers), cache))
    torch.testing.assert_close(frozen_logits, logits, atol=1e-5, rtol=0)
    final = model.ln_final(cache["blocks.1.hook_resid_post"], cache[FINAL_SCALE])
    torch.testing.assert_close(final, model.ln_final(cache["blocks.1.hook_resid_post"]))


def test_with_scales_and_pattern_frozen_the_attention_sublayer_is_affine(model):
    """Frozen at x's values, x + attn(ln1(.)) is affine on other inputs (a second difference
    of zero), where the same sublayer computed afresh is not."""
    block, x = model.blocks[0], torch.randn(2, 59, CFG.d_model)
    values = own_values(model, tokens(2))
    scale, pattern = values["blocks.0.ln1.hook_scale"], values["blocks.0.attn.hook_pattern"]

    def sublayer(y: torch.Tensor, frozen: bool) -> torch.Tensor:
        if frozen:
            return y + block.attn(block.ln1(y, scale), pattern=pattern)
        return y + block.attn(block.ln1(y))

    d = torch.randn_like(x)
    for frozen, linear in ((True, True), (False, False)):
        second = sublayer(x + 2 * d, frozen) - 2 * sublayer(x + d, frozen) + sublayer(x, frozen)
        assert (second.abs().max() < 1e-4) == linear
    # frozen values are used, not recomputed: another input's pattern differs from its own
    assert (
        block.attn(block.ln1(x)) - block.attn(block.ln1(x, scale), pattern=pattern)
    ).abs().max() > 1e-2


def test_freezing_makes_the_model_linear_and_gradients_those_of_the_linear_model(model):
    """With every scale, pattern and MLP output frozen the logits are affine in the
    embeddings; freezing by detaching (the run's own values) gives that affine map's slope."""
    x = tokens(2)
    names = frozen_hooks(CFG.n_layers) + block_hooks("mlp_out", CFG.n_layers)
    _, values = model.run_with_cache(x, names + ["hook_embed"])
    d, w = torch.randn_like(values["hook_embed"]), torch.randn(2, 59, 61)

    def pushed(t: float) -> torch.Tensor:
        push = [("hook_embed", lambda e, hook: e + t * d)]
        return model.run_with_hooks(x, push + freeze(names, values))

    base, once, twice = pushed(0.0), pushed(1.0), pushed(2.0)
    torch.testing.assert_close(twice - base, 2 * (once - base), atol=1e-4, rtol=0)
    assert (
        pushed(1.0) - model.run_with_hooks(x, [("hook_embed", lambda e, h: e + d)])
    ).abs().max() > 1e-3
    embed = values["hook_embed"].clone().requires_grad_()
    with torch.enable_grad(), model.hooks([("hook_embed", lambda e, hook: embed)] + freeze(names)):
        logits = model(x)
        (logits * w).sum().backward()
    torch.testing.assert_close(logits, base, atol=1e-5, rtol=0)
    slope = ((once - base) * w).sum()
    torch.testing.assert_close((embed.grad * d).sum(), slope, atol=1e-3, rtol=1e-4)
