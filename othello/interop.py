"""Load the published Othello-GPT checkpoints into :class:`GPT`, and export ours.

* Li et al.'s ``othello_world`` (minGPT): ``tok_emb``, ``pos_emb`` [1, 59, d], blocks with
  ``attn.{query,key,value,proj}``, ``mlp.0`` / ``mlp.2``, ``ln_f`` and a bias-free ``head``.
* TransformerLens ``HookedTransformer`` (Nanda's Othello-GPT): ``embed.W_E``,
  ``pos_embed.W_pos``, per-head ``attn.W_Q/W_K/W_V`` [heads, d_model, d_head] and ``W_O``
  [heads, d_head, d_model], ``mlp.W_in/W_out``, ``ln_final.w/b``, ``unembed.W_U/b_U``.

Token ids need no remapping: both use 0 = padding and 1..60 = playable squares in ascending
index, and their square index equals ours (row-major with D4/E5 white and D5/E4 black at the
start). Only the *names* differ: they print the row as the letter, so their name of a square
is our name of its transpose (see :mod:`othello.tokens`). Files are read with
``weights_only=True``.
"""

from __future__ import annotations

import os

import torch

from othello.model import GPT, GPTConfig

Tensor = torch.Tensor


def _layers(state: dict[str, Tensor], prefix: str = "blocks.") -> int:
    return len({key.split(".")[1] for key in state if key.startswith(prefix)})


def _check_vocab(vocab: int) -> None:
    if vocab != 61:
        raise ValueError(f"checkpoint vocabulary has {vocab} tokens; Othello-GPT uses 61")


