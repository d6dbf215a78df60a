"""The GPT: shapes, causality, hooks, and interop with the published checkpoint layouts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from othello.interop import from_transformer_lens, to_transformer_lens
from othello.model import GPT, GPTConfig

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
    assert not torch.allclose(model(x)[:, 30:], model(y)[:, 30:])


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
    assert not torch.allclose(edited, model(x))


# --- independent forward passes over the foreign layouts ---------------------------------


def _ln(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b, 1e-5)


def _causal_softmax(scores):
    n = scores.shape[-1]
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)


def tl_forward(sd: dict, cfg: dict, toks: torch.Tensor) -> torch.Tensor:
    """TransformerLens's HookedTransformer forward, written out with einsums."""
    x = sd["embed.W_E"][toks] + sd["pos_embed.W_pos"][: toks.shape[1]]
    for layer in range(cfg["n_layers"]):
        p = f"blocks.{layer}."
        h = _ln(x, sd[p + "ln1.w"], sd[p + "ln1.b"])
        q = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_Q"]) + sd[p + "attn.b_Q"]
        k = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_K"]) + sd[p + "attn.b_K"]
        v = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_V"]) + sd[p + "attn.b_V"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(cfg["d_head"])
        z = torch.einsum("bhqk,bkhe->bqhe", _causal_softmax(scores), v)
        x = x + torch.einsum("bqhe,hed->bqd", z, sd[p + "attn.W_O"]) + sd[p + "attn.b_O"]
        h = _ln(x, sd[p + "ln2.w"], sd[p + "ln2.b"])
        x = x + F.gelu(h @ sd[p + "mlp.W_in"] + sd[p + "mlp.b_in"]) @ sd[p + "mlp.W_out"]
        x = x + sd[p + "mlp.b_out"]
    return _ln(x, sd["ln_final.w"], sd["ln_final.b"]) @ sd["unembed.W_U"] + sd["unembed.b_U"]


def mingpt_forward(sd: dict, n_heads: int, toks: torch.Tensor) -> torch.Tensor:
    """othello_world's minGPT forward, written out directly."""
    x = sd["tok_emb.weight"][toks] + sd["pos_emb"][0, : toks.shape[1]]
    n_layers = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    b, t, d = x.shape
    for layer in range(n_layers):
        p = f"blocks.{layer}."
        h = _ln(x, sd[p + "ln1.weight"], sd[p + "ln1.bias"])

        def heads(name, h=h, p=p):
            y = h @ sd[p + f"attn.{name}.weight"].T + sd[p + f"attn.{name}.bias"]
            return y.view(b, t, n_heads, d // n_heads).transpose(1, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        att = _causal_softmax(q @ k.transpose(-2, -1) / math.sqrt(d // n_heads))
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + y @ sd[p + "attn.proj.weight"].T + sd[p + "attn.proj.bias"]
        h = _ln(x, sd[p + "ln2.weight"], sd[p + "ln2.bias"])
        h = F.gelu(h @ sd[p + "mlp.0.weight"].T + sd[p + "mlp.0.bias"])
        x = x + h @ sd[p + "mlp.2.weight"].T + sd[p + "mlp.2.bias"]
    return _ln(x, sd["ln_f.weight"], sd["ln_f.bias"]) @ sd["head.weight"].T


def _random_tl_state(n_layers=2, d=32, h=4, d_mlp=128, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    dh = d // h
    sd = {
        "embed.W_E": r(61, d),
        "pos_embed.W_pos": r(59, d),
        "ln_final.w": 1 + r(d),
        "ln_final.b": r(d),
        "unembed.W_U": r(d, 61),
        "unembed.b_U": r(61),
    }
    for layer in range(n_layers):
        p = f"blocks.{layer}."
        sd |= {p + "ln1.w": 1 + r(d), p + "ln1.b": r(d), p + "ln2.w": 1 + r(d), p + "ln2.b": r(d)}
        for x in "QKV":
            sd[p + f"attn.W_{x}"] = r(h, d, dh)
            sd[p + f"attn.b_{x}"] = r(h, dh)
        sd |= {
            p + "attn.W_O": r(h, dh, d),
            p + "attn.b_O": r(d),
            p + "mlp.W_in": r(d, d_mlp),
            p + "mlp.b_in": r(d_mlp),
            p + "mlp.W_out": r(d_mlp, d),
            p + "mlp.b_out": r(d),
        }
        sd[p + "attn.mask"] = torch.ones(59, 59).tril().bool()  # buffers TL also saves
        sd[p + "attn.IGNORE"] = torch.tensor(-1e5)
    return {k: v for k, v in sd.items() if not k.endswith(("mask", "IGNORE"))}


def test_transformer_lens_state_dict_loads_and_matches(tmp_path):
    sd = _random_tl_state()
    model = from_transformer_lens(sd)
    x = tokens()
    cfg = {"n_layers": 2, "d_head": 8}
    assert torch.allclose(model(x), tl_forward(sd, cfg, x), atol=1e-4)


def test_export_to_transformer_lens_round_trips(model):
    x = tokens()
    sd, cfg = to_transformer_lens(model)
    assert cfg["d_vocab"] == 61 and cfg["n_ctx"] == 59 and cfg["act_fn"] == "gelu"
    assert sd["blocks.0.attn.W_Q"].shape == (4, 32, 8)
    assert torch.allclose(tl_forward(sd, cfg, x), model(x), atol=1e-4)
    again = from_transformer_lens(sd)
    assert torch.allclose(again(x), model(x), atol=1e-5)


def test_othello_world_state_dict_loads_and_matches(tmp_path):
    g = torch.Generator().manual_seed(3)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    d, layers = 32, 2
    sd = {
        "tok_emb.weight": r(61, d),
        "pos_emb": r(1, 59, d),
        "ln_f.weight": 1 + r(d),
        "ln_f.bias": r(d),
        "head.weight": r(61, d),
    }
    for layer in range(layers):
        p = f"blocks.{layer}."
        for norm in ("ln1", "ln2"):
            sd[p + f"{norm}.weight"], sd[p + f"{norm}.bias"] = 1 + r(d), r(d)
        for name in ("key", "query", "value", "proj"):
            sd[p + f"attn.{name}.weight"], sd[p + f"attn.{name}.bias"] = r(d, d), r(d)
        sd[p + "mlp.0.weight"], sd[p + "mlp.0.bias"] = r(4 * d, d), r(4 * d)
        sd[p + "mlp.2.weight"], sd[p + "mlp.2.bias"] = r(d, 4 * d), r(d)
    path = tmp_path / "gpt_synthetic.ckpt"
    torch.save(sd, path)
    from othello.interop import load_external

    model = load_external(path, "othello_world", n_heads=4)
    x = tokens()
    assert torch.allclose(model(x), mingpt_forward(sd, 4, x), atol=1e-4)
