"""TransformerLens ``HookedTransformer`` state dicts (Nanda's Othello-GPT,
``synthetic_model.pth``), read into our GPT and written from it.

``embed.W_E``, ``pos_embed.W_pos``, per-head ``attn.W_Q/W_K/W_V`` [heads, d_model, d_head] and
``W_O`` [heads, d_head, d_model], ``mlp.W_in/W_out``, ``unembed.W_U``. With
``normalization_type="LN"`` it has ``ln1/ln2/ln_final.w/b``; with ``"LNPre"`` (LayerNorm
weights folded into the next matrices, as the published file is) it has none, and a LayerNorm
of scale 1 and shift 0 (eps 1e-5) computes exactly what LNPre does. ``unembed.b_U`` may be
absent (the minGPT-converted form) and the ``attn.mask`` / ``attn.IGNORE`` buffers present or
not.
"""

from __future__ import annotations

import torch

from othello.common.errors import UserError
from othello.interop.formats.table import (
    CheckpointFormatError,
    Rule,
    Tensor,
    build_gpt,
    check_vocab,
    drop_buffers,
    from_ours,
    gpt_config,
    n_blocks,
    same,
    to_ours,
    transposed,
)
from othello.model.gpt import GPT
from othello.model.hooks import block_prefix

LN_EPS = 1e-5  # TransformerLens's and torch's default, which our LayerNorm uses
NORMS = ("ln1", "ln2", "ln_final")


def _qkv_weight() -> Rule:
    """Our fused [3 d_model, d_model] from W_Q, W_K, W_V [heads, d_model, d_head]: each one's
    rows are (head, d_head)."""

    def read(cfg, t):
        return torch.cat([w.transpose(1, 2).reshape(cfg.d_model, cfg.d_model) for w in t])

    def write(cfg, x):
        shape = (cfg.n_heads, cfg.d_head, cfg.d_model)
        return [w.reshape(shape).transpose(1, 2).contiguous() for w in x.split(cfg.d_model)]

    return Rule(tuple(f"{{p}}attn.W_{x}" for x in "QKV"), read, write)


def _qkv_bias() -> Rule:
    def write(cfg, x):
        return [b.reshape(cfg.n_heads, cfg.d_head) for b in x.split(cfg.d_model)]

    names = tuple(f"{{p}}attn.b_{x}" for x in "QKV")
    return Rule(names, lambda cfg, t: torch.cat([b.reshape(-1) for b in t]), write)


def _out_weight() -> Rule:
    """Our [d_model, d_model] output projection from W_O [heads, d_head, d_model]."""

    def write(cfg, x):
        return [x.T.reshape(cfg.n_heads, cfg.d_head, cfg.d_model).contiguous()]

    return Rule(("{p}attn.W_O",), lambda cfg, t: t[0].reshape(cfg.d_model, cfg.d_model).T, write)


LAYOUT = {
    "pos_embed": same("pos_embed.W_pos"),
    "embed.weight": same("embed.W_E"),
    **{f"{n}.weight": same(f"{{p}}{n}.w") for n in ("ln1", "ln2")},
    **{f"{n}.bias": same(f"{{p}}{n}.b") for n in ("ln1", "ln2")},
    "attn.qkv.weight": _qkv_weight(),
    "attn.qkv.bias": _qkv_bias(),
    "attn.out.weight": _out_weight(),
    "attn.out.bias": same("{p}attn.b_O"),
    "mlp.fc_in.weight": transposed("{p}mlp.W_in"),
    "mlp.fc_in.bias": same("{p}mlp.b_in"),
    "mlp.fc_out.weight": transposed("{p}mlp.W_out"),
    "mlp.fc_out.bias": same("{p}mlp.b_out"),
    "ln_final.weight": same("ln_final.w"),
    "ln_final.bias": same("ln_final.b"),
    "unembed.weight": transposed("unembed.W_U"),
    "unembed.bias": same("unembed.b_U", default=lambda cfg: torch.zeros(cfg.vocab_size)),
}
# LNPre: no LayerNorm tensors; scale 1 and shift 0 stand in (read only: we write LN)
FOLDED = LAYOUT | {
    f"{n}.{x}": Rule((), lambda cfg, t, fill=fill: fill(cfg.d_model), None)
    for n in NORMS
    for x, fill in (("weight", torch.ones), ("bias", torch.zeros))
}