def from_othello_world(state: dict[str, Tensor], n_heads: int = 8) -> GPT:
    """A model from a minGPT state dict of Li et al.'s ``othello_world`` (heads are not
    recorded in the weights: the published models use 8)."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    vocab, d_model = state["tok_emb.weight"].shape
    _check_vocab(vocab)
    cfg = GPTConfig(
        n_layers=_layers(state),
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=state["blocks.0.mlp.0.weight"].shape[0],
        n_ctx=state["pos_emb"].shape[1],
    )
    ours = {
        "embed.weight": state["tok_emb.weight"],
        "pos_embed": state["pos_emb"][0],
        "ln_final.weight": state["ln_f.weight"],
        "ln_final.bias": state["ln_f.bias"],
        "unembed.weight": state["head.weight"],
        "unembed.bias": torch.zeros(vocab),
    }
    for layer in range(cfg.n_layers):
        src, dst = f"blocks.{layer}.", f"blocks.{layer}."
        for norm in ("ln1", "ln2"):
            for p in ("weight", "bias"):
                ours[f"{dst}{norm}.{p}"] = state[f"{src}{norm}.{p}"]
        for p in ("weight", "bias"):
            ours[f"{dst}attn.qkv.{p}"] = torch.cat(
                [state[f"{src}attn.{name}.{p}"] for name in ("query", "key", "value")]
            )
            ours[f"{dst}attn.out.{p}"] = state[f"{src}attn.proj.{p}"]
            ours[f"{dst}mlp.fc_in.{p}"] = state[f"{src}mlp.0.{p}"]
            ours[f"{dst}mlp.fc_out.{p}"] = state[f"{src}mlp.2.{p}"]
    return _build(cfg, ours)


def from_transformer_lens(state: dict[str, Tensor]) -> GPT:
    """A model from a TransformerLens ``HookedTransformer`` state dict (LN, standard
    positional embeddings, GELU: the Othello-GPT configuration)."""
    vocab, d_model = state["embed.W_E"].shape
    _check_vocab(vocab)
    n_heads, _, d_head = state["blocks.0.attn.W_Q"].shape
    cfg = GPTConfig(
        n_layers=_layers(state),
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=state["blocks.0.mlp.W_in"].shape[1],
        n_ctx=state["pos_embed.W_pos"].shape[0],
    )
    ours = {
        "embed.weight": state["embed.W_E"],
        "pos_embed": state["pos_embed.W_pos"],
        "ln_final.weight": state["ln_final.w"],
        "ln_final.bias": state["ln_final.b"],
        "unembed.weight": state["unembed.W_U"].T,
        "unembed.bias": state["unembed.b_U"],
    }
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}."
        for norm in ("ln1", "ln2"):
            ours[f"{p}{norm}.weight"] = state[f"{p}{norm}.w"]
            ours[f"{p}{norm}.bias"] = state[f"{p}{norm}.b"]
        # W_X [heads, d_model, d_head] -> rows (head, d_head) of a Linear weight
        ours[f"{p}attn.qkv.weight"] = torch.cat(
            [state[f"{p}attn.W_{x}"].transpose(1, 2).reshape(d_model, d_model) for x in "QKV"]
        )
        ours[f"{p}attn.qkv.bias"] = torch.cat([state[f"{p}attn.b_{x}"].reshape(-1) for x in "QKV"])
        ours[f"{p}attn.out.weight"] = state[f"{p}attn.W_O"].reshape(d_model, d_model).T
        ours[f"{p}attn.out.bias"] = state[f"{p}attn.b_O"]
        ours[f"{p}mlp.fc_in.weight"] = state[f"{p}mlp.W_in"].T
        ours[f"{p}mlp.fc_in.bias"] = state[f"{p}mlp.b_in"]
        ours[f"{p}mlp.fc_out.weight"] = state[f"{p}mlp.W_out"].T
        ours[f"{p}mlp.fc_out.bias"] = state[f"{p}mlp.b_out"]
    return _build(cfg, ours)


def to_transformer_lens(model: GPT) -> tuple[dict[str, Tensor], dict]:
    """Our model as a TransformerLens state dict and ``HookedTransformerConfig`` keywords."""
    cfg = model.cfg
    d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {
        "embed.W_E": sd["embed.weight"],
        "pos_embed.W_pos": sd["pos_embed"],
        "ln_final.w": sd["ln_final.weight"],
        "ln_final.b": sd["ln_final.bias"],
        "unembed.W_U": sd["unembed.weight"].T.contiguous(),
        "unembed.b_U": sd["unembed.bias"],
    }
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}."
        for norm in ("ln1", "ln2"):
            out[f"{p}{norm}.w"] = sd[f"{p}{norm}.weight"]
            out[f"{p}{norm}.b"] = sd[f"{p}{norm}.bias"]
        weights = sd[f"{p}attn.qkv.weight"].split(d)
        biases = sd[f"{p}attn.qkv.bias"].split(d)
        for x, w, b in zip("QKV", weights, biases, strict=True):
            out[f"{p}attn.W_{x}"] = w.reshape(h, dh, d).transpose(1, 2).contiguous()
            out[f"{p}attn.b_{x}"] = b.reshape(h, dh)
        out[f"{p}attn.W_O"] = sd[f"{p}attn.out.weight"].T.reshape(h, dh, d).contiguous()
        out[f"{p}attn.b_O"] = sd[f"{p}attn.out.bias"]
        out[f"{p}mlp.W_in"] = sd[f"{p}mlp.fc_in.weight"].T.contiguous()
        out[f"{p}mlp.b_in"] = sd[f"{p}mlp.fc_in.bias"]
        out[f"{p}mlp.W_out"] = sd[f"{p}mlp.fc_out.weight"].T.contiguous()
        out[f"{p}mlp.b_out"] = sd[f"{p}mlp.fc_out.bias"]
    config = {
        "n_layers": cfg.n_layers,
        "d_model": d,
        "d_head": dh,
        "n_heads": h,
        "d_mlp": cfg.mlp_width,
        "d_vocab": cfg.vocab_size,
        "d_vocab_out": cfg.vocab_size,
        "n_ctx": cfg.n_ctx,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "positional_embedding_type": "standard",
    }
    return out, config


def _build(cfg: GPTConfig, state: dict[str, Tensor]) -> GPT:
    model = GPT(cfg)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def load_external(path: str | os.PathLike, kind: str, n_heads: int = 8) -> GPT:
    """Read a published checkpoint file (``othello_world`` or ``transformer_lens``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if kind == "othello_world":
        return from_othello_world(state, n_heads)
    if kind == "transformer_lens":
        return from_transformer_lens(state)
    raise ValueError(f"unknown checkpoint kind {kind!r}")
