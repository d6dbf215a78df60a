"""What the explorer computes: one position of one game, read by the model and every probe,
edited by hand, attended to and attributed. Plain dicts in, plain dicts out, so the page, a
notebook (through the JSON API) and the tests call the same functions.

A position is ``ply`` T of a game: the board after move T (0-based), which the model has read
as moves 0..T, as in ``acts.h5``. Squares are indices 0..63 (A1 = 0, H8 = 63). Probe kinds and
editors are whatever the registries hold (a kind registered in a notebook shows up here), and
each finished stage given shows through its view. Bad input raises
:class:`probes.explorer.inputs.ExplorerError` with an HTTP status and a reason naming the game,
ply, square, layer or head. Nothing here writes a file.

The loading is :class:`probes.explorer.run.ExplorerRun`, the checks
:mod:`probes.explorer.inputs`, the answers :mod:`probes.explorer.answers` (each a function of
the loaded run), the routes :mod:`probes.explorer.server`.

>>> run = open_explorer("data/runs/cpu", ["data/games-cpu-seed0.h5"], "data/runs/cpu/probes")
>>> answers.position(run, parse_moves("F5 D6 C3"), 2)["probes"]["2"]
"""

from __future__ import annotations

import os

from probes.explorer.answers import warm_up
from probes.explorer.run import ExplorerRun


def open_explorer(
    run: str | os.PathLike,
    games: list[str | os.PathLike],
    probe_dir: str | os.PathLike,
    stages: dict[str, str | os.PathLike | None] | None = None,
) -> ExplorerRun:
    """A run's model, its probes and games files (and the finished folders of any registered
    stages, by name), loaded and warmed up."""
    return warm_up(ExplorerRun.load(run, games, probe_dir, stages))
