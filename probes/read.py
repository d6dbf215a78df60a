"""Probes in a notebook: fit one scheme's probes at every layer of an in-memory source (or a
cache), read a board from activations with them, and take a square's probe direction.

The probe stage (:func:`probes.probe_stage.run_probe_stage`) fits and scores the same probes with
the same :func:`probes.fit.fit_probes`; these calls skip its files and figures.

>>> source = cache_activations(model, games, n_games=500)
>>> probes = fit_probe(source)                      # mine/theirs, linear, every layer
>>> board = read_board(probes, source.acts[hook][0], hook)   # int64 [59, 64]: 0/1/2
>>> direction = probe_direction(probes, hook, square=parse_square("D3"))  # [d_model]
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from othello.common.errors import UserError
from probes.acts.source import ActivationSource
from probes.common import ProbeKey
from probes.fit import FitConfig, Probes, fit_probes

# direction of a scheme's reading: (class moved towards, classes moved away from)
DIRECTIONS = {
    "mine_theirs": ((1,), (2,)),  # mine minus theirs
    "empty": ((0,), (1, 2)),  # empty minus the mean of mine and theirs (the same probe)
    "flipped": ((1,), (0,)),
    "legal": ((1,), (0,)),
}


def fit_probe(
    source: ActivationSource,
    scheme: str = "mine_theirs",
    kind: str = "linear",
    fit: FitConfig | None = None,
) -> Probes:
    """``scheme/kind`` probes at every hook of ``source`` (an in-memory source or an
    ``ActsFile``), fitted on its training games; ``fit`` sets epochs, steps, seed (its
    ``probes`` are replaced by this one; small sources are allowed)."""
    cfg = replace(fit or FitConfig(), probes=(f"{scheme}/{kind}",), allow_small=True)
    return fit_probes(source, cfg, progress=False)


def _probe(probes: Probes, hook: str, scheme: str, kind: str) -> nn.Module:
    key = ProbeKey(scheme, kind, hook)
    if key not in probes:
        raise UserError(f"no {key} probe; the probes are {sorted(map(str, probes))[:4]} ...")
    return probes[key]


@torch.no_grad()
def read_board(
    probes: Probes, acts, hook: str, scheme: str = "mine_theirs", kind: str = "linear"
) -> torch.Tensor:
    """The class each square reads (int64 [..., 64]; mine/theirs: 0 empty, 1 mine, 2 theirs)
    from residual vectors ``acts`` [..., d_model] at ``hook``."""
    x = torch.as_tensor(np.asarray(acts) if not torch.is_tensor(acts) else acts).float()
    return _probe(probes, hook, scheme, kind)(x).argmax(-1)


@torch.no_grad()
def probe_direction(
    probes: Probes, hook: str, square: int | None = None, reading: str = "mine_theirs"
) -> torch.Tensor:
    """The residual-stream direction along which the linear probe at ``hook`` reads
    ``reading`` (a key of :data:`DIRECTIONS`) of ``square``: [d_model], or [d_model, 64]
    for every square when ``square`` is None. In the raw stream's units (the probe's
    standardisation folded in), so it can be added to an activation or dotted with weights."""
    if reading not in DIRECTIONS:
        raise UserError(f"unknown reading {reading!r}; choose one of {sorted(DIRECTIONS)}")
    scheme = "mine_theirs" if reading == "empty" else reading
    w = _probe(probes, hook, scheme, "linear").raw_weight().float().cpu()  # [d, 64, classes]
    towards, away = DIRECTIONS[reading]
    direction = w[:, :, list(towards)].mean(-1) - w[:, :, list(away)].mean(-1)
    return direction if square is None else direction[:, square]
