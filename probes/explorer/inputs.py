"""What the explorer is asked about, checked before anything runs: a game (a row of a games
file, or typed moves; :class:`othello.world.game.Game`), a position in it, a square, a probe
kind, a layer or a head. Bad input raises :class:`ExplorerError` with the HTTP status to
answer and a reason naming the game, ply, move, square, layer or head."""

from __future__ import annotations

from othello.common.errors import UserError
from othello.corpora.corpus import CorpusError, GamesFile
from othello.model.config import ModelConfig
from othello.model.hooked import HookedModel
from othello.model.kinds import HEADS, kind_of, missing_part
from othello.world.game import Game, MoveListError
from othello.world.squares import N_SQUARES


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


def pick_file(games: list[GamesFile], file: int) -> GamesFile:
    """Games file ``file`` of those the explorer was started with (404 when there is none)."""
    if not 0 <= file < len(games):
        raise ExplorerError(f"file {file} is out of range (0..{len(games) - 1})", 404)
    return games[file]


def pick_game(games: list[GamesFile], game: int | None, file: int, moves: str | None) -> Game:
    """The game a request names: typed ``moves`` when given, else row ``game`` of file
    ``file``."""
    if moves:
        return parse_moves(moves)
    if game is None:
        raise ExplorerError("say which game: game=I (a row of the games file) or moves=...")
    try:
        return pick_file(games, file).game(game)
    except CorpusError as exc:
        raise ExplorerError(str(exc), 404) from None


def check_layer(hooks: dict[int, str], layer: int) -> str:
    """A residual layer the probes cover; its hook name."""
    if layer not in hooks:
        layers = list(hooks)
        raise ExplorerError(
            f"layer {layer} is out of range: the probes cover layers {layers[0]}..{layers[-1]}"
        )
    return hooks[layer]


def check_block(cfg: ModelConfig, layer: int) -> None:
    """A block of the model (attention and neurons are per block, not per residual layer)."""
    if not 0 <= layer < cfg.n_layers:
        raise ExplorerError(f"layer {layer} is out of range: blocks 0..{cfg.n_layers - 1}")


def check_part(model: HookedModel, part: str, what: str) -> None:
    """A model that has ``part`` (attention heads or MLP neurons) for ``what``."""
    if part not in kind_of(model).parts:
        raise ExplorerError(f"{what} {missing_part(model, part)}")


def check_head(model: HookedModel, head: int | None) -> None:
    """An attention head of the model, or None for every head."""
    check_part(model, HEADS, "attention patterns")
    n_heads = model.cfg.n_heads
    if head is not None and not 0 <= head < n_heads:
        raise ExplorerError(f"head {head} is out of range (0..{n_heads - 1})")


def check_square(square: int) -> None:
    if not 0 <= square < N_SQUARES:
        raise ExplorerError(f"square {square} is outside 0..63")


def check_kind(kinds: set[str], kind: str) -> None:
    """A probe kind the run has fitted."""
    if kind not in kinds:
        raise ExplorerError(f"no probes of kind {kind!r}; the run has {', '.join(sorted(kinds))}")
