"""Our GPT's parameters, one row each, and how a checkpoint format names and shapes them: the
one table every format module reads and writes through.

A format is a *layout*: for each of our parameter names (:func:`rows`: the model-wide ones and
every block's, under ``blocks.{layer}.``), a :class:`Rule` naming the tensors of the format
that hold it and how they become ours (``read``) and ours becomes them (``write``).
:func:`to_ours` and :func:`from_ours` walk the table, so a new format is one module holding its
layout and reading its shape (layers, width, heads, MLP width, context) from its tensors.

What every format shares: token ids need no remapping (0 = padding, 1..60 = the playable
squares in ascending index, and their square index equals ours; only the *names* differ, they
print the row as the letter: see :mod:`othello.world.tokens`), attention buffers saved beside
the weights are dropped, and weights nobody reads refuse the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from othello.common.errors import UserError
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.model.hooks import BLOCKS, block_prefix
from othello.world.tokens import VOCAB_SIZE

Tensor = torch.Tensor
# our parameters, in our state dict's order: before the blocks, in each block, after them
BEFORE_BLOCKS = ("pos_embed", "embed.weight")
IN_BLOCK = (
    "ln1.weight",
    "ln1.bias",
    "attn.qkv.weight",
    "attn.qkv.bias",
    "attn.out.weight",
    "attn.out.bias",
    "ln2.weight",
    "ln2.bias",
    "mlp.fc_in.weight",
    "mlp.fc_in.bias",
    "mlp.fc_out.weight",
    "mlp.fc_out.bias",
)
AFTER_BLOCKS = ("ln_final.weight", "ln_final.bias", "unembed.weight", "unembed.bias")
# attention buffers both libraries save beside the weights; they hold no learned values
BUFFERS = ("attn.mask", "attn.IGNORE", "attn.masked_bias", "attn.bias")


class CheckpointFormatError(UserError):
    """A state dict that is not the format it was said to be, or a shape we cannot run."""


@dataclass(frozen=True)
class Rule:
    """How a format holds one of our parameters: in the tensors ``names`` (``{p}``: the block's
    prefix, ``blocks.{layer}.``), turned into ours by ``read(cfg, tensors)`` and ours into
    them by ``write(cfg, ours)`` (None: a layout we only read). ``default(cfg)``: the value
    when the format leaves the first tensor out (an unembedding without a bias)."""

    names: tuple[str, ...]
    read: Callable[[GPTConfig, list[Tensor]], Tensor]
    write: Callable[[GPTConfig, Tensor], list[Tensor]] | None
    default: Callable[[GPTConfig], Tensor] | None = None


def same(name: str, default: Callable[[GPTConfig], Tensor] | None = None) -> Rule:
    """One tensor of our shape under another name."""
    return Rule((name,), lambda cfg, t: t[0], lambda cfg, x: [x], default)


def transposed(name: str) -> Rule:
    """One tensor, the transpose of ours (``x @ W`` where we hold ``nn.Linear``'s ``W.T``)."""
    return Rule((name,), lambda cfg, t: t[0].T, lambda cfg, x: [x.T.contiguous()])


def rows(n_layers: int) -> Iterator[tuple[str, str]]:
    """(block prefix or "", our name) of every parameter of an ``n_layers`` GPT, in order."""
    yield from (("", name) for name in BEFORE_BLOCKS)
    for layer in range(n_layers):
        yield from ((block_prefix(layer), name) for name in IN_BLOCK)
    yield from (("", name) for name in AFTER_BLOCKS)


def to_ours(
    state: dict[str, Tensor],
    layout: dict[str, Rule],
    cfg: GPTConfig,
    prefix: Callable[[str], str] = str,
) -> dict:
    """Our state dict from a format's ``state``, whose tensors are taken out as they are read;
    one left over refuses the file (:func:`no_leftovers`). ``prefix``: the format's name for
    our block prefix (``blocks.{layer}.``), when it numbers its blocks under another name."""
    ours = {}
    for p, name in rows(cfg.n_layers):
        rule = layout[name]
        theirs = [n.format(p=prefix(p)) for n in rule.names]
        if rule.default is not None and theirs[0] not in state:
            ours[p + name] = rule.default(cfg)
        else:
            ours[p + name] = rule.read(cfg, [take(state, n) for n in theirs])
    no_leftovers(state)
    return ours


def from_ours(
    ours: dict[str, Tensor],
    layout: dict[str, Rule],
    cfg: GPTConfig,
    prefix: Callable[[str], str] = str,
) -> dict:
    """A format's state dict from ours (each tensor a copy); ``prefix`` as for :func:`to_ours`."""
    out = {}
    for p, name in rows(cfg.n_layers):
        rule = layout[name]
        written = rule.write(cfg, ours[p + name].detach().clone())
        out |= {n.format(p=prefix(p)): x for n, x in zip(rule.names, written, strict=True)}
    return out


def n_blocks(state: dict[str, Tensor]) -> int:
    """How many blocks a state dict's ``blocks.{i}.`` keys number (0..n-1, or refused)."""
    indices = {int(key.split(".")[1]) for key in state if key.startswith(BLOCKS + ".")}
    if indices != set(range(len(indices))) or not indices:
        raise CheckpointFormatError(f"blocks are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def check_vocab(vocab: int) -> None:
    if vocab != VOCAB_SIZE:
        raise CheckpointFormatError(f"vocabulary has {vocab} tokens; Othello-GPT uses {VOCAB_SIZE}")


def drop_buffers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.endswith(BUFFERS)}


def take(state: dict[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise CheckpointFormatError(f"missing tensor {key!r}")
    return state.pop(key)


def no_leftovers(state: dict[str, Tensor]) -> None:
    """Weights nobody read mean the file is another architecture (rotary embeddings, a
    different norm, ...): refuse it rather than run a model that silently lacks them."""
    if state:
        keys = sorted(state)
        raise CheckpointFormatError(
            f"unexpected tensors {keys[:5]}{' ...' if len(keys) > 5 else ''}"
        )


def gpt_config(n_layers: int, d_model: int, n_heads: int, d_mlp: int, n_ctx: int) -> GPTConfig:
    try:
        return GPTConfig(
            n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_mlp=d_mlp, n_ctx=n_ctx
        )
    except ValueError as exc:
        raise CheckpointFormatError(str(exc)) from None


def build_gpt(cfg: GPTConfig, state: dict[str, Tensor]) -> GPT:
    """Our GPT of ``cfg`` holding ``state`` (float32), in eval mode."""
    model = GPT(cfg)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise CheckpointFormatError(str(exc).splitlines()[-1].strip()) from None
    return model.eval()
