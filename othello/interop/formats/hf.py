"""The Hugging Face model folder: our GPT as ``transformers``' GPT-2 (``GPT2LMHeadModel``) with
a tokenizer of our square names, so that ``transformers``, nnsight and TransformerLens 4 open it
with no code of ours; and such a folder read back into our GPT.

The folder: ``config.json`` (GPT-2's), ``model.safetensors``, ``tokenizer.json`` (a
``tokenizers`` WordLevel model whose vocabulary is our ids exactly: ``<pad>`` 0, then the 60
playable squares in our notation, ``A1`` 1 ... ``H8`` 60, split on spaces or commas, ``F5D6`` too,
and lower case read as upper), ``tokenizer_config.json`` and ``README.md`` (the model card,
:mod:`.hf_card`). The files are written by hand, so exporting needs no optional library.

Our GPT is GPT-2 (transformers' ``modeling_gpt2.py``): pre-LayerNorm blocks, learned positions,
query/key/value fused in that order and split into heads alike, scores scaled by 1/sqrt(d_head)
only (``scale_attn_weights``; not by layer), the exact erf GELU (``activation_function``
``"gelu"``: GPT-2's own ``"gelu_new"`` is the tanh approximation), LayerNorm eps 1e-5 and
dropout at the same four places. GPT-2's ``Conv1D`` holds ``x @ W`` weights, the transposes of
our ``nn.Linear``'s, and its embeddings are untied here (``tie_word_embeddings`` false).

GPT-2's head has no bias; ours has one. The final LayerNorm's shift ``beta`` feeds the head
alone, so ``W_U (beta + delta) = W_U beta + b_U`` whenever ``W_U delta = b_U``, which has an
exact solution when ``W_U`` [61, d_model] has full row rank (d_model >= 61): the bias moves into
the shift (the least-norm ``delta``) and the logits stay the same; otherwise export is refused.
A folder read back has the bias in that shift and an unembedding bias of 0: the same logits.

Special-token ids must lie in the vocabulary: bos, eos and pad are all 0, the padding token,
since our games have no start or end token (padding follows a game's last move, on the right).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from othello.common.atomic import write_text
from othello.interop.formats.table import (
    CheckpointFormatError,
    Rule,
    Tensor,
    build_gpt,
    from_ours,
    gpt_config,
    same,
    to_ours,
    transposed,
)
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.model.hooks import BLOCKS
from othello.model.kinds import kind_of
from othello.world.squares import N_POSITIONS, square_name
from othello.world.tokens import PAD_TOKEN, PLAYABLE_SQUARES, VOCAB_SIZE

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
TOKENIZER, TOKENIZER_CONFIG = "tokenizer.json", "tokenizer_config.json"
PAD = "<pad>"
ACTIVATION = "gelu"  # transformers' GELUActivation: torch's exact erf GELU, as our MLP's F.gelu
LN_EPS = 1e-5
FOLD_TOLERANCE = 1e-5  # how far the folded shift may move a logit (float32 rounding)
_HF_BLOCKS = "transformer.h."
# GPT-2 settings our GPT has one value of: a folder with another is refused (missing: GPT-2's
# default, which transformers would use)
FIXED = {
    "activation_function": (ACTIVATION, "gelu_new"),
    "layer_norm_epsilon": (LN_EPS, 1e-5),
    "scale_attn_weights": (True, True),
    "scale_attn_by_inverse_layer_idx": (False, False),
    "add_cross_attention": (False, False),
}
# the causal-mask buffers older transformers saved beside the weights
_BUFFERS = (".attn.bias", ".attn.masked_bias")


def vocab() -> dict[str, int]:
    """Token name -> our id: the padding token, then each playable square's standard name."""
    squares = {square_name(int(s)): token for token, s in enumerate(PLAYABLE_SQUARES, start=1)}
    return {PAD: PAD_TOKEN, **squares}


def hf_prefix(p: str) -> str:
    """GPT-2's name for our block prefix: ``transformer.h.{layer}.``."""
    return _HF_BLOCKS + p.removeprefix(BLOCKS + ".") if p else p


def _no_bias() -> Rule:
    """The head has no bias: 0 read; written as nothing once :func:`fold_unembed_bias` moved it."""
    return Rule((), lambda cfg, t: torch.zeros(cfg.vocab_size), lambda cfg, x: [])


