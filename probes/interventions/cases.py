"""Intervention benchmark cases: a position, a goal board for some of its squares, and the
engine's legal sets.

A *case* is a position (sequence position t of a game: the board after move t), a ``mask`` of
the squares an edit sets and a ``goal`` board: the board the edit aims at, classes 0 empty,
1 mine, 2 theirs from the view of the side to move, equal to the true board outside the mask.
An editor sets the masked squares of the model's board to their goal classes and keeps the
others as the model reads them. The benchmark's cases flip one disc (a mask of one occupied
square, its goal the other side's class), chosen so that the flip changes the legal-move set;
:func:`goal_cases` builds cases that set several squares at once, e.g. every square a probe
misreads set back to the true board.

The engine gives the legal sets before and after the edit: after it, the rules applied to the
goal board with the same side to move. A multi-square goal may be a board no game reaches
(discs that cannot all be there, or no legal move at all: then the set is empty and the top-N
score, with N = 0, counts no error); the rules still say which empty squares would flip a
line of the other side's discs, and a model that uses its board representation should follow
that. A goal that empties a centre square is refused: the model has no token to play there.
Sets are saved to HDF5 with that ground truth so every method and model is scored on the same
cases.

* natural: positions from held-out games of the corpus (uniformly random play).
* unnatural: positions from greedy games (:mod:`othello.world.policies`), boards random play
  rarely reaches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from othello.common.atomic import commit, partial_path
from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.world import engine
from othello.world.labels import EMPTY, MINE, THEIRS, replay, unpack_bitboards
from othello.world.policies import greedy_games
from othello.world.squares import (
    CENTRE_SQUARES,
    N_POSITIONS,
    N_SQUARES,
    bitboard_squares,
    parse_square,
    square_name,
)


@dataclass
class Cases:
    moves: np.ndarray  # int8 [K, 60]: the games, padded with -1
    length: np.ndarray  # int8 [K]
    position: np.ndarray  # int64 [K]: sequence position (0..58) to edit and read
    board: np.ndarray  # int8 [K, 64]: the true board there (0 empty, 1 mine, 2 theirs)
    goal: np.ndarray  # int8 [K, 64]: the edited board: ``board`` with the masked squares set
    mask: np.ndarray  # bool [K, 64]: the squares the edit sets (the others are kept)
    legal_before: np.ndarray  # uint64 [K]: legal moves of the side to move on ``board``
    legal_after: np.ndarray  # uint64 [K]: the same on ``goal``
    game: np.ndarray  # int64 [K]: row of the game in its source (games file or generator)

    def __len__(self) -> int:
        return len(self.position)

    @property
    def square(self) -> np.ndarray:
        """int64 [K]: each case's one masked square, for sets that flip one disc a case (the
        gallery, the saliency map); a UserError for cases that set another number."""
        counts = self.mask.sum(-1)
        if (counts != 1).any():
            k = int(np.flatnonzero(counts != 1)[0])
            raise UserError(f"case {k} sets {int(counts[k])} squares, not one")
        return self.mask.argmax(-1).astype(np.int64)

    def take(self, index: np.ndarray | slice) -> Cases:
        return Cases(*(getattr(self, f.name)[index] for f in fields(self)))


def legal_moves_on_flip(mine: int, theirs: int, square: int) -> tuple[int, int, int]:
    """The disc on ``square``'s class now (MINE or THEIRS) and the legal moves before and
    after it changes sides (engine truth)."""
    bit = np.uint64(1) << np.uint64(square)
    mine_bb, theirs_bb = np.uint64(mine), np.uint64(theirs)
    before = engine.legal_moves(mine_bb, theirs_bb)
    if mine_bb & bit:
        return MINE, int(before), int(engine.legal_moves(mine_bb & ~bit, theirs_bb | bit))
    if theirs_bb & bit:
        return THEIRS, int(before), int(engine.legal_moves(mine_bb | bit, theirs_bb & ~bit))
    raise UserError(f"square {square_name(square)} is empty: only a disc can change sides")


def _boards(moves: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mine, theirs, next_player) bitboards [B, 60] from the view of the side to move."""
    plies = replay(moves, length)
    if not plies.valid.all():
        bad = int(np.flatnonzero(~plies.valid)[0])
        raise UserError(f"game {bad} has an illegal move at ply {int(plies.error[bad])}")
    white = plies.next_player == 1
    mine = np.where(white, plies.white, plies.black)
    theirs = np.where(white, plies.black, plies.white)
    return mine, theirs, plies.next_player


