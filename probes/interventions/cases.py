"""Intervention benchmark cases: a position, a disc to flip, and the engine's legal sets.

A *case* is a position (sequence position t of a game: the board after move t) and an
occupied square whose disc changes sides between mine and theirs, from the view of the side
to move, chosen so that the flip changes the legal-move set. The engine gives the legal sets
before and after the edit; a model that uses its board representation should follow the
edited one. Sets are saved to HDF5 with that ground truth so every method and model is scored
on the same cases.

* natural: positions from held-out games of the corpus (uniformly random play).
* unnatural: positions from greedy games (:mod:`othello.world.policies`), boards random play
  rarely reaches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from othello.common.atomic import commit, partial_path
from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.world import engine
from othello.world.labels import MINE, THEIRS, replay
from othello.world.policies import greedy_games
from othello.world.squares import (
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
    square: np.ndarray  # int64 [K]: square whose disc changes sides
    current: np.ndarray  # int64 [K]: its class now (1 mine, 2 theirs)
    legal_before: np.ndarray  # uint64 [K]: legal moves of the side to move, unedited board
    legal_after: np.ndarray  # uint64 [K]: the same on the edited board
    game: np.ndarray  # int64 [K]: row of the game in its source (games file or generator)

    def __len__(self) -> int:
        return len(self.position)

    @property
    def target(self) -> np.ndarray:
        return np.where(self.current == MINE, THEIRS, MINE)

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
    game, position, square, current, before, after = (list(c) for c in zip(*rows, strict=True))
    game = np.array(game, dtype=np.int64)
    return Cases(
        moves[game],
        length[game],
        np.array(position, dtype=np.int64),
        np.array(square, dtype=np.int64),
        np.array(current, dtype=np.int64),
        np.array(before, dtype=np.uint64),
        np.array(after, dtype=np.uint64),
        game,
    )


def verify(cases: Cases, source: str) -> None:
    """Check every case against the engine; a bad one is named by ``source``, case, game and
    ply, so a hand-edited or corrupted set never reaches a model."""
    mine_bb, theirs_bb, next_player = _boards(cases.moves, cases.length)
    for k in range(len(cases)):
        t, square = int(cases.position[k]), int(cases.square[k])
        where = f"{source}: case {k} (game {int(cases.game[k])}, ply {t})"
        if not 0 <= t < N_POSITIONS or next_player[k, t] < 0:
            raise UserError(f"{where}: no side is to move at this position")
        if not 0 <= square < N_SQUARES:
            raise UserError(f"{where}: square {square} is outside 0..63")
        mine, theirs = int(mine_bb[k, t]), int(theirs_bb[k, t])
        try:
            truth = legal_moves_on_flip(mine, theirs, square)
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
        if truth != (
            int(cases.current[k]),
            int(cases.legal_before[k]),
            int(cases.legal_after[k]),
        ):
            raise UserError(f"{where}: stored class or legal sets disagree with the engine")


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
            missing = [x.name for x in fields(Cases) if x.name not in group]
            if missing:
                raise UserError(f"{path}: set {set_name!r} lacks {missing}")
            sets[set_name] = Cases(*(group[x.name][()] for x in fields(Cases)))
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
