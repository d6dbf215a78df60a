"""Load the published Othello-GPT checkpoints into :class:`GPT`, and export ours.

Two published models, in every form they come in:

* Li et al.'s ``othello_world`` (minGPT): ``tok_emb``, ``pos_emb`` [1, n_ctx, d], blocks with
  ``attn.{query,key,value,proj}``, ``mlp.0`` / ``mlp.2``, ``ln_f`` and a bias-free ``head``;
  saved plain or from ``DataParallel`` (keys prefixed ``module.``), with or without the
  ``attn.mask`` buffer. The weights do not hold the head count: Li et al. used 8.
* TransformerLens ``HookedTransformer`` (Nanda's Othello-GPT, ``synthetic_model.pth``):
  ``embed.W_E``, ``pos_embed.W_pos``, per-head ``attn.W_Q/W_K/W_V`` [heads, d_model, d_head]
  and ``W_O`` [heads, d_head, d_model], ``mlp.W_in/W_out``, ``unembed.W_U``. With
  ``normalization_type="LN"`` it has ``ln1/ln2/ln_final.w/b``; with ``"LNPre"`` (LayerNorm
  weights folded into the next matrices, as the published file is) it has none, and a
  LayerNorm of scale 1 and shift 0 (eps 1e-5) computes exactly what LNPre does.
  ``unembed.b_U`` may be absent (the minGPT-converted form) and the ``attn.mask`` /
  ``attn.IGNORE`` buffers present or not.

The shape (layers, width, heads, MLP width, context) is read from the tensors, so checkpoints
of other sizes load too. Token ids need no remapping: both use 0 = padding and 1..60 = the
playable squares in ascending index, and their square index equals ours. Only the *names*
differ (they print the row as the letter; see :mod:`othello.world.tokens`). Files are read with
``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import torch

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.model.checkpoint import MODEL, load_model_file, save, save_model
from othello.model.gpt import GPT, GPTConfig
from othello.model.hooks import BLOCKS, block_prefix
from othello.model.run_dir import RunRecord, write_record
from othello.world.squares import N_POSITIONS
from othello.world.tokens import VOCAB_SIZE

Tensor = torch.Tensor
FORMATS = ("transformer_lens", "othello_world", "othello_gpt")  # the last: our own model.pt
LI_ET_AL_HEADS = 8  # othello_world's default; its weights cannot tell
LN_EPS = 1e-5  # TransformerLens's and torch's default, which our LayerNorm uses
# positions every stage reads: a game is 60 moves and the model predicts moves 2..60
GAME_CONTEXT = N_POSITIONS
# attention buffers both libraries save beside the weights; they hold no learned values
_BUFFERS = ("attn.mask", "attn.IGNORE", "attn.masked_bias", "attn.bias")


class CheckpointFormatError(UserError):
    """A state dict that is not the format it was said to be, or a shape we cannot run."""


def _layers(state: dict[str, Tensor]) -> int:
    indices = {int(key.split(".")[1]) for key in state if key.startswith(BLOCKS + ".")}
    if indices != set(range(len(indices))) or not indices:
        raise CheckpointFormatError(f"blocks are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _check_vocab(vocab: int) -> None:
    if vocab != VOCAB_SIZE:
        raise CheckpointFormatError(f"vocabulary has {vocab} tokens; Othello-GPT uses {VOCAB_SIZE}")


def _drop_buffers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.endswith(_BUFFERS)}


def _take(state: dict[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise CheckpointFormatError(f"missing tensor {key!r}")
    return state.pop(key)


def _config(n_layers: int, d_model: int, n_heads: int, d_mlp: int, n_ctx: int) -> GPTConfig:
    try:
        return GPTConfig(
            n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_mlp=d_mlp, n_ctx=n_ctx
        )
    except ValueError as exc:
        raise CheckpointFormatError(str(exc)) from None


def from_othello_world(state: dict[str, Tensor], n_heads: int = LI_ET_AL_HEADS) -> GPT:
    """A model from a minGPT state dict of Li et al.'s ``othello_world``."""
    state = _drop_buffers({k.removeprefix("module."): v for k, v in state.items()})
    for key in ("tok_emb.weight", "pos_emb", block_prefix(0) + "mlp.0.weight"):
        if key not in state:
            raise CheckpointFormatError(f"missing tensor {key!r}")
    vocab, d_model = state["tok_emb.weight"].shape
    _check_vocab(vocab)
    cfg = _config(
        _layers(state),
        d_model,
        n_heads,
        state[block_prefix(0) + "mlp.0.weight"].shape[0],
        state["pos_emb"].shape[1],
    )
    return _build(cfg, _othello_world_to_ours(state, cfg))