def pick_cases(moves: np.ndarray, length: np.ndarray, n_cases: int, seed: int = 0) -> Cases:
    """Up to ``n_cases`` cases, one per game: a random position where someone is to move and
    a random disc whose flip changes the legal set (and leaves at least one legal move)."""
    rng = np.random.default_rng(seed)
    mine_bb, theirs_bb, next_player = _boards(moves, length)
    rows: list[tuple[int, ...]] = []
    for game in rng.permutation(len(moves)):
        positions = np.flatnonzero(next_player[game, :N_POSITIONS] >= 0)
        if len(positions) == 0:
            continue
        t = int(rng.choice(positions))
        mine, theirs = int(mine_bb[game, t]), int(theirs_bb[game, t])
        occupied = bitboard_squares(mine | theirs)
        for square in rng.permutation(occupied):
            current, before, after = legal_moves_on_flip(mine, theirs, int(square))
            if after != before and after != 0:
                rows.append((int(game), t, int(square), current, before, after))
                break
        if len(rows) == n_cases:
            break
    if not rows:
        raise UserError("no position in these games has a disc whose flip changes the legal set")
    return _from_rows(rows, moves, length)


def case_at(moves: np.ndarray, length: np.ndarray, game: int, ply: int, square: int) -> Cases:
    """The one case a researcher names: flip ``square`` after move ``ply`` of row ``game``."""
    if not 0 <= game < len(moves):
        raise UserError(f"game {game} is out of range (the games have {len(moves)} rows)")
    if not 0 <= ply < min(int(length[game]), N_POSITIONS):
        raise UserError(f"game {game} has no position after ply {ply}")
    mine_bb, theirs_bb, next_player = _boards(moves[game : game + 1], length[game : game + 1])
    if next_player[0, ply] < 0:
        raise UserError(f"game {game} ply {ply}: nobody is to move")
    mine, theirs = int(mine_bb[0, ply]), int(theirs_bb[0, ply])
    try:
        current, before, after = legal_moves_on_flip(mine, theirs, square)
    except ValueError as exc:
        raise UserError(f"game {game} ply {ply}: {exc}") from None
    return _from_rows([(game, ply, square, current, before, after)], moves, length)


def named_cases(games_path: str | os.PathLike, specs: list[str]) -> Cases:
    """The cases a researcher names as ``GAME:PLY:SQUARE`` (flip SQUARE after move PLY of
    game row GAME), each checked against the games file."""
    parts = []
    with GamesFile(games_path) as games:
        for spec in specs:
            try:
                game, ply, square = spec.split(":")
                game, ply, square = int(game), int(ply), parse_square(square)
            except ValueError:
                message = f"--case {spec!r}: expected GAME:PLY:SQUARE, e.g. 17:30:D4"
                raise UserError(message) from None
            if not 0 <= game < games.n_games:
                raise UserError(f"{games_path}: game {game} is out of range ({games.n_games})")
            moves, length = games.read(game, game + 1)
            try:
                case = case_at(moves, length, 0, ply, square)
            except ValueError as exc:
                message = str(exc).replace("game 0", f"game {game}")
                raise UserError(f"{games_path}: {message}") from None
            case.game[:] = game
            parts.append(case)
    return Cases(*(np.concatenate(c) for c in zip(*(vars(p).values() for p in parts), strict=True)))


