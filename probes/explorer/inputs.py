"""What the explorer is asked about: a game (a row of a games file, or typed moves) and a
position in it, checked with the engine. Bad input raises :class:`ExplorerError` with the
HTTP status to answer and a reason naming the game, ply or move."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from othello.common.errors import UserError
from othello.world.labels import PlyLabels, replay
from othello.world.squares import MAX_MOVES, parse_square

N_POSITIONS = MAX_MOVES - 1


class ExplorerError(UserError):
    """Bad input from the page or the API: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Game:
    moves: np.ndarray  # int8 [60], padded with -1
    length: int
    label: str  # how the page names it

    @functools.cached_property
    def labels(self) -> PlyLabels:
        """The engine's replay of the game, once (boards, legal moves, who moves)."""
        return replay(self.moves[None], np.array([self.length], np.int8))

    def check_ply(self, ply: int) -> None:
        last = min(self.length, N_POSITIONS) - 1
        if not 0 <= ply <= last:
            raise ExplorerError(f"{self.label}: ply {ply} is out of range (0..{last})", 404)

    def check_someone_moves(self, ply: int) -> None:
        if int(self.labels.next_player[0, ply]) < 0:
            raise ExplorerError(f"{self.label}: nobody is to move after ply {ply}")


def parse_moves(text: str) -> Game:
    """A typed move list ("F5 D6 C3" or "f5,d6,c3"), checked move by move with the engine."""
    names = [x for x in text.replace(",", " ").split() if x]
    if not names or len(names) > MAX_MOVES:
        raise ExplorerError(f"a move list needs 1 to {MAX_MOVES} moves, got {len(names)}")
    moves = np.full(MAX_MOVES, -1, np.int8)
    for ply, name in enumerate(names):
        try:
            moves[ply] = parse_square(name)
        except ValueError:
            raise ExplorerError(f"move {ply + 1} ({name!r}) is not a square like F5") from None
    game = Game(moves, len(names), "typed moves")
    if not game.labels.valid[0]:
        ply = int(game.labels.error[0])
        raise ExplorerError(f"move {ply + 1} ({names[ply].upper()}) is illegal at ply {ply}")
    return game