def from_transformer_lens(state: dict[str, Tensor]) -> GPT:
    """A model from a TransformerLens ``HookedTransformer`` state dict (LN or LNPre, standard
    positional embeddings, GELU: the Othello-GPT configuration)."""
    state = drop_buffers(dict(state))
    if "embed.W_E" not in state or block_prefix(0) + "attn.W_Q" not in state:
        raise CheckpointFormatError("missing tensor 'embed.W_E' or 'blocks.0.attn.W_Q'")
    vocab, d_model = state["embed.W_E"].shape
    check_vocab(vocab)
    n_heads, _, d_head = state[block_prefix(0) + "attn.W_Q"].shape
    if n_heads * d_head != d_model:
        raise CheckpointFormatError(
            f"{n_heads} heads of width {d_head} do not fill d_model {d_model}; this GPT "
            "needs n_heads * d_head == d_model"
        )
    if block_prefix(0) + "mlp.W_in" not in state or "pos_embed.W_pos" not in state:
        raise CheckpointFormatError("missing tensor 'blocks.0.mlp.W_in' or 'pos_embed.W_pos'")
    cfg = gpt_config(
        n_blocks(state),
        d_model,
        n_heads,
        state[block_prefix(0) + "mlp.W_in"].shape[1],
        state["pos_embed.W_pos"].shape[0],
    )
    layout = LAYOUT if "ln_final.w" in state else FOLDED  # LNPre: scales in the next matrices
    return build_gpt(cfg, to_ours(state, layout, cfg))


def installed_attn_mask() -> str:
    """The attention mask buffer the installed TransformerLens's ``HookedTransformer`` keeps:
    ``"empty"`` ([0, 0]: 3.1 and 3.3 on; also when none is installed, or 4.x, which has no
    ``HookedTransformerConfig``) or ``"causal"`` ([n_ctx, n_ctx]: 2.x, 3.0 and 3.2, which
    circuit-tracer 0.5 resolves to), read off one small attention module it builds."""
    try:
        from transformer_lens import HookedTransformerConfig
        from transformer_lens.components import Attention
    except ImportError:
        return "empty"
    cfg = HookedTransformerConfig(n_layers=1, d_model=8, d_head=4, n_heads=2, n_ctx=4,
                                  d_vocab=4, act_fn="gelu")  # fmt: skip
    return "empty" if Attention(cfg).mask.numel() == 0 else "causal"


def to_transformer_lens(model: GPT, attn_mask: str = "auto") -> tuple[dict[str, Tensor], dict]:
    """Our model as a TransformerLens state dict and ``HookedTransformerConfig`` keywords that
    ``HookedTransformer(HookedTransformerConfig(**cfg)).load_state_dict(sd, strict=True)``
    accepts as is.

    ``attn_mask`` says which attention buffers to include: ``"empty"`` for TransformerLens
    3.1 and 3.3 on (a [0, 0] ``mask``; the causal mask is built at run time), ``"causal"`` for
    2.x, 3.0 and 3.2 (an [n_ctx, n_ctx] lower-triangular ``mask``), ``"auto"`` the installed
    version's own (:func:`installed_attn_mask`). Both hold ``IGNORE = -inf``.
    """
    if attn_mask == "auto":
        attn_mask = installed_attn_mask()
    if attn_mask not in ("empty", "causal"):
        raise UserError(f"attn_mask must be 'auto', 'empty' or 'causal', got {attn_mask!r}")
    cfg = model.cfg
    mask = (
        torch.ones(cfg.n_ctx, cfg.n_ctx).tril().bool()
        if attn_mask == "causal"
        else torch.empty((0, 0), dtype=torch.bool)
    )
    out = from_ours(model.state_dict(), LAYOUT, cfg)
    for layer in range(cfg.n_layers):
        out[f"{block_prefix(layer)}attn.mask"] = mask.clone()
        out[f"{block_prefix(layer)}attn.IGNORE"] = torch.tensor(-torch.inf)
    config = {
        "n_layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "d_head": cfg.d_head,
        "n_heads": cfg.n_heads,
        "d_mlp": cfg.mlp_width,
        "d_vocab": cfg.vocab_size,
        "d_vocab_out": cfg.vocab_size,
        "n_ctx": cfg.n_ctx,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "eps": LN_EPS,
        "positional_embedding_type": "standard",
    }
    return out, config
