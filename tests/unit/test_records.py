"""Championship-game import: PGN and WTHOR readers, validation and corrupt inputs."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import FIXTURES, SHARED_PGN, pgn_with_illegal_second_game

from othello.corpora.corpus import GamesFile
from othello.corpora.pgn import RecordError, read_pgn
from othello.corpora.records import IllegalGameError, import_games
from othello.corpora.wthor import read_wthor, write_wthor
from othello.world.labels import replay
from othello.world.squares import parse_square

SAMPLE = FIXTURES / "championship_sample.pgn"


def test_sample_imports_with_no_illegal_moves(tmp_path):
    report = import_games([SAMPLE], "pgn", tmp_path / "c.h5", progress=False)
    assert report.n_games == 330 and report.n_invalid == 0
    with GamesFile(tmp_path / "c.h5") as games:
        moves, length = games.read(0, games.n_games)
        assert games.attrs["n_invalid"] == 0
    assert (length < 60).any()  # real games can end early
    first = next(read_pgn(SAMPLE))
    assert moves[0, : len(first.moves)].tolist() == first.moves
    assert first.moves[0] == parse_square("F5")


@pytest.mark.skipif(not SHARED_PGN.is_dir(), reason="../shared/data/championship-pgn absent")
def test_all_championship_games_2015_2025_are_legal(tmp_path):
    files = sorted(SHARED_PGN.glob("WTH_*.pgn"))
    assert [f.stem[-4:] for f in files] == [str(y) for y in range(2015, 2026)]
    report = import_games(files, "pgn", tmp_path / "all.h5", progress=False)
    # 20,546 records, two of them exact repeats of earlier games
    assert report.n_games == 20544 and report.n_invalid == 0 and report.n_duplicates == 2


def test_wthor_round_trip(tmp_path):
    games = list(read_pgn(SAMPLE))
    moves = np.full((len(games), 60), -1, np.int8)
    for i, g in enumerate(games):
        moves[i, : len(g.moves)] = g.moves
    length = np.array([len(g.moves) for g in games], np.int8)
    labels = replay(moves, length)
    final = labels.black[np.arange(len(games)), length - 1]
    scores = np.array([bin(int(b)).count("1") for b in final])
    write_wthor(tmp_path / "s.wtb", moves, length, black_scores=scores, games_year=2020)
    back = list(read_wthor(tmp_path / "s.wtb"))
    assert [g.moves for g in back] == [g.moves for g in games]
    assert [int(g.headers["BlackScore"]) for g in back] == scores.tolist()
    report = import_games([tmp_path / "s.wtb"], "wthor", tmp_path / "w.h5", progress=False)
    with GamesFile(tmp_path / "w.h5") as imported:
        assert np.array_equal(imported.read(0, len(games))[0], moves)
    assert report.n_games == len(games)


def _handmade_wtb(moves_codes: list[int], n_declared: int = 1) -> bytes:
    """A WTHOR file built byte by byte, independent of write_wthor."""
    header = (
        bytes([20, 24, 11, 24]) + struct.pack("<IHH", n_declared, 0, 2024) + bytes([8, 0, 0, 0])
    )
    record = struct.pack("<HHHBB", 5, 17, 42, 40, 38) + bytes(
        moves_codes + [0] * (60 - len(moves_codes))
    )
    return header + record


def test_handmade_wthor_record_decodes(tmp_path):
    # F5 D6 C3 D3 C4: codes are 10 * row + column
    path = tmp_path / "h.wtb"
    path.write_bytes(_handmade_wtb([56, 64, 33, 34, 43]))
    (game,) = list(read_wthor(path))
    assert game.moves == [parse_square(s) for s in ("F5", "D6", "C3", "D3", "C4")]
    assert game.headers["BlackPlayer"] == "17" and game.headers["Tournament"] == "5"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x14\x18", "too short"),
        (None, "truncated or corrupt"),
        ("bad-code", "invalid move code 99"),
        ("after-end", "move after the end marker"),
    ],
)
def test_corrupt_wthor_is_a_clear_error(tmp_path, data, message):
    path = tmp_path / "bad.wtb"
    if data is None:
        data = _handmade_wtb([56, 64], n_declared=3)
    elif data == "bad-code":
        data = _handmade_wtb([56, 99])
    elif data == "after-end":
        data = _handmade_wtb([56, 0, 64])
    path.write_bytes(data)
    with pytest.raises(RecordError, match=message) as info:
        list(read_wthor(path))
    assert "bad.wtb" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[Event "x"]\n1. F5 D6\n3. C3 D3\n', "out of sequence"),
        ('[Event "x"]\n1. F5 Z9\n', "'Z9' is not a square"),
        ('[Event "x"]\n1. F5 D6\n2. C3 D\n', "'D' is not a square"),
        ('[Event "x"]\n', "has no moves"),
        ("1. F5 D6\n", "unexpected text"),
    ],
)
def test_corrupt_pgn_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.pgn"
    path.write_text(text)
    with pytest.raises(RecordError, match=message) as info:
        list(read_pgn(path))
    assert "bad.pgn" in str(info.value)


def test_illegal_move_names_file_game_and_ply(tmp_path):
    path = pgn_with_illegal_second_game(tmp_path)
    out = tmp_path / "out.h5"
    with pytest.raises(IllegalGameError, match=r"games\.pgn:2:3: illegal move A1"):
        import_games([path], "pgn", out, progress=False)
    assert not out.exists()
    report = import_games([path], "pgn", out, skip_invalid=True, progress=False)
    assert report.n_games == 1 and report.n_invalid == 1
    with GamesFile(out) as games:
        assert games.attrs["n_invalid"] == 1 and games.n_games == 1


def test_exact_duplicate_games_are_imported_once(tmp_path):
    games = SAMPLE.read_text().split("\n\n[Event")
    first, second = games[0], "[Event" + games[1]
    one, two = tmp_path / "one.pgn", tmp_path / "two.pgn"
    one.write_text(first + "\n\n" + second + "\n\n" + first + "\n")  # a repeat in one file
    two.write_text(second + "\n")  # ... and in another
    report = import_games([one, two], "pgn", tmp_path / "d.h5", progress=False)
    assert report.n_games == 2 and report.n_duplicates == 2
    with GamesFile(tmp_path / "d.h5") as imported:
        assert imported.attrs["n_duplicates"] == 2
        moves, length = imported.read(0, 2)
    expected = [g.moves for g in read_pgn(one)][:2]
    assert [moves[k, : length[k]].tolist() for k in range(2)] == expected