def _othello_world_to_ours(state: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    ours = {
        "embed.weight": _take(state, "tok_emb.weight"),
        "pos_embed": _take(state, "pos_emb")[0],
        "ln_final.weight": _take(state, "ln_f.weight"),
        "ln_final.bias": _take(state, "ln_f.bias"),
        "unembed.weight": _take(state, "head.weight"),
        "unembed.bias": state.pop("head.bias", torch.zeros(cfg.vocab_size)),
    }
    for layer in range(cfg.n_layers):
        p = block_prefix(layer)
        for norm in ("ln1", "ln2"):
            for x in ("weight", "bias"):
                ours[f"{p}{norm}.{x}"] = _take(state, f"{p}{norm}.{x}")
        for x in ("weight", "bias"):
            ours[f"{p}attn.qkv.{x}"] = torch.cat(
                [_take(state, f"{p}attn.{name}.{x}") for name in ("query", "key", "value")]
            )
            ours[f"{p}attn.out.{x}"] = _take(state, f"{p}attn.proj.{x}")
            ours[f"{p}mlp.fc_in.{x}"] = _take(state, f"{p}mlp.0.{x}")
            ours[f"{p}mlp.fc_out.{x}"] = _take(state, f"{p}mlp.2.{x}")
    _no_leftovers(state)
    return ours


def from_transformer_lens(state: dict[str, Tensor]) -> GPT:
    """A model from a TransformerLens ``HookedTransformer`` state dict (LN or LNPre, standard
    positional embeddings, GELU: the Othello-GPT configuration)."""
    state = _drop_buffers(dict(state))
    if "embed.W_E" not in state or block_prefix(0) + "attn.W_Q" not in state:
        raise CheckpointFormatError("missing tensor 'embed.W_E' or 'blocks.0.attn.W_Q'")
    vocab, d_model = state["embed.W_E"].shape
    _check_vocab(vocab)
    n_heads, _, d_head = state[block_prefix(0) + "attn.W_Q"].shape
    if n_heads * d_head != d_model:
        raise CheckpointFormatError(
            f"{n_heads} heads of width {d_head} do not fill d_model {d_model}; this GPT "
            "needs n_heads * d_head == d_model"
        )
    if block_prefix(0) + "mlp.W_in" not in state or "pos_embed.W_pos" not in state:
        raise CheckpointFormatError("missing tensor 'blocks.0.mlp.W_in' or 'pos_embed.W_pos'")
    cfg = _config(
        _layers(state),
        d_model,
        n_heads,
        state[block_prefix(0) + "mlp.W_in"].shape[1],
        state["pos_embed.W_pos"].shape[0],
    )
    folded = "ln_final.w" not in state  # LNPre: the scales live in the next matrices
    ones, zeros = torch.ones(d_model), torch.zeros(d_model)

    def norm(name: str) -> tuple[Tensor, Tensor]:
        if folded:
            return ones, zeros
        return _take(state, f"{name}.w"), _take(state, f"{name}.b")

    ours = {
        "embed.weight": _take(state, "embed.W_E"),
        "pos_embed": _take(state, "pos_embed.W_pos"),
        "unembed.weight": _take(state, "unembed.W_U").T,
        "unembed.bias": state.pop("unembed.b_U", torch.zeros(vocab)),
    }
    ours["ln_final.weight"], ours["ln_final.bias"] = norm("ln_final")
    for layer in range(cfg.n_layers):
        p = block_prefix(layer)
        for name in ("ln1", "ln2"):
            ours[f"{p}{name}.weight"], ours[f"{p}{name}.bias"] = norm(p + name)
        # W_X [heads, d_model, d_head] -> rows (head, d_head) of a Linear weight
        ours[f"{p}attn.qkv.weight"] = torch.cat(
            [
                _take(state, f"{p}attn.W_{x}").transpose(1, 2).reshape(d_model, d_model)
                for x in "QKV"
            ]
        )
        ours[f"{p}attn.qkv.bias"] = torch.cat(
            [_take(state, f"{p}attn.b_{x}").reshape(-1) for x in "QKV"]
        )
        ours[f"{p}attn.out.weight"] = _take(state, f"{p}attn.W_O").reshape(d_model, d_model).T
        ours[f"{p}attn.out.bias"] = _take(state, f"{p}attn.b_O")
        ours[f"{p}mlp.fc_in.weight"] = _take(state, f"{p}mlp.W_in").T
        ours[f"{p}mlp.fc_in.bias"] = _take(state, f"{p}mlp.b_in")
        ours[f"{p}mlp.fc_out.weight"] = _take(state, f"{p}mlp.W_out").T
        ours[f"{p}mlp.fc_out.bias"] = _take(state, f"{p}mlp.b_out")
    _no_leftovers(state)
    return _build(cfg, ours)


def _no_leftovers(state: dict[str, Tensor]) -> None:
    """Weights nobody read mean the file is another architecture (rotary embeddings, a
    different norm, ...): refuse it rather than run a model that silently lacks them."""
    if state:
        keys = sorted(state)
        raise CheckpointFormatError(
            f"unexpected tensors {keys[:5]}{' ...' if len(keys) > 5 else ''}"
        )


def to_transformer_lens(model: GPT, attn_mask: str = "empty") -> tuple[dict[str, Tensor], dict]:
    """Our model as a TransformerLens state dict and ``HookedTransformerConfig`` keywords that
    ``HookedTransformer(HookedTransformerConfig(**cfg)).load_state_dict(sd, strict=True)``
    accepts as is.

    ``attn_mask`` says which attention buffers to include: ``"empty"`` for TransformerLens
    3.1 and later (a [0, 0] ``mask``; the causal mask is built at run time), ``"causal"`` for
    2.x and 3.0 (an [n_ctx, n_ctx] lower-triangular ``mask``). Both hold ``IGNORE = -inf``.
    """
    if attn_mask not in ("empty", "causal"):
        raise UserError(f"attn_mask must be 'empty' or 'causal', got {attn_mask!r}")
    cfg = model.cfg
    d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mask = (
        torch.ones(cfg.n_ctx, cfg.n_ctx).tril().bool()
        if attn_mask == "causal"
        else torch.empty((0, 0), dtype=torch.bool)
    )
    out = {
        "embed.W_E": sd["embed.weight"],
        "pos_embed.W_pos": sd["pos_embed"],
        "ln_final.w": sd["ln_final.weight"],
        "ln_final.b": sd["ln_final.bias"],
        "unembed.W_U": sd["unembed.weight"].T.contiguous(),
        "unembed.b_U": sd["unembed.bias"],
    }
    for layer in range(cfg.n_layers):
        p = block_prefix(layer)
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
        out[f"{p}attn.mask"] = mask.clone()
        out[f"{p}attn.IGNORE"] = torch.tensor(-torch.inf)
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
        "eps": LN_EPS,
        "positional_embedding_type": "standard",
    }
    return out, config


