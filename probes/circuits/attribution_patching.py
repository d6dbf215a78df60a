"""Attribution patching (Nanda, "Attribution Patching: Activation Patching At Industrial
Scale"): the patching maps of :mod:`.patching` by a first-order approximation.

Exact patching runs the corrupted game once per cell of a map, with one activation taken from
the clean game. Attribution patching runs the corrupted game once with gradients, takes
``d(sum of LD over the pairs) / d(activation)`` at every site in one backward pass, and
estimates the effect of patching activation ``a`` as ``(a_clean - a_corrupted) . grad`` (the
first term of the Taylor series of LD about the corrupted run): summed over the residual
vector at one position for a residual cell, over every position and the head's ``hook_z``
vector for a head cell, and over the pairs. Divided by ``sum(LD_clean - LD_corrupted)`` as
the exact map is, so the two maps are in the same units, cell by cell. Where patching moves
the run far (the differing token at the embeddings, where LD changes by its whole gap) the
linear estimate can be far from the exact share; :func:`compare_maps` says how far, and
:func:`attribution_patching` times both on the same pairs, in the same run.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from othello.common.device import pick_device
from othello.corpora.corpus import GamesFile
from othello.model.hooked import HookedModel
from othello.model.hooks import resid_hooks
from probes.circuits.config import CircuitsConfig
from probes.circuits.patching import (
    MAPS,
    PatchTask,
    gap_share,
    head_hooks,
    maps_record,
    offset_positions,
    pairs_task,
    patch_maps,
)
from probes.circuits.positions import choose_rows

METHOD = (
    "attribution patching: share restored by patching activation a from the corrupted run to "
    "the clean run estimated as sum over pairs of (a_clean - a_corrupted) . d LD / d a at the "
    "corrupted run, divided by sum(LD_clean - LD_corrupted) as the exact map is; one forward "
    "of each game and one backward pass for every cell"
)


def attribution_maps(model: HookedModel, task: PatchTask, follow: int) -> dict:
    """The maps :func:`~probes.circuits.patching.patch_maps` returns (same keys and axes), each
    cell the first-order estimate of its share restored: all pairs in one batch, one backward."""
    cfg = model.cfg
    hooks = resid_hooks(cfg.n_layers)
    z_hooks = head_hooks(model)
    names = list(hooks.values()) + z_hooks
    with torch.no_grad():
        clean_logits, clean = model.run_with_cache(task.clean, names)
    with torch.enable_grad(), model.hooks([(hooks[0], tracked)]):
        logits, corrupt = model.run_with_cache(task.corrupt, names, detach=False)
        corrupt_ld = task.logit_diff(logits)
        grads = torch.autograd.grad(corrupt_ld.sum(), [corrupt[n] for n in names])
    ends = (task.logit_diff(clean_logits), corrupt_ld.detach())
    # per pair, position (and head): (a_clean - a_corrupted) . grad
    terms = {
        n: ((clean[n] - corrupt[n].detach()) * g).sum(-1) for n, g in zip(names, grads, strict=True)
    }
    rows = torch.arange(len(task.end), device=corrupt_ld.device)
    at = [torch.as_tensor(offset_positions(task, o), device=rows.device) for o in range(follow + 1)]
    resid = [[gap_share(terms[h][rows, p], ends) for p in at] for h in hooks.values()]
    heads = [[gap_share(terms[z][:, :, h], ends) for h in range(cfg.n_heads)] for z in z_hooks]
    return maps_record(cfg.n_layers, follow, resid, heads, ends)


def tracked(x: torch.Tensor, hook) -> torch.Tensor:
    """The embeddings, made to carry gradients even when the model's weights do not."""
    return x if x.requires_grad else x.detach().requires_grad_()


def compare_maps(exact: dict, approx: dict) -> dict:
    """Per map: the Pearson correlation of the two over its cells (None when either map is
    constant, so it is undefined) and the largest absolute difference of a cell."""
    out = {}
    for key in MAPS:
        a, b = (np.asarray(m[key], float).ravel() for m in (exact, approx))
        if a.size == 0 and b.size == 0:  # no such map (a model without heads)
            out[key] = None
            continue
        if a.shape != b.shape:
            raise ValueError(f"{key}: maps of {a.size} and {b.size} cells")
        defined = a.size > 1 and a.std() > 0 and b.std() > 0 and np.isfinite([a, b]).all()
        pearson = float(np.corrcoef(a, b)[0, 1]) if defined else None
        out[key] = {"pearson": pearson, "max_abs_difference": float(np.abs(a - b).max())}
    return out


def attribution_patching(model: HookedModel, task: PatchTask, follow: int) -> dict:
    """Both maps of the same pairs, how close they are and the seconds each took, measured
    one after the other in this run (the approximation first: neither finds kernels or
    caches the other warmed)."""
    start = time.perf_counter()
    approx = attribution_maps(model, task, follow)
    approx_s = time.perf_counter() - start
    start = time.perf_counter()
    exact = patch_maps(model, task, follow)
    exact_s = time.perf_counter() - start
    return {
        "exact": exact,
        "approx": approx,
        "correlation": compare_maps(exact, approx),
        "seconds": {"exact": round(exact_s, 4), "approx": round(approx_s, 4)},
        "speedup": round(exact_s / approx_s, 2),
        "pairs": len(task.end),
    }


def file_record(result: dict | None, found: dict) -> dict:
    """attribution_patching.json: the method, the pair counts, the approximate maps, their
    agreement with patching.json's exact ones and the seconds (None throughout without
    pairs). The exact maps are patching.json's, not repeated here."""
    keep = ("approx", "correlation", "seconds", "speedup")
    figures = {k: None for k in keep} if result is None else {k: result[k] for k in keep}
    pairs = 0 if result is None else result["pairs"]
    return {"method": METHOD, **found, "pairs": pairs, **figures}


def attribution_patching_on_games(
    model: HookedModel,
    games: GamesFile,
    n_pairs: int,
    follow: int,
    seed: int,
    test_games: int = CircuitsConfig.test_games,
    device: str | None = None,
) -> dict:
    """:func:`attribution_patching` on the pairs the circuit stage would draw from the first
    ``test_games`` test games of an open games file (fewer when the split holds fewer), with
    the pair counts. ``device``: move the model there first (None: where it is)."""
    if device is not None:
        model.to(pick_device(device))
    rows = choose_rows(games, "test", test_games, None, allow_fewer=True)
    task, found = pairs_task(model, games, rows, n_pairs, follow, seed)
    if len(task.end) == 0:
        return {**found, "pairs": 0}
    return {**found, **attribution_patching(model, task, follow)}
