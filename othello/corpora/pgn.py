"""The PGN-style text export of the WTHOR database: ``[Key "value"]`` headers, then numbered
lines of up to two moves in standard notation. Passes are not written.

Parsing is strict: anything that is not a header, a move line or a blank line is an error
naming the file and line, so a damaged export is never half-read in silence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.errors import UserError
from othello.world.squares import MAX_MOVES, parse_square, square_name

_HEADER = re.compile(r'^\[(\w+)\s+"(.*)"\]$')
_MOVE_LINE = re.compile(r"^(\d+)\.\s+(\S+)(?:\s+(\S+))?$")


class RecordError(UserError):
    """A game record file is malformed; the message names the file and where."""


@dataclass
class GameRecord:
    number: int  # 1-based position of the game in its file
    line: int  # line (PGN) or record (WTHOR) where it starts
    moves: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def read_pgn(path: str | os.PathLike) -> Iterator[GameRecord]:
    """Yield the games of a PGN file one by one."""
    path = Path(path)
    game: GameRecord | None = None
    in_moves = False
    number = 0
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            lines = list(enumerate(handle, start=1))
        except UnicodeDecodeError as exc:
            raise RecordError(f"{path}: not UTF-8 text ({exc})") from exc
    for line_no, raw in lines:
        text = raw.strip()
        if not text:
            continue
        header = _HEADER.match(text)
        if header:
            if game is None or in_moves:
                if game is not None:
                    yield _finished(path, game)
                number += 1
                game = GameRecord(number, line_no)
                in_moves = False
            game.headers[header.group(1)] = header.group(2)
            continue
        moves = _MOVE_LINE.match(text)
        if not moves or game is None:
            raise RecordError(f"{path}:{line_no}: unexpected text {text[:40]!r}")
        in_moves = True
        expected = len(game.moves) // 2 + 1
        if int(moves.group(1)) != expected or len(game.moves) % 2:
            raise RecordError(
                f"{path}:{line_no}: game {game.number}: move number {moves.group(1)} out of "
                f"sequence (expected {expected})"
            )
        for token in moves.group(2, 3):
            if token is None:
                continue
            try:
                game.moves.append(parse_square(token))
            except ValueError:
                raise RecordError(
                    f"{path}:{line_no}: game {game.number}: {token!r} is not a square"
                ) from None
    if game is not None:
        yield _finished(path, game)


def _finished(path: Path, game: GameRecord) -> GameRecord:
    if not game.moves:
        raise RecordError(f"{path}:{game.line}: game {game.number} has no moves")
    if len(game.moves) > MAX_MOVES:
        raise RecordError(f"{path}:{game.line}: game {game.number} has {len(game.moves)} moves")
    return game


def format_pgn(moves: list[int], headers: dict[str, str]) -> str:
    """One game as PGN text, in the export's layout (two moves a line)."""
    lines = [f'[{key} "{value}"]' for key, value in headers.items()]
    names = [square_name(m) for m in moves]
    for i in range(0, len(names), 2):
        lines.append(f"{i // 2 + 1}. " + " ".join(names[i : i + 2]))
    return "\n".join(lines) + "\n"