def _build(cfg: GPTConfig, state: dict[str, Tensor]) -> GPT:
    model = GPT(cfg)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise CheckpointFormatError(str(exc).splitlines()[-1].strip()) from None
    return model.eval()


def load_external(
    path: str | os.PathLike, kind: str, n_heads: int = LI_ET_AL_HEADS, n_ctx: int | None = None
) -> GPT:
    """Read a published checkpoint file (``transformer_lens`` or ``othello_world``), or a
    ``model.pt`` of this project (``othello_gpt``).

    Errors name the file: a missing file, one that is not a state dict, one whose tensors do
    not fit the format or whose vocabulary is not Othello-GPT's 61 tokens, and (when ``n_ctx``
    is given: the pipeline needs :data:`GAME_CONTEXT`) one of another context raise
    :class:`CheckpointFormatError` (a ``ValueError``).
    """
    path = Path(path)
    if kind not in FORMATS:
        raise UserError(f"unknown checkpoint format {kind!r}; choose one of {FORMATS}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if kind == "othello_gpt":  # a model.pt of this project (e.g. joined from a GPU bundle)
        model = load_model_file(path)
    else:
        state = _read_state_dict(path)
        try:
            if kind == "othello_world":
                model = from_othello_world(state, n_heads)
            else:
                model = from_transformer_lens(state)
        except CheckpointFormatError as exc:
            raise CheckpointFormatError(
                f"{path}: not a {kind} Othello-GPT checkpoint: {exc}"
            ) from None
    if n_ctx is not None and model.cfg.n_ctx != n_ctx:
        raise CheckpointFormatError(
            f"{path}: context of {model.cfg.n_ctx} positions (positional embedding rows); "
            f"Othello-GPT reads {n_ctx} (a game's first {n_ctx} moves)"
        )
    return model


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    """The tensors of a torch file, read without running code; errors name the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code, a truncated file, not torch at all
        why = _unloadable(path, exc)
        raise CheckpointFormatError(f"{path}: not a loadable state dict ({why})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointFormatError(
            f"{path}: not a state dict of tensors (holds a {type(state).__name__})"
        )
    return state


def _unloadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` failed, in one line: torch's own message is many lines of advice."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK") and not zipfile.is_zipfile(path):
        return "a truncated or damaged PyTorch file"
    if not head.startswith((b"PK", b"\x80")):  # torch files are zip archives or pickles
        return f"not a PyTorch file: it begins {head!r}"
    text = str(exc).strip()
    if "Weights only load failed" in text:
        return "it holds Python objects besides tensors, refused: loading them could run code"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'unreadable'}"


def import_run(
    source: str | os.PathLike,
    kind: str,
    run_dir: str | os.PathLike,
    n_heads: int = LI_ET_AL_HEADS,
    hub: dict | None = None,
) -> Path:
    """Convert a published checkpoint into a run directory (``model.pt`` and ``config.json``
    saying where it came from) that every later stage accepts like a trained run.

    ``hub``: where the file was fetched from (:func:`othello.interop.hub.read_record`: repo, file,
    commit, size, sha256), recorded as ``imported.hub`` once the file is checked to be those
    bytes. Nothing is written when the file or the record is refused."""
    model = load_external(source, kind, n_heads, n_ctx=GAME_CONTEXT)
    origin = {"path": str(Path(source).resolve()), "format": kind, "sha256": file_sha256(source)}
    if hub is not None:
        if hub.get("sha256") != origin["sha256"]:
            raise CheckpointFormatError(
                f"{source}: sha256 {origin['sha256'][:12]}... is not the fetched file's "
                f"({str(hub.get('sha256'))[:12]}...); fetch it again"
            )
        origin["hub"] = hub
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, run_dir / MODEL, {"imported_from": origin["path"]})
    write_record(run_dir, RunRecord.imported_from(model.cfg.to_dict(), origin))
    return run_dir / MODEL


def export_run(
    run: str | os.PathLike, prefix: str | os.PathLike, attn_mask: str = "empty"
) -> tuple[Path, Path]:
    """Write a run's model as ``PREFIX.pth`` (HookedTransformer state dict) and ``PREFIX.json``
    (its config keywords)."""
    state, config = to_transformer_lens(load_model_file(run), attn_mask)
    prefix = Path(prefix)
    weights, keywords = (
        prefix.with_name(prefix.name + ".pth"),
        prefix.with_name(prefix.name + ".json"),
    )
    save(state, weights)
    write_text(keywords, json.dumps(config, indent=2) + "\n")
    return weights, keywords
