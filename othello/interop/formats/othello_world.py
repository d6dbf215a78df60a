"""Li et al.'s ``othello_world`` (minGPT) checkpoints.

``tok_emb``, ``pos_emb`` [1, n_ctx, d], blocks with ``attn.{query,key,value,proj}``,
``mlp.0`` / ``mlp.2``, ``ln_f`` and a ``head`` without bias; saved plain or from
``DataParallel`` (keys prefixed ``module.``), with or without the ``attn.mask`` buffer. The
weights do not hold the head count: Li et al. used 8.
"""

from __future__ import annotations

import torch

from othello.interop.formats.table import (
    CheckpointFormatError,
    Rule,
    Tensor,
    build_gpt,
    check_vocab,
    drop_buffers,
    gpt_config,
    n_blocks,
    same,
    to_ours,
)
from othello.model.gpt import GPT
from othello.model.hooks import block_prefix

LI_ET_AL_HEADS = 8  # othello_world's default; its weights cannot tell


def _qkv(x: str) -> Rule:
    """Our fused query/key/value ``x`` (weight or bias): minGPT's three, stacked."""
    names = tuple(f"{{p}}attn.{name}.{x}" for name in ("query", "key", "value"))
    return Rule(names, lambda cfg, t: torch.cat(t), lambda cfg, w: list(w.split(cfg.d_model)))


LAYOUT = {
    "pos_embed": Rule(("pos_emb",), lambda cfg, t: t[0][0], lambda cfg, x: [x[None]]),
    "embed.weight": same("tok_emb.weight"),
    **{
        f"{norm}.{x}": same(f"{{p}}{norm}.{x}")
        for norm in ("ln1", "ln2")
        for x in ("weight", "bias")
    },
    **{f"attn.qkv.{x}": _qkv(x) for x in ("weight", "bias")},
    **{f"attn.out.{x}": same(f"{{p}}attn.proj.{x}") for x in ("weight", "bias")},
    **{f"mlp.fc_in.{x}": same(f"{{p}}mlp.0.{x}") for x in ("weight", "bias")},
    **{f"mlp.fc_out.{x}": same(f"{{p}}mlp.2.{x}") for x in ("weight", "bias")},
    "ln_final.weight": same("ln_f.weight"),
    "ln_final.bias": same("ln_f.bias"),
    "unembed.weight": same("head.weight"),
    "unembed.bias": same("head.bias", default=lambda cfg: torch.zeros(cfg.vocab_size)),
}


def from_othello_world(state: dict[str, Tensor], n_heads: int = LI_ET_AL_HEADS) -> GPT:
    """A model from a minGPT state dict of Li et al.'s ``othello_world``."""
    state = drop_buffers({k.removeprefix("module."): v for k, v in state.items()})
    for key in ("tok_emb.weight", "pos_emb", block_prefix(0) + "mlp.0.weight"):
        if key not in state:
            raise CheckpointFormatError(f"missing tensor {key!r}")
    vocab, d_model = state["tok_emb.weight"].shape
    check_vocab(vocab)
    cfg = gpt_config(
        n_blocks(state),
        d_model,
        n_heads,
        state[block_prefix(0) + "mlp.0.weight"].shape[0],
        state["pos_emb"].shape[1],
    )
    return build_gpt(cfg, to_ours(state, LAYOUT, cfg))
