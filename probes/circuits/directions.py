"""Probe directions in the residual stream: what the atlas and the heads compare weights with.

A linear probe reads ``logits = x @ W + b`` per square (:meth:`LinearProbe.raw_weight`, the
standardisation folded in), so the direction along which the residual stream moves one of its
readings is the gradient of a logit difference:

* ``mine_theirs``: mine minus theirs (the mine/theirs probe),
* ``empty``: empty minus the mean of mine and theirs (the same probe),
* ``flipped``: flipped minus kept, ``legal``: legal minus illegal.

A head's output dotted with a direction is how far it moves that probe's logit difference, in
the probe's own units, which makes squares and heads comparable.
"""

from __future__ import annotations

import torch

from othello.common.errors import UserError
from othello.model.hooks import resid_layer
from probes.fit import Probes
from probes.read import DIRECTIONS, probe_direction

MAPS = ("mine_theirs", "empty", "flipped", "legal")  # the direction kinds, in figure order


def probe_directions(probes: Probes) -> dict[int, dict[str, torch.Tensor]]:
    """``{residual layer: {map: [d_model, 64]}}`` from the linear probes that exist."""
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key in probes:
        if key.kind != "linear" or key.hook is None:
            continue
        try:
            layer = resid_layer(key.hook)
        except UserError:
            continue
        found = out.setdefault(layer, {})
        readings = ("mine_theirs", "empty") if key.scheme == "mine_theirs" else (key.scheme,)
        for reading in readings:
            if reading in DIRECTIONS:
                found[reading] = probe_direction(probes, key.hook, reading=reading)
    return out


def check_directions(
    directions: dict[int, dict[str, torch.Tensor]], n_layers: int, d_model: int, where: str
) -> None:
    """Refuse probes that cannot serve the lab: the mine/theirs linear probe is needed at
    every residual layer 0..n_layers, at the model's width."""
    for layer in range(n_layers + 1):
        found = directions.get(layer, {})
        if "mine_theirs" not in found:
            raise UserError(
                f"{where} has no mine_theirs/linear probe at layer {layer}: fit linear "
                "mine/theirs probes at every layer (scripts/fit_probes.py)"
            )
        if found["mine_theirs"].shape[0] != d_model:
            raise UserError(
                f"{where}: probes of width {found['mine_theirs'].shape[0]}, "
                f"the model's is {d_model}"
            )


def cosines(rows: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """[n, 64]: cosine of each row [n, d] with each square's direction [d, 64]."""
    a = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
    b = direction / direction.norm(dim=0, keepdim=True).clamp(min=1e-12)
    return a @ b