LAYOUT = {
    "pos_embed": same("transformer.wpe.weight"),
    "embed.weight": same("transformer.wte.weight"),
    **{f"{n}.{x}": same(f"{{p}}{h}.{x}") for n, h in (("ln1", "ln_1"), ("ln2", "ln_2"))
       for x in ("weight", "bias")},
    "attn.qkv.weight": transposed("{p}attn.c_attn.weight"),
    "attn.qkv.bias": same("{p}attn.c_attn.bias"),
    "attn.out.weight": transposed("{p}attn.c_proj.weight"),
    "attn.out.bias": same("{p}attn.c_proj.bias"),
    "mlp.fc_in.weight": transposed("{p}mlp.c_fc.weight"),
    "mlp.fc_in.bias": same("{p}mlp.c_fc.bias"),
    "mlp.fc_out.weight": transposed("{p}mlp.c_proj.weight"),
    "mlp.fc_out.bias": same("{p}mlp.c_proj.bias"),
    "ln_final.weight": same("transformer.ln_f.weight"),
    "ln_final.bias": same("transformer.ln_f.bias"),
    "unembed.weight": same("lm_head.weight"),
    "unembed.bias": _no_bias(),
}  # fmt: skip


def refuse_kind(model) -> None:
    """Only the GPT has a GPT-2 form: the LSTM and the Mamba are refused, saying why."""
    kind = kind_of(model).name
    if kind == "lstm":
        raise CheckpointFormatError(
            "an LSTM has no GPT-2 form (no attention, no positions): share its model.pt"
        )
    if kind == "mamba":
        raise CheckpointFormatError(
            "a Mamba does not map exactly onto transformers' MambaForCausalLM: its blocks do "
            "(mambapy's layers are transformers' MambaMixer), but its unembedding has a bias, "
            "which that head lacks and a final RMSNorm (no shift) cannot absorb; share its model.pt"
        )
    if kind != "gpt":
        raise CheckpointFormatError(f"a {kind} model has no GPT-2 form")


def fold_unembed_bias(state: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    """``state`` with the unembedding bias moved into the final LayerNorm's shift (same logits);
    refused, saying why, when ``W_U delta = b_U`` has no exact solution."""
    w, b = state["unembed.weight"].double(), state["unembed.bias"].double()
    beta = state["ln_final.bias"].double()
    shift = (beta + torch.linalg.pinv(w) @ b).to(state["ln_final.bias"].dtype)
    off = (w @ shift.double() - (w @ beta + b)).abs().max().item()
    if off > FOLD_TOLERANCE:
        rank = int(torch.linalg.matrix_rank(w))
        raise CheckpointFormatError(
            f"the unembedding's bias cannot move into the final LayerNorm's shift (GPT-2's head "
            f"has no bias): W_U [{w.shape[0]} x {w.shape[1]}] has rank {rank} < {VOCAB_SIZE}, "
            f"so the logits would be off by up to {off:.2g}; a GPT of d_model >= {VOCAB_SIZE} "
            "whose unembedding has full row rank exports exactly"
        )
    zero = torch.zeros_like(state["unembed.bias"])
    return state | {"ln_final.bias": shift, "unembed.bias": zero}


def hf_config(cfg: GPTConfig) -> dict:
    """GPT-2's ``config.json`` for a GPT of ``cfg``."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.n_ctx,
        "n_embd": cfg.d_model,
        "n_layer": cfg.n_layers,
        "n_head": cfg.n_heads,
        "n_inner": cfg.mlp_width,
        **{key: value for key, (value, _) in FIXED.items()},
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "tie_word_embeddings": False,
        "bos_token_id": PAD_TOKEN,
        "eos_token_id": PAD_TOKEN,
        "pad_token_id": PAD_TOKEN,
        "torch_dtype": "float32",
    }


def to_hf(model: GPT) -> tuple[dict[str, Tensor], dict]:
    """Our GPT as GPT-2's state dict (``model.safetensors``'s tensors) and ``config.json``."""
    refuse_kind(model)
    cfg = model.cfg
    state = fold_unembed_bias(dict(model.state_dict()), cfg)
    return from_ours(state, LAYOUT, cfg, hf_prefix), hf_config(cfg)


def tokenizer_files() -> dict[str, str]:
    """``tokenizer.json`` and ``tokenizer_config.json``, as ``tokenizers`` 0.2x writes them."""
    split = {"type": "Split", "pattern": {"Regex": "[\\s,]+"}, "behavior": "Removed",
             "invert": False}  # fmt: skip
    squares = {"type": "Split", "pattern": {"Regex": "[A-H][1-8]"}, "behavior": "Isolated",
               "invert": False}  # fmt: skip
    upper = [{"type": "Replace", "pattern": {"String": c}, "content": c.upper()}
             for c in "abcdefgh"]  # fmt: skip
    pad = {"id": PAD_TOKEN, "content": PAD, "single_word": False, "lstrip": False,
           "rstrip": False, "normalized": False, "special": True}  # fmt: skip
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [pad],
        "normalizer": {"type": "Sequence", "normalizers": upper},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, squares]},
        "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab(), "unk_token": PAD},
    }  # fmt: skip
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": PAD,
        "model_max_length": N_POSITIONS, "padding_side": "right", "truncation_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }  # fmt: skip
    return {TOKENIZER: _json(tokenizer), TOKENIZER_CONFIG: _json(config)}


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_folder(model: GPT, out: str | os.PathLike, card: str) -> Path:
    """Our GPT as a Hugging Face folder ``out`` (made; files there are replaced), the model
    card ``card`` its README. Refused before anything is written when it has no GPT-2 form."""
    from safetensors.torch import save

    from othello.common.atomic import commit, partial_path

    state, config = to_hf(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    partial = partial_path(out / WEIGHTS)
    tensors = {k: v.float().contiguous() for k, v in state.items()}
    partial.write_bytes(save(tensors, {"format": "pt"}))  # written as any file is: mode 644
    commit(partial, out / WEIGHTS)
    for name, text in {CONFIG: _json(config), **tokenizer_files(), CARD: card}.items():
        write_text(out / name, text)
    return out


def read_folder(path: str | os.PathLike) -> GPT:
    """Our GPT from a Hugging Face GPT-2 folder of Othello-GPT's vocabulary and context (ours,
    or any GPT-2 of that shape whose tokenizer gives our ids). Errors name the file."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such Hugging Face model folder")
    config = read_config(path / CONFIG)
    check_tokenizer(path / TOKENIZER)
    state = read_weights(path / WEIGHTS, config)
    cfg = gpt_config(
        config["n_layer"], config["n_embd"], config["n_head"],
        config.get("n_inner") or 4 * config["n_embd"], config["n_positions"],
    )  # fmt: skip
    try:
        return build_gpt(cfg, to_ours(state, LAYOUT, cfg, hf_prefix))
    except CheckpointFormatError as exc:
        raise CheckpointFormatError(f"{path / WEIGHTS}: {exc}") from None


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (a Hugging Face folder holds it)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path}: not a JSON object")
    return data