def position_cases(moves: np.ndarray, length: int, position: int) -> Cases:
    """One case per disc of one position (moves [60] of a game), for the saliency map: a
    flip that leaves the legal set unchanged is kept, since its effect is what is measured."""
    moves, lengths = moves[None], np.array([length], dtype=np.int8)
    mine_bb, theirs_bb, _ = _boards(moves, lengths)
    mine, theirs = int(mine_bb[0, position]), int(theirs_bb[0, position])
    rows = [
        (0, position, square, *legal_moves_on_flip(mine, theirs, square))
        for square in bitboard_squares(mine | theirs)
    ]
    return _from_rows(rows, moves, lengths)


def _from_rows(rows: list[tuple[int, ...]], moves: np.ndarray, length: np.ndarray) -> Cases:
    """Single-flip cases from rows (game, position, square, its class now, ...): the mask
    holds the square, the goal the other side's class (:func:`goal_cases` recomputes the
    legal sets from the boards, as the engine gives them)."""
    game, position, square, current = (np.array(c) for c in list(zip(*rows, strict=True))[:4])
    rows_k = np.arange(len(rows))
    mask = np.zeros((len(rows), N_SQUARES), bool)
    mask[rows_k, square] = True
    goal = np.zeros((len(rows), N_SQUARES), np.int8)
    goal[rows_k, square] = np.where(current == MINE, THEIRS, MINE)
    return goal_cases(moves, length, game, position, goal, mask)


def goal_cases(
    moves: np.ndarray,
    length: np.ndarray,
    game: np.ndarray,
    ply: np.ndarray,
    goal: np.ndarray,
    mask: np.ndarray,
) -> Cases:
    """Cases that set the ``mask`` squares (bool [K, 64]) of the board after move ``ply[k]``
    of row ``game[k]`` of ``moves`` (int8 [N, 60], lengths [N]) to ``goal`` (int8 [K, 64]: 0
    empty, 1 mine, 2 theirs for the side to move; read at the masked squares only), with the
    engine's legal sets before and after. A case whose mask is empty is refused (an edit of
    nothing), as is one where nobody is to move or whose goal empties a centre square."""
    game, ply = np.array(game, np.int64), np.array(ply, np.int64)  # copies: the set owns them
    goal, mask = np.asarray(goal, np.int8), np.array(mask, bool)
    k = len(game)
    if ply.shape != (k,) or goal.shape != (k, N_SQUARES) or mask.shape != (k, N_SQUARES):
        raise UserError(
            f"games {game.shape}, plies {ply.shape}, goals {goal.shape} and masks {mask.shape}:"
            f" expected [K], [K], [K, 64] and [K, 64]"
        )
    _refuse((game < 0) | (game >= len(moves)), lambda i: f"case {i}", "no such game row")
    where = _case_names("", game, ply)
    board, goal, before, after = _truth(moves[game], length[game], ply, goal, mask, where)
    return Cases(moves[game], length[game], ply, board, goal, mask, before, after, game)


def _case_names(source: str, game: np.ndarray, ply: np.ndarray) -> Callable[[int], str]:
    """How a refusal names case k: its source (a file and set), row, game and ply."""
    prefix = f"{source}: " if source else ""
    return lambda k: f"{prefix}case {k} (game {int(game[k])}, ply {int(ply[k])})"


def _refuse(bad: np.ndarray, where: Callable[[int], str], why: str) -> None:
    """A UserError naming the first case ``bad`` marks, if any."""
    if bad.any():
        raise UserError(f"{where(int(np.flatnonzero(bad)[0]))}: {why}")


