"""One game, as a researcher holds it: typed moves ("F5 D6 C3"), checked move by move by the
engine, or a row of a games file (:meth:`othello.corpora.corpus.GamesFile.game`: the world
does not read files), with its boards, movers, legal moves and tokens.

Positions follow the model: position ``t`` is the board after move ``t`` (0-based), which the
model has read as moves ``0..t`` when it predicts move ``t + 1``. Squares are indices 0..63
(A1 = 0, H8 = 63; :mod:`othello.world.squares`). A bad move list raises
:class:`MoveListError` naming the move and ply.

>>> game = Game.from_moves("F5 D6 C3")
>>> game.length, game.mover(2), [square_name(s) for s in game.legal_moves(2)][:3]
(3, 'white', ['D3', 'F3', 'F4'])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from othello.common.errors import UserError
from othello.world.labels import PlyLabels, replay
from othello.world.squares import MAX_MOVES, N_POSITIONS, PAD_MOVE, parse_square, square_name
from othello.world.tokens import encode

PLAYERS = ("black", "white")

__all__ = ["Game", "MoveListError", "square_name"]


class MoveListError(UserError):
    """A typed move list that is empty, too long, not squares, or illegal at some ply."""


@dataclass(frozen=True)
class Game:
    """A legal game: ``moves`` int8 [60] padded with -1, its ``length`` and a ``label`` saying
    where it came from (errors and pages name the game by it)."""

    moves: np.ndarray
    length: int
    label: str = "typed moves"

    @classmethod
    def from_moves(cls, text: str | list[str]) -> Game:
        """A game from move names ("F5 D6 C3", "f5,d6,c3" or a list), each checked."""
        names = text if isinstance(text, list) else text.replace(",", " ").split()
        if not names or len(names) > MAX_MOVES:
            raise MoveListError(f"a move list needs 1 to {MAX_MOVES} moves, got {len(names)}")
        moves = np.full(MAX_MOVES, PAD_MOVE, np.int8)
        for ply, name in enumerate(names):
            try:
                moves[ply] = parse_square(name)
            except ValueError:
                raise MoveListError(f"move {ply + 1} ({name!r}) is not a square like F5") from None
        game = cls(moves, len(names))
        if not game.labels.valid[0]:
            ply = int(game.labels.error[0])
            raise MoveListError(f"move {ply + 1} ({names[ply].upper()}) is illegal at ply {ply}")
        return game

    @functools.cached_property
    def labels(self) -> PlyLabels:
        """The engine's replay of the game, once (boards, legal moves, who moves)."""
        return replay(self.moves[None], np.array([self.length], np.int8))

    @property
    def positions(self) -> int:
        """How many positions the model reads: every move but a full game's last."""
        return min(self.length, N_POSITIONS)

    def check_position(self, ply: int) -> None:
        if not 0 <= ply < self.positions:
            raise UserError(f"{self.label}: ply {ply} is out of range (0..{self.positions - 1})")

    def board(self, ply: int, view: str = "mover") -> np.ndarray:
        """int8 [64] after move ``ply``: from the side to move's view (0 empty, 1 mine,
        2 theirs; ``view="mover"``) or by colour (0 empty, 1 black, 2 white; ``"colour"``)."""
        if view not in ("mover", "colour"):
            raise UserError(f"view must be 'mover' or 'colour', got {view!r}")
        boards = self.labels.board_relative() if view == "mover" else self.labels.board_colour()
        return boards[0, ply]

    def mover(self, ply: int) -> str | None:
        """Who moves after move ``ply`` ('black' or 'white'; None when the game is over)."""
        player = int(self.labels.next_player[0, ply])
        return PLAYERS[player] if player >= 0 else None

    def legal_moves(self, ply: int) -> list[int]:
        """The squares the side to move may play after move ``ply``, ascending."""
        return np.flatnonzero(self.labels.legal_squares()[0, ply]).tolist()

    def tokens(self, upto: int | None = None) -> np.ndarray:
        """Token ids [positions] of moves ``0..upto`` (default: every position the model reads)."""
        last = self.positions - 1 if upto is None else upto
        return encode(self.moves[: last + 1])

    def names(self) -> list[str]:
        """The moves as square names."""
        return [square_name(int(m)) for m in self.moves[: self.length]]
