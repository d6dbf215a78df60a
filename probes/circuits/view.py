"""The circuit laboratory's view in the explorer: what a finished circuits folder adds to a
neuron's page (its rule, R^2, depth and controls, and the atlas's top test positions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from probes.circuits.results import CircuitsResult


@dataclass
class CircuitsFolder:
    """What a finished circuits folder adds to a neuron's page: each neuron's record (rule,
    R^2, depth, controls) and the atlas's top test positions; empty without a folder."""

    records: dict[tuple[int, int], dict] = field(default_factory=dict)
    top: dict[str, np.ndarray] = field(default_factory=dict)
    layers: list[int] = field(default_factory=list)  # the atlas's layers
    metrics: dict = field(default_factory=dict)

    @classmethod
    def of(cls, results: CircuitsResult | None) -> CircuitsFolder:
        """The view of a finished circuits folder (empty for None)."""
        if results is None:
            return cls()
        atlas = results.atlas()
        return cls(
            records={(r["layer"], r["neuron"]): r for r in results.neurons},
            top={k: atlas[k] for k in ("top_game", "top_position", "top_value")},
            layers=[int(x) for x in atlas["layers"]],
            metrics=results.metrics,
        )

    def same_games(self, games) -> bool:
        """Whether an open games file is the one the circuits folder's top positions index
        (its name and size; hashing a large corpus on every start would be slow)."""
        m = self.metrics
        return m.get("games_file") == games.path.name and m.get("games_count") == games.n_games

    def top_positions(self, layer: int, neuron: int) -> list[dict]:
        """The neuron's most active test positions (from atlas.npz)."""
        if not self.top or layer not in self.layers:
            return []
        i = self.layers.index(layer)
        rows = self.top["top_game"][i, neuron]
        plies = self.top["top_position"][i, neuron].astype(np.int64)
        return [
            {"game": int(g), "ply": int(t), "activation": round(float(v), 4)}
            for g, t, v in zip(rows, plies, self.top["top_value"][i, neuron], strict=True)
        ]

    def info(self) -> dict:
        return {}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {}