def read_config(path: Path) -> dict:
    """``config.json``, checked to be a GPT-2 our GPT computes exactly, of Othello-GPT's
    vocabulary and context."""
    config = _read_json(path)
    kind = config.get("model_type")
    if kind != "gpt2":
        names = ", ".join(config.get("architectures") or []) or "no architectures"
        raise CheckpointFormatError(
            f"{path}: a {kind!r} model ({names}), not GPT-2: only GPT-2's architecture "
            "(GPT2LMHeadModel) maps onto our GPT"
        )
    if config.get("vocab_size") != VOCAB_SIZE:
        raise CheckpointFormatError(
            f"{path}: vocabulary has {config.get('vocab_size')} tokens; Othello-GPT uses "
            f"{VOCAB_SIZE}"
        )
    if config.get("n_positions") != N_POSITIONS:
        raise CheckpointFormatError(
            f"{path}: context of {config.get('n_positions')} positions (n_positions); "
            f"Othello-GPT reads {N_POSITIONS} (a game's first {N_POSITIONS} moves)"
        )
    for key, (ours, default) in FIXED.items():
        if config.get(key, default) != ours:
            raise CheckpointFormatError(
                f"{path}: {key} is {config.get(key, default)!r}; our GPT computes {ours!r}"
            )
    for key in ("n_layer", "n_embd", "n_head"):
        if not isinstance(config.get(key), int):
            raise CheckpointFormatError(f"{path}: no {key}")
    return config


def check_tokenizer(path: Path) -> None:
    """``tokenizer.json`` must give each square our id: the ids are what the weights index."""
    model = _read_json(path).get("model") or {}
    theirs = model.get("vocab") if model.get("type") == "WordLevel" else None
    if not isinstance(theirs, dict):
        raise CheckpointFormatError(
            f"{path}: not a word-level vocabulary of square names (a {model.get('type')!r} "
            "tokenizer); Othello-GPT's tokens are the 60 squares and the padding token"
        )
    ours = {name: token for name, token in vocab().items() if token != PAD_TOKEN}
    differ = [name for name, token in ours.items() if theirs.get(name) != token]
    if differ or len(theirs) != VOCAB_SIZE:
        name = differ[0] if differ else "its size"
        raise CheckpointFormatError(
            f"{path}: token ids differ from Othello-GPT's ({len(differ)} squares, e.g. {name!r} "
            f"is {theirs.get(name)} here, {ours.get(name)} in ours; {len(theirs)} tokens, ours "
            f"{VOCAB_SIZE}: 0 padding, 1..60 the playable squares A1..H8 ascending)"
        )


def read_weights(path: Path, config: dict) -> dict[str, Tensor]:
    """``model.safetensors``'s tensors, without old mask buffers; a tied head read from the
    token embedding, as transformers ties it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the folder's weights)")
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as exc:
        raise CheckpointFormatError(f"{path}: not a readable safetensors file ({exc})") from None
    state = {k: v for k, v in state.items() if not k.endswith(_BUFFERS)}
    tied = config.get("tie_word_embeddings", True) and "transformer.wte.weight" in state
    if "lm_head.weight" not in state and tied:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    return state
