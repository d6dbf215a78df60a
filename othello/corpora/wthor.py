"""The WTHOR binary game database (``.wtb``) of the French Othello Federation.

A 16-byte little-endian header (creation date, number of games N1, N2 = 0, year of the games,
board size, game type, search depth, one reserved byte) is followed by N1 records of 68 bytes:
tournament, black and white player numbers (uint16 each), black's disc count, the theoretical
score, and 60 move bytes, each ``10 * row + column`` (both 1..8; A1 = 11, H1 = 18, A8 = 81)
and 0 after the last move.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from othello.corpora.pgn import GameRecord, RecordError
from othello.world.squares import MAX_MOVES

HEADER_BYTES = 16
RECORD_DTYPE = np.dtype(
    [
        ("tournament", "<u2"),
        ("black_player", "<u2"),
        ("white_player", "<u2"),
        ("black_score", "u1"),
        ("theoretical_score", "u1"),
        ("moves", "u1", (MAX_MOVES,)),
    ]
)
HEADER_DTYPE = np.dtype(
    [
        ("century", "u1"),
        ("year", "u1"),
        ("month", "u1"),
        ("day", "u1"),
        ("n_games", "<u4"),
        ("n_records", "<u2"),
        ("games_year", "<u2"),
        ("board_size", "u1"),
        ("game_type", "u1"),
        ("depth", "u1"),
        ("reserved", "u1"),
    ]
)
assert RECORD_DTYPE.itemsize == 68 and HEADER_DTYPE.itemsize == HEADER_BYTES


def read_wthor(path: str | os.PathLike, batch: int = 65536) -> Iterator[GameRecord]:
    """Yield the games of a ``.wtb`` file, checking the header against the file's size."""
    path = Path(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise RecordError(f"{path}: {size} bytes is too short for a WTHOR header")
    header = np.fromfile(path, dtype=HEADER_DTYPE, count=1)[0]
    if header["board_size"] not in (0, 8):
        raise RecordError(f"{path}: board size {header['board_size']} is not 8x8")
    if header["game_type"] != 0:
        raise RecordError(f"{path}: game type {header['game_type']} is not a game database")
    n_games = int(header["n_games"])
    expected = HEADER_BYTES + n_games * RECORD_DTYPE.itemsize
    if size != expected:
        raise RecordError(
            f"{path}: header declares {n_games} games ({expected} bytes) but the file has "
            f"{size} bytes: truncated or corrupt"
        )
    records = np.memmap(path, dtype=RECORD_DTYPE, mode="r", offset=HEADER_BYTES, shape=(n_games,))
    for start in range(0, n_games, batch):
        for offset, record in enumerate(records[start : start + batch]):
            number = start + offset + 1
            yield GameRecord(
                number,
                number,
                _decode_moves(path, number, record["moves"]),
                {
                    "BlackPlayer": str(int(record["black_player"])),
                    "WhitePlayer": str(int(record["white_player"])),
                    "Tournament": str(int(record["tournament"])),
                    "BlackScore": str(int(record["black_score"])),
                },
            )


def _decode_moves(path: Path, number: int, codes: np.ndarray) -> list[int]:
    moves: list[int] = []
    for ply, code in enumerate(codes.tolist(), start=1):
        if code == 0:
            if any(codes[ply:]):
                raise RecordError(f"{path}: game {number}: move after the end marker at ply {ply}")
            break
        row, col = divmod(code, 10)
        if not (1 <= row <= 8 and 1 <= col <= 8):
            raise RecordError(f"{path}: game {number}, ply {ply}: invalid move code {code}")
        moves.append((row - 1) * 8 + (col - 1))
    if not moves:
        raise RecordError(f"{path}: game {number} has no moves")
    return moves


def write_wthor(
    path: str | os.PathLike,
    moves: np.ndarray,
    lengths: np.ndarray,
    black_scores: np.ndarray | None = None,
    games_year: int = 0,
) -> None:
    """Write games (int8 [N, 60] squares, padded with -1) as a ``.wtb`` database."""
    count = len(moves)
    header = np.zeros(1, dtype=HEADER_DTYPE)
    today = dt.date.today()
    header["century"], header["year"] = divmod(today.year, 100)
    header["month"], header["day"] = today.month, today.day
    header["n_games"] = count
    header["games_year"] = games_year
    header["board_size"] = 8
    records = np.zeros(count, dtype=RECORD_DTYPE)
    squares = np.asarray(moves, dtype=np.int16)
    in_game = np.arange(MAX_MOVES)[None, :] < np.asarray(lengths)[:, None]
    codes = (squares // 8 + 1) * 10 + squares % 8 + 1
    records["moves"] = np.where(in_game, codes, 0)
    if black_scores is not None:
        records["black_score"] = black_scores
    with open(path, "wb") as handle:
        handle.write(header.tobytes())
        handle.write(records.tobytes())
