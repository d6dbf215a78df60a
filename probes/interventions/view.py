"""The intervention stage's view in the explorer: the edit made when a disc is clicked
defaults to the sweep's headline (method and start layer chosen on its tuning cases, and the
scale-like setting it chose there)."""

from __future__ import annotations

from probes.interventions.editors import EDITORS
from probes.interventions.results import InterventionResult


class InterventionView:
    """A finished sweep, read by the explorer."""

    def __init__(self, result: InterventionResult) -> None:
        self.result = result

    def edit_default(self, fallback_scale: float) -> dict:
        """The headline edit: method, start layer, and the first scale-like setting chosen
        (``fallback_scale`` when no editor has one)."""
        results, scale = self.result, fallback_scale
        for name, spec in EDITORS.items():
            if spec.strength and name in results.choice["by_method"]:
                scale = results.setting(name)[spec.strength]
                break
        return {"method": results.headline["method"], "layer": int(results.headline["start_layer"]),
                "scale": scale, "chosen_on": "the sweep's tuning cases"}  # fmt: skip

    def info(self) -> dict:
        return {}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {}
