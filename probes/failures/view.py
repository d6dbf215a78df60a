"""The explorer's list of errors (natural and found by the searches): each with its moves, the
proposed move, the kind (wrong board or wrong reading), the squares where the probe's board is
wrong and whether the true-board edit fixed it; a click loads the position."""

from __future__ import annotations

from probes.failures.result import SoundnessResult

SHOWN = 200  # errors listed (the shortest prefixes first)


class SoundnessView:
    def __init__(self, result: SoundnessResult) -> None:
        self.errors = sorted(result.errors, key=lambda e: (e["ply"], e["source"]))[:SHOWN]
        self.total = len(result.errors)

    def info(self) -> dict:
        keys = ("moves", "ply", "proposed", "kind", "differs_at", "missed_flips",
                "fixed_by_true_board", "source")  # fmt: skip
        errors = [{k: e[k] for k in keys} for e in self.errors]
        return {"soundness": {"total": self.total, "errors": errors}}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {}
