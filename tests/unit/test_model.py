"""The GPT: shapes, causality and hooks (interop with published layouts: test_interop.py)."""

from __future__ import annotations

import pytest
import torch

from othello.model.gpt import GPT, GPTConfig

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
    expected = {"hook_embed", "hook_pos_embed", "ln_final.hook_normalized"}
    for layer in range(CFG.n_layers):
        expected |= {
            f"blocks.{layer}.{name}"
            for name in (
                "hook_resid_pre",
                "hook_attn_out",
                "hook_resid_mid",
                "hook_mlp_out",
                "hook_resid_post",
                "attn.hook_pattern",
                "mlp.hook_post",
                "ln1.hook_normalized",
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