def _truth(moves, length, ply, goal, mask, where) -> tuple[np.ndarray, ...]:
    """(board, goal board, legal before, legal after) of cases, one game row each, from the
    engine; a case that cannot be edited is refused, named by ``where(case)``."""
    _refuse((ply < 0) | (ply >= N_POSITIONS), where, "no position there (plies are 0..58)")
    board, to_move = _board_at(moves, length, ply)
    _refuse(to_move < 0, where, "no side is to move at this position")
    _refuse(~mask.any(-1), where, "the mask holds no square: there is nothing to set")
    _refuse(mask & ((goal < EMPTY) | (goal > THEIRS)), where, "goal classes are 0, 1 or 2")
    edited = np.where(mask, goal, board).astype(np.int8)
    _refuse((edited[:, list(CENTRE_SQUARES)] == EMPTY).any(-1), where,
            "the goal empties a centre square, where the model has no move")  # fmt: skip
    return board, edited, _legal(board), _legal(edited)


def _board_at(moves: np.ndarray, length: np.ndarray, ply: np.ndarray) -> tuple[np.ndarray, ...]:
    """The board (int8 [K, 64], the side to move's view) after move ``ply[k]`` of game row k
    and who is to move there (-1: nobody); plies outside 0..58 read the nearest."""
    mine_bb, theirs_bb, next_player = _boards(moves, length)
    rows, at = np.arange(len(moves)), np.clip(ply, 0, N_POSITIONS - 1)
    mine, theirs = unpack_bitboards(mine_bb[rows, at]), unpack_bitboards(theirs_bb[rows, at])
    return (mine * MINE + theirs * THEIRS).astype(np.int8), next_player[rows, at]


def _legal(board: np.ndarray) -> np.ndarray:
    """uint64 [K]: the legal moves of the side to move on boards int8 [K, 64] (the rules
    applied to each board as it stands, whether or not a game reaches it)."""
    bits = np.uint64(1) << np.arange(N_SQUARES, dtype=np.uint64)
    mine = np.where(board == MINE, bits, 0).sum(-1, dtype=np.uint64)
    theirs = np.where(board == THEIRS, bits, 0).sum(-1, dtype=np.uint64)
    return np.array(
        [engine.legal_moves(m, t) for m, t in zip(mine, theirs, strict=True)], np.uint64
    )


def verify(cases: Cases, source: str) -> None:
    """Check every case against the engine; a bad one is named by ``source``, case, game and
    ply, so a hand-edited or corrupted set never reaches a model."""
    where = _case_names(source, cases.game, cases.position)
    truth = _truth(cases.moves, cases.length, cases.position, cases.goal, cases.mask, where)
    stored = (cases.board, cases.goal, cases.legal_before, cases.legal_after)
    names = ("board", "goal board (outside the mask, the board)", "legal set before the edit",
             "legal set after the edit")  # fmt: skip
    for name, value, true in zip(names, stored, truth, strict=True):
        differs = (np.asarray(value) != true).reshape(len(cases), -1).any(-1)
        _refuse(differs, where, f"the stored {name} disagrees with the engine")


FLIP_FIELDS = ("square", "current")  # a set file's fields before goal boards: still read
FROM_FLIPS = ("board", "goal", "mask")  # what they are read into


def _goal_from_flips(data: dict, where: Callable[[int], str]) -> dict:
    """The fields of a set file written before goal boards (one square a case and its class)
    as a goal-board case's: the mask holds the square, the goal the other side's class."""
    square, current = (np.asarray(data.pop(name), np.int64) for name in FLIP_FIELDS)
    rows = np.arange(len(square))
    _refuse((square < 0) | (square >= N_SQUARES), where, "the square is outside 0..63")
    _refuse((current != MINE) & (current != THEIRS), where, "the class is not mine or theirs")
    mask = np.zeros((len(square), N_SQUARES), bool)
    mask[rows, square] = True
    goal = np.zeros((len(square), N_SQUARES), np.int8)
    goal[rows, square] = np.where(current == MINE, THEIRS, MINE)
    board = _board_at(data["moves"], data["length"], data["position"])[0]
    held = board[rows, square]
    empty = square_name(int(square[np.argmax(held == EMPTY)]))
    _refuse(held == EMPTY, where, f"square {empty} is empty: only a disc can change sides")
    _refuse(held != current, where, "the stored class disagrees with the engine")
    return {**data, "board": board, "goal": np.where(mask, goal, board), "mask": mask}


