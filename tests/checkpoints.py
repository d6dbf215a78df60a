"""Random state dicts in the published checkpoints' layouts, for the interop and analyze tests."""

from __future__ import annotations

import torch


def _rand(seed, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    return lambda *shape: torch.randn(*shape, generator=g) * scale


def random_tl_state(
    n_layers=2, d=32, h=4, d_mlp=96, n_ctx=59, norm="LN", seed=0, scale=0.3
) -> dict:
    """A HookedTransformer state dict of random weights, as TransformerLens saves it
    (buffers included); ``norm="LNPre"`` has no LayerNorm weights, as the published file."""
    r = _rand(seed, scale)
    dh = d // h
    sd = {
        "embed.W_E": r(61, d),
        "pos_embed.W_pos": r(n_ctx, d),
        "unembed.W_U": r(d, 61),
        "unembed.b_U": r(61),
    }
    if norm == "LN":
        sd |= {"ln_final.w": 1 + r(d), "ln_final.b": r(d)}
    for layer in range(n_layers):
        p = f"blocks.{layer}."
        if norm == "LN":
            sd |= {p + "ln1.w": 1 + r(d), p + "ln1.b": r(d), p + "ln2.w": 1 + r(d)}
            sd |= {p + "ln2.b": r(d)}
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
            p + "attn.mask": torch.ones(n_ctx, n_ctx).tril().bool(),
            p + "attn.IGNORE": torch.tensor(-1e5),
        }
    return sd


def random_mingpt_state(n_layers=2, d=32, d_mlp=128, n_ctx=59, seed=3) -> dict:
    r = _rand(seed)
    sd = {
        "tok_emb.weight": r(61, d),
        "pos_emb": r(1, n_ctx, d),
        "ln_f.weight": 1 + r(d),
        "ln_f.bias": r(d),
        "head.weight": r(61, d),
    }
    for layer in range(n_layers):
        p = f"blocks.{layer}."
        for norm in ("ln1", "ln2"):
            sd[p + f"{norm}.weight"], sd[p + f"{norm}.bias"] = 1 + r(d), r(d)
        for name in ("key", "query", "value", "proj"):
            sd[p + f"attn.{name}.weight"], sd[p + f"attn.{name}.bias"] = r(d, d), r(d)
        sd[p + "mlp.0.weight"], sd[p + "mlp.0.bias"] = r(d_mlp, d), r(d_mlp)
        sd[p + "mlp.2.weight"], sd[p + "mlp.2.bias"] = r(d, d_mlp), r(d)
        sd[p + "attn.mask"] = torch.ones(n_ctx, n_ctx).tril().view(1, 1, n_ctx, n_ctx)
    return sd
