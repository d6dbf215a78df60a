"""What the circuit laboratory reads, loaded and checked before anything is computed: the
model (it needs heads and MLP neurons), its random-init control, the probe directions and
accuracies (fitted on this model), and the games of each split."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model import kinds
from othello.model.gpt import GPT
from othello.model.kinds import random_init, require
from probes.circuits.config import CircuitsConfig, split_rows
from probes.circuits.directions import check_directions, probe_directions

# what the lab needs heads and neurons for; a model without them gets its patching maps from
# the world-model stage (attribution_patching), which runs on every kind
LAB = "the circuit laboratory (heads, direct logit attribution, the neuron atlas)"


@dataclass
class CircuitsInputs:
    """Everything the stage reads, loaded and checked before anything is written."""

    model: GPT
    control: GPT  # the same architecture at random initialisation (seed 0, as cache.py's)
    model_sha256: str
    games_sha256: str
    directions: dict  # {residual layer: {map: [d_model, 64]}}
    probe_accuracy: dict[str, float]  # mine/theirs linear test accuracy by layer
    layers: list[int]
    rows: dict[str, np.ndarray]  # games-file rows of each split used
    games_file: str  # its name and number of games: what the explorer matches top rows by
    games_count: int
    device: str = ""
    warnings: list[str] = field(default_factory=list)


def check_inputs(
    model: GPT,
    model_sha256: str | None,
    probes,
    games: str | os.PathLike,
    cfg: CircuitsConfig,
) -> CircuitsInputs:
    """Check the model (heads and neurons), the probes (the probe stage's result: fitted on
    this model, mine/theirs at every layer), the layers asked and the games (enough of each
    split); raise before anything is computed."""
    for part in (kinds.HEADS, kinds.NEURONS):  # its heads, attribution and atlas need both
        require(model, part, LAB)
    where = str(probes.folder) if probes.folder else "the probes"
    fitted, _ = probes.probes(model_sha256)
    directions = probe_directions(fitted)
    check_directions(directions, model.cfg.n_layers, model.cfg.d_model, where)
    accuracy = probes.metrics.accuracy.get("mine_theirs", {}).get("linear", {})
    n = model.cfg.n_layers
    layers = sorted(set(cfg.layers)) if cfg.layers else list(range(n))
    if any(not 0 <= layer < n for layer in layers):
        asked = ",".join(map(str, layers))
        raise UserError(f"layers={asked}: the model's MLP layers are 0..{n - 1}")
    with GamesFile(games) as g:
        rows = split_rows(g, cfg)
        games_file = (g.path.name, int(g.n_games))
    probe_accuracy = {str(k): float(v) for k, v in accuracy.items()}
    warnings = [
        f"only {len(r):,} {split} games, {getattr(cfg, f'{split}_games'):,} asked (allow_fewer)"
        for split, r in rows.items()
        if len(r) < getattr(cfg, f"{split}_games")
    ]
    device = str(next(model.parameters()).device)
    return CircuitsInputs(
        model, random_init(model), model_sha256, file_sha256(games), directions,
        probe_accuracy, layers, rows, *games_file, device, warnings,
    )  # fmt: skip