def save_cases(sets: dict[str, Cases], path: str | os.PathLike, attrs: dict) -> Path:
    """One HDF5 group per case set, written to a partial file and renamed when complete."""
    path = Path(path)
    partial = partial_path(path)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(partial, "w") as f:
        f.attrs.update(attrs)
        for set_name, cases in sets.items():
            group = f.create_group(set_name)
            for field in fields(cases):
                group.create_dataset(field.name, data=getattr(cases, field.name))
    commit(partial, path)
    return path


def load_cases(path: str | os.PathLike) -> tuple[dict[str, Cases], dict]:
    """The sets in ``path`` (each checked against the engine) and the file's attributes."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"{path}: not a readable intervention set ({exc})") from None
    with f:
        sets = {}
        for set_name in f:
            group = f[set_name]
            data = {name: group[name][()] for name in group}
            flips = "goal" not in data and "square" in data  # written before goal boards
            wanted = [x.name for x in fields(Cases) if not flips or x.name not in FROM_FLIPS]
            missing = [
                name for name in wanted + list(FLIP_FIELDS if flips else ()) if name not in data
            ]
            if missing:
                raise UserError(f"{path}: set {set_name!r} lacks {missing}")
            if flips:
                where = _case_names(f"{path} [{set_name}]", data["game"], data["position"])
                data = _goal_from_flips(data, where)
            sets[set_name] = Cases(*(data[x.name] for x in fields(Cases)))
        attrs = dict(f.attrs)
    if not sets:
        raise UserError(f"{path}: holds no intervention set")
    for set_name, cases in sets.items():
        verify(cases, f"{path} [{set_name}]")
    return sets, attrs


def enough(cases: Cases, wanted: int, source: str, more: str, allow_fewer: bool) -> Cases:
    """The first ``wanted`` cases; fewer only when ``allow_fewer``, otherwise a UserError that
    says how many there are and how to get more."""
    if len(cases) < wanted and not allow_fewer:
        raise UserError(
            f"{source}: holds {len(cases)} cases, {wanted} asked; {more}, ask for fewer, "
            "or allow_fewer=true to take them"
        )
    return cases.take(slice(0, wanted))


def build_sets(
    games_path: str | os.PathLike,
    n_cases: int,
    tune_cases: int,
    seed: int = 0,
    allow_fewer: bool = False,
    names: tuple[str, ...] = ("natural", "unnatural", "tune"),
) -> dict[str, Cases]:
    """The benchmark sets for a corpus: ``natural`` from its test games, ``unnatural`` from
    greedy games, and ``tune`` (natural, from validation games) on which an editor's
    settings, layers and methods are chosen, so the reported sets are never used for tuning.
    A split too small for the cases asked is refused (see :func:`enough`)."""
    sets = {}
    with GamesFile(games_path) as games:
        for set_name, split, n in (("natural", "test", n_cases), ("tune", "val", tune_cases)):
            if set_name not in names or n == 0:
                continue
            index = games.split_indices(split)[: 2 * n]  # about one case per game
            if len(index) == 0:
                raise UserError(f"{games_path}: has no {split} games to draw {set_name} cases from")
            cases = pick_cases(games.moves[index], games.length[index], n, seed)
            cases.game = index[cases.game]
            more = f"its {split} split has {len(index)} games: use a bigger corpus"
            sets[set_name] = enough(cases, n, f"{games_path} ({set_name} cases)", more, allow_fewer)
    if "unnatural" in names and n_cases:
        sets["unnatural"] = pick_cases(*greedy_games(2 * n_cases, seed), n_cases, seed)
    return sets
