"""What the explorer is asked about: a game (a row of a games file, or typed moves;
:class:`othello.world.game.Game`) and a position in it. Bad input raises
:class:`ExplorerError` with the HTTP status to answer and a reason naming the game, ply or
move."""

from __future__ import annotations

from othello.common.errors import UserError
from othello.world.game import Game, MoveListError


class ExplorerError(UserError):
    """Bad input from the page or the API: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_ply(game: Game, ply: int) -> None:
    """A position the model reads (404 otherwise: the page asked for a ply that is not
    there)."""
    try:
        game.check_position(ply)
    except UserError as exc:
        raise ExplorerError(str(exc), 404) from None


def check_someone_moves(game: Game, ply: int) -> None:
    if game.mover(ply) is None:
        raise ExplorerError(f"{game.label}: nobody is to move after ply {ply}")


def parse_moves(text: str) -> Game:
    """A typed move list ("F5 D6 C3" or "f5,d6,c3"), checked move by move with the engine."""
    try:
        return Game.from_moves(text)
    except MoveListError as exc:
        raise ExplorerError(str(exc)) from None
