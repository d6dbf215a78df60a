"""Edited runs that recompute only what an edit can change.

An edit at a case's position t from start layer L changes nothing before layer L, and the
model is causal, so nothing at positions before t either. The edited logits at t therefore
need only the unedited run's residual stream at t entering layer L and every later block's
keys and values at positions up to t; one position then goes through the remaining blocks.
:func:`clean_run` keeps those once per batch of cases, and :func:`resume` replays any edit,
start layer and setting from them: a handful of single-position block passes instead of a
whole forward pass of every position. It computes what
:func:`probes.interventions.run.intervene` computes (the same blocks, in the same order; the
tests hold the two to 1e-4 in the logits) and is what makes the sweep over editors, start
layers and settings affordable for the published model on a CPU.

A recurrent model (LSTM, Mamba) needs, instead of keys and values, each block's state after the
positions before t (a prefill to t); one step of the remaining blocks from the edited stream
then gives the logits at t. (Its edit also reaches the positions after t through the state;
the flip is read at t, as for the GPT.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from othello.model.gpt import Block
from othello.model.hooked import HookedModel
from othello.model.hooks import resid_hooks
from othello.model.kinds import kind_of
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.interventions.cases import Cases
from probes.interventions.edits import Editor


@dataclass
class CleanRun:
    """The unedited run of a batch of cases, as much of it as an edited run reuses."""

    resid: list[torch.Tensor]  # per residual layer 0..n: [K, d] at each case's position
    keys: list[torch.Tensor]  # per block: [K, heads, positions, d_head] (a GPT's)
    values: list[torch.Tensor]
    logits: torch.Tensor  # [K, 61] at each case's position, unedited
    position: torch.Tensor  # [K]
    states: list[list[torch.Tensor]] | None = None  # per block, before the position (recurrent)


@torch.no_grad()
def clean_run(model: HookedModel, cases: Cases) -> CleanRun:
    """One unedited forward pass over the cases' games up to their positions."""
    device = next(model.parameters()).device
    last = int(cases.position.max()) + 1
    tokens = torch.as_tensor(encode(cases.moves[:, : min(last, N_POSITIONS)]), device=device)
    names = list(resid_hooks(model.cfg.n_layers).values())
    logits, cache = model.run_with_cache(tokens, names)
    rows = torch.arange(len(cases), device=device)
    pos = torch.as_tensor(cases.position, device=device)
    resid = [cache[name][rows, pos] for name in names]
    if kind_of(model).recurrent:
        state = model.new_cache(len(cases), device)
        model.prefill(tokens, state, lengths=pos)  # each row's state after positions < t
        return CleanRun(resid, [], [], logits[rows, pos].float(), pos, state.layers)
    keys, values = [], []
    for layer, block in enumerate(model.blocks):
        _, k, v = _qkv(block, cache[names[layer]])
        keys.append(k.transpose(1, 2))  # [K, heads, positions, d_head]
        values.append(v.transpose(1, 2))
    return CleanRun(resid, keys, values, logits[rows, pos].float(), pos)


def _qkv(block: Block, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Queries, keys and values [..., heads, d_head] of ``x`` [..., d_model]."""
    heads = block.attn.n_heads
    q, k, v = block.attn.qkv(block.ln1(x)).split(x.shape[-1], dim=-1)
    return tuple(t.unflatten(-1, (heads, -1)) for t in (q, k, v))


def _block_at(block: Block, x: torch.Tensor, keys, values, pos: torch.Tensor) -> torch.Tensor:
    """One block on the residual vectors x [K, d] at positions ``pos``, attending to the
    unedited keys and values of the earlier positions and to its own (swapped in for the
    unedited ones at ``pos`` without copying the cache)."""
    rows = torch.arange(len(x), device=x.device)
    q, k, v = _qkv(block, x)  # [K, heads, d_head]
    scale = 1 / math.sqrt(q.shape[-1])
    scores = torch.einsum("khd,khtd->kht", q, keys) * scale
    scores[rows, :, pos] = (q * k).sum(-1) * scale
    later = torch.arange(keys.shape[2], device=x.device)[None, :] > pos[:, None]  # [K, T]
    pattern = scores.masked_fill(later[:, None, :], float("-inf")).softmax(-1)
    own = pattern[rows, :, pos][..., None]  # [K, heads, 1]: the weight on position pos
    z = torch.einsum("kht,khtd->khd", pattern, values) + own * (v - values[rows, :, pos])
    x = x + block.attn.out(z.flatten(1))
    return x + block.mlp(block.ln2(x))


@torch.no_grad()
def resume(
    model: HookedModel,
    run: CleanRun,
    cases: Cases,
    layer: int,
    hooks: dict[int, str],
    edit: Editor,
) -> torch.Tensor:
    """Logits [K, 61] at each case's position with ``edit`` applied at every hook of
    ``hooks`` (residual layer -> hook name, from the start ``layer`` on)."""
    x = run.resid[layer].clone()
    n = model.cfg.n_layers
    for at in range(layer, n + 1):
        if at in hooks:
            x = edit(x.float(), hooks[at], cases).to(x.dtype)
        if at < n and run.states is not None:  # one recurrent step from the state before t
            x = model.blocks[at].step(x[:, None], run.states[at])[0][:, 0]
        elif at < n:
            x = _block_at(model.blocks[at], x, run.keys[at], run.values[at], run.position)
    return model.unembed(model.ln_final(x)).float().cpu()
