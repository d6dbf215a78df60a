"""Edited runs that recompute only what an edit can change.

An edit at a case's position t from start layer L changes nothing before layer L, and the
model is causal, so nothing at positions before t either. The edited logits at t therefore
need only the unedited run's residual stream at t entering layer L and every later block's
keys and values at positions up to t; one position then goes through the remaining blocks.
:func:`clean_run` keeps those once per batch of cases, and :func:`resume` replays any edit,
start layer and setting from them: a handful of single-position block passes instead of a
whole forward pass of every position. Those passes are the model's own blocks taking a
decoding step at t (:meth:`othello.model.gpt.GPT.step`'s path), whose own key and value
replace the unedited ones at t in the kept cache. It computes what
:func:`probes.interventions.run.intervene` computes (the same blocks, in the same order; the
tests hold the two to 1e-4 in the logits) and is what makes the sweep over editors, start
layers and settings affordable for the published model on a CPU.

A recurrent model (LSTM, Mamba) needs, instead of keys and values, each block's state after the
positions before t (a prefill to t); one step of the remaining blocks from the edited stream
then gives the logits at t. (Its edit also reaches the positions after t through the state;
the flip is read at t, as for the GPT.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from othello.model.hooked import HookedModel
from othello.model.hooks import resid_hooks
from othello.model.kinds import kind_of
from othello.model.kv_cache import KVCache
from othello.model.recurrent import StateCache
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.interventions.cases import Cases
from probes.interventions.edits import Editor


@dataclass
class CleanRun:
    """The unedited run of a batch of cases, as much of it as an edited run reuses."""

    resid: list[torch.Tensor]  # per residual layer 0..n: [K, d] at each case's position
    logits: torch.Tensor  # [K, 61] at each case's position, unedited
    position: torch.Tensor  # [K]
    # a GPT's keys and values of every position, a recurrent model's state before each case's
    cache: KVCache | StateCache


@torch.no_grad()
def clean_run(model: HookedModel, cases: Cases) -> CleanRun:
    """One unedited forward pass over the cases' games up to their positions."""
    device = next(model.parameters()).device
    last = min(int(cases.position.max()) + 1, N_POSITIONS)
    tokens = torch.as_tensor(encode(cases.moves[:, :last]), device=device)
    names = list(resid_hooks(model.cfg.n_layers).values())
    pos = torch.as_tensor(cases.position, device=device)
    state = model.new_cache(len(cases), device, n_ctx=last)
    recurrent = kind_of(model).recurrent
    cache: dict[str, torch.Tensor] = {}
    with model.hooks([(name, lambda x, hook: cache.update({hook.name: x})) for name in names]):
        # a GPT's prefill is its forward pass, keeping every block's keys and values
        logits = model(tokens) if recurrent else model.prefill(tokens, state)
    if recurrent:
        model.prefill(tokens, state, lengths=pos)  # each row's state after positions < t
    rows = torch.arange(len(cases), device=device)
    resid = [cache[name][rows, pos] for name in names]
    return CleanRun(resid, logits[rows, pos].float(), pos, state)


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
        if at < n and kind_of(model).recurrent:  # one step from the state before t
            x = model.blocks[at].step(x[:, None], run.cache.layers[at])[0][:, 0]
        elif at < n:  # a step at t: its own key and value replace the unedited ones there
            x = model.blocks[at](x[:, None], run.cache.slot(at, run.position))[:, 0]
    return model.unembed(model.ln_final(x)).float().cpu()
