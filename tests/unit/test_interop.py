"""Published checkpoint layouts, checked against forward passes written out independently
here (the real TransformerLens library: test_interop_transformer_lens.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from checkpoints import random_mingpt_state, random_tl_state

from othello.interop.formats import (
    CheckpointFormatError,
    from_othello_world,
    from_transformer_lens,
    load_external,
    othello_world,
    to_transformer_lens,
    transformer_lens,
)
from othello.interop.formats.table import from_ours, rows, to_ours
from othello.model.gpt import GPT, GPTConfig


def tokens(batch: int = 3, n: int = 59) -> torch.Tensor:
    return torch.randint(1, 61, (batch, n), generator=torch.Generator().manual_seed(1))


def _ln(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b, 1e-5)


def _causal_softmax(scores):
    n = scores.shape[-1]
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)


def tl_forward(sd: dict, toks: torch.Tensor) -> torch.Tensor:
    """TransformerLens's HookedTransformer forward, written out with einsums; LNPre when the
    state has no LayerNorm weights, no unembedding bias when it has none."""
    n_layers = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    d_head = sd["blocks.0.attn.W_Q"].shape[-1]
    x = sd["embed.W_E"][toks] + sd["pos_embed.W_pos"][: toks.shape[1]]
    for layer in range(n_layers):
        p = f"blocks.{layer}."
        h = _ln(x, sd.get(p + "ln1.w"), sd.get(p + "ln1.b"))
        q = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_Q"]) + sd[p + "attn.b_Q"]
        k = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_K"]) + sd[p + "attn.b_K"]
        v = torch.einsum("bpd,hde->bphe", h, sd[p + "attn.W_V"]) + sd[p + "attn.b_V"]
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(d_head)
        z = torch.einsum("bhqk,bkhe->bqhe", _causal_softmax(scores), v)
        x = x + torch.einsum("bqhe,hed->bqd", z, sd[p + "attn.W_O"]) + sd[p + "attn.b_O"]
        h = _ln(x, sd.get(p + "ln2.w"), sd.get(p + "ln2.b"))
        x = x + F.gelu(h @ sd[p + "mlp.W_in"] + sd[p + "mlp.b_in"]) @ sd[p + "mlp.W_out"]
        x = x + sd[p + "mlp.b_out"]
    logits = _ln(x, sd.get("ln_final.w"), sd.get("ln_final.b")) @ sd["unembed.W_U"]
    return logits + sd["unembed.b_U"] if "unembed.b_U" in sd else logits


def mingpt_forward(sd: dict, n_heads: int, toks: torch.Tensor) -> torch.Tensor:
    """othello_world's minGPT forward, written out directly."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
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


@pytest.mark.parametrize("norm", ["LN", "LNPre"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("with_buffers", [True, False])
def test_transformer_lens_forms_load_and_match(norm, with_bias, with_buffers):
    sd = random_tl_state(norm=norm)
    if not with_bias:
        del sd["unembed.b_U"]
    if not with_buffers:
        sd = {k: v for k, v in sd.items() if not k.endswith(("mask", "IGNORE"))}
    model = from_transformer_lens(sd)
    x = tokens()
    assert (model(x) - tl_forward(sd, x)).abs().max() < 1e-4


def test_other_shapes_are_read_from_the_tensors(tmp_path):
    sd = random_tl_state(n_layers=3, d=48, h=6, d_mlp=80, n_ctx=40, norm="LNPre")
    path = tmp_path / "synthetic_model.pth"
    torch.save(sd, path)
    model = load_external(path, "transformer_lens")
    cfg = model.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.mlp_width, cfg.n_ctx) == (3, 48, 6, 80, 40)
    x = tokens(2, 40)
    assert (model(x) - tl_forward(sd, x)).abs().max() < 1e-4


def test_export_to_transformer_lens_round_trips():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4)).eval()
    x = tokens()
    sd, cfg = to_transformer_lens(model)
    assert cfg["d_vocab"] == 61 and cfg["n_ctx"] == 59 and cfg["act_fn"] == "gelu"
    assert sd["blocks.0.attn.W_Q"].shape == (4, 32, 8) and sd["blocks.0.attn.mask"].shape == (0, 0)
    assert to_transformer_lens(model, "causal")[0]["blocks.1.attn.mask"].shape == (59, 59)
    assert (tl_forward(sd, x) - model(x)).abs().max() < 1e-4
    again = from_transformer_lens(sd)
    assert (again(x) - model(x)).abs().max() < 1e-5


@pytest.mark.parametrize("prefixed", [False, True])
def test_othello_world_state_dict_loads_and_matches(tmp_path, prefixed):
    sd = random_mingpt_state()
    if prefixed:  # saved from DataParallel
        sd = {f"module.{k}": v for k, v in sd.items()}
    path = tmp_path / "gpt_synthetic.ckpt"
    torch.save(sd, path)
    model = load_external(path, "othello_world", n_heads=4)
    assert model.cfg.n_heads == 4 and model.cfg.mlp_width == 128
    x = tokens()
    assert (model(x) - mingpt_forward(sd, 4, x)).abs().max() < 1e-4
    # the head count is not in the weights: a wrong one loads but computes another model
    assert (load_external(path, "othello_world", n_heads=8)(x) - model(x)).abs().max() > 1e-3


def test_bad_checkpoints_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(random_mingpt_state(), path)
    with pytest.raises(CheckpointFormatError, match=r"model\.pth: not a transformer_lens"):
        load_external(path, "transformer_lens")
    sd = random_tl_state()
    sd["blocks.0.attn.rotary_sin"] = torch.zeros(3)
    with pytest.raises(CheckpointFormatError, match="unexpected tensors.*rotary_sin"):
        from_transformer_lens(sd)
    sd = random_tl_state()
    del sd["blocks.1.mlp.b_out"]
    with pytest.raises(CheckpointFormatError, match="blocks.1.mlp.b_out"):
        from_transformer_lens(sd)
    with pytest.raises(CheckpointFormatError, match="heads"):
        from_othello_world(random_mingpt_state(d=30), n_heads=8)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointFormatError, match=r"junk\.pth: not a loadable"):
        load_external(tmp_path / "junk.pth", "othello_world")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_external(tmp_path / "missing.pth", "othello_world")
    with pytest.raises(ValueError, match="unknown checkpoint format"):
        load_external(path, "gguf")


@pytest.mark.parametrize("fmt", [transformer_lens, othello_world], ids=lambda m: m.__name__)
def test_each_layout_holds_every_parameter_of_ours_and_gives_it_back(fmt):
    """The table's rows are our GPT's parameters, and every format's layout writes each of
    them into its own tensors and reads it back unchanged (a new format's check too)."""
    cfg = GPTConfig(n_layers=2, d_model=32, n_heads=4)
    ours = GPT(cfg).state_dict()
    assert sorted(p + name for p, name in rows(cfg.n_layers)) == sorted(ours)
    theirs = from_ours(ours, fmt.LAYOUT, cfg)
    back = to_ours(dict(theirs), fmt.LAYOUT, cfg)  # every tensor read: none left over
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
