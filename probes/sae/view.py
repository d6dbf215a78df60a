"""The SAE stage's view in the explorer: an SAE read alongside the probes, the features active
at a position."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from othello.common.errors import UserError
from othello.common.files import DETAILS
from othello.model.hooks import resid_layer
from probes.sae.model import load_sae
from probes.sae.plots import property_name


class SAEView:
    """An SAE folder (train_sae.py) read alongside the probes: the features active at a
    position, strongest first, each with the board property it best matches."""

    def __init__(self, folder: str | os.PathLike, hooks: dict[int, str]) -> None:
        self.sae, cfg = load_sae(folder)
        self.hook = cfg["metadata"]["hook_name"]
        if self.hook not in hooks.values():
            raise UserError(f"{folder}: the SAE reads {self.hook}, which the probes do not cover")
        board = json.loads((Path(folder) / DETAILS).read_text())["board"]["mine_theirs"]
        self.match, self.match_f1 = board["feature_match"], board["feature_match_f1"]
        self.layer = resid_layer(self.hook)

    @classmethod
    def of(cls, result, hooks: dict[int, str]) -> SAEView:
        """The view of the SAE stage's result: its one SAE, or a sweep's first."""
        return cls(Path(result.folder) / next(iter(result.sweep)), hooks)

    def info(self) -> dict:
        return {}

    def at_position(self, cache: dict, ply: int) -> dict:
        """What the position answer gains: the SAE's active features (``sae_features``)."""
        return {"sae_features": self.features(cache, ply)}

    def features(self, cache: dict, ply: int, top: int = 8) -> dict:
        with torch.inference_mode():
            acts = self.sae.encode(cache[self.hook][0, ply].float())
        values, index = acts.topk(top)
        return {
            "layer": self.layer,
            "active": int((acts > 0).sum()),
            "top": [
                {
                    "feature": int(f),
                    "activation": round(float(v), 4),
                    "match": property_name("mine_theirs", self.match[int(f)])[0],
                    "match_f1": self.match_f1[int(f)],
                }
                for v, f in zip(values, index, strict=True)
                if v > 0
            ],
        }
