"""What the explorer computes: one position of one game, read by the model and every probe,
edited by hand, attended to and attributed. Plain dicts in, plain dicts out, so the page, a
notebook (through the JSON API) and the tests call the same functions.

A position is ``ply`` T of a game: the board after move T (0-based), which the model has read
as moves 0..T, as in ``acts.h5``. Squares are indices 0..63 (A1 = 0, H8 = 63). Probe kinds and
editors are whatever the registries hold (a kind registered in a notebook shows up here). Bad
input raises :class:`probes.explorer.inputs.ExplorerError` with an HTTP status and a reason
naming the game, ply, square, layer or head. Nothing here writes a file.

:class:`Explorer` is the door: the loading is :class:`probes.explorer.run.ExplorerRun`, the
checks :mod:`probes.explorer.inputs`, the answers :mod:`probes.explorer.answers`.
"""

from __future__ import annotations

import os
from dataclasses import fields

from othello.world.game import Game
from othello.world.squares import parse_square
from probes.explorer import answers
from probes.explorer.inputs import check_layer, parse_moves, pick_game
from probes.explorer.run import ExplorerRun

RUN_FIELDS = frozenset(f.name for f in fields(ExplorerRun)) | {"layers"}


class Explorer:
    """A run's model, its probes and games files, ready to answer one position at a time.

    The default edit (method, start layer, scale) comes from an intervention sweep's choices
    (``interventions``) when given, else the first registered editor at the mine/theirs probe's
    best layer. The loaded run's fields (``model``, ``probes``, ``hooks``, ``layers``,
    ``games``, ``test_rows``, ``defaults``, ``circuits``, ``lock``, ...) read through.
    """

    def __init__(
        self,
        run: str | os.PathLike,
        games: list[str | os.PathLike],
        probe_dir: str | os.PathLike,
        interventions: str | os.PathLike | None = None,
        sae: str | os.PathLike | None = None,
        circuits: str | os.PathLike | None = None,
        world_model: str | os.PathLike | None = None,
    ) -> None:
        self.run = ExplorerRun.load(
            run, games, probe_dir, interventions, sae, circuits, world_model
        )
        self._warm_up()

    def __getattr__(self, name: str):
        if name in RUN_FIELDS:
            return getattr(self.run, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _warm_up(self) -> None:
        """Compile the engine's kernels and run the model once, so the first request is as
        fast as the rest."""
        game = parse_moves("F5 D6 C3")
        self.position(game, 2)
        self.intervene(game, 2, parse_square("D5"), None, self.run.layers[-1], 1.0)

    def game(self, game: int | None = None, file: int = 0, moves: str | None = None) -> Game:
        """Typed ``moves``, or row ``game`` of games file ``file``."""
        return pick_game(self.run.games, game, file, moves)

    def check_layer(self, layer: int) -> str:
        return check_layer(self.run.hooks, layer)

    def games_list(self, file: int = 0, offset: int = 0, limit: int = 100) -> dict:
        return answers.games_list(self.run, file, offset, limit)

    def info(self) -> dict:
        return answers.info(self.run)

    def position(self, game: Game, ply: int, kind: str = "linear") -> dict:
        return answers.position(self.run, game, ply, kind)

    def intervene(self, game: Game, ply: int, square: int, method=None, layer=None, scale=None):
        return answers.intervention(self.run, game, ply, square, method, layer, scale)

    def attention(self, game: Game, ply: int, layer: int, head: int | None = None) -> dict:
        return answers.attention(self.run, game, ply, layer, head)

    def saliency(self, game: Game, ply: int, method=None, layer=None, scale=None) -> dict:
        return answers.saliency(self.run, game, ply, method, layer, scale)
