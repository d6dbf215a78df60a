"""The compiled engine against the scalar reference, the numpy batch engine and known facts."""

from __future__ import annotations

import batch_engine as batch
import numpy as np
import pytest
import reference as ref

from othello.world import engine
from othello.world.labels import replay
from othello.world.squares import START_BLACK, START_WHITE, parse_square, transpose_square

# OEIS A124004 / published Othello perft (a pass is a ply, a finished game one leaf)
PUBLISHED_PERFT = [4, 12, 56, 244, 1396, 8200, 55092, 390216, 3005288, 24571284]


def _bits(squares) -> int:
    return sum(1 << s for s in squares)


def _has_pass(labels, row) -> bool:
    n = labels.lengths[row]
    return bool(np.any(labels.mover[row, 1:n] == labels.mover[row, : n - 1]))


def _reference_sample(moves, length, count, n_rare):
    """The first ``count`` games plus ``n_rare`` later ones with a pass or an early end: the
    rare cases are the ones worth checking."""
    labels = replay(moves, length)
    rare = [i for i in range(count, len(moves)) if length[i] < 60 or _has_pass(labels, i)]
    return list(range(count)) + rare[:n_rare]


@pytest.mark.parametrize(
    "count, n_rare",
    [(80, 50), pytest.param(6000, 2000, marks=pytest.mark.slow)],
)
def test_engine_matches_reference_every_ply(count, n_rare):
    moves, length = batch.generate_games(2024, 0, 60_000)
    labels = replay(moves, length)
    assert (labels.error == -1).all()
    rows = _reference_sample(moves, length, count, n_rare)
    assert len(rows) == count + n_rare  # the rare cases really were found
    for i in rows:
        game = moves[i, : length[i]].tolist()
        for t, rec in enumerate(ref.replay(game)):
            board = rec["board"]
            assert labels.black[i, t] == _bits(s for s in range(64) if board[s] == ref.BLACK)
            assert labels.white[i, t] == _bits(s for s in range(64) if board[s] == ref.WHITE)
            assert labels.flipped[i, t] == _bits(rec["flipped"])
            assert labels.legal[i, t] == _bits(rec["legal"])
            assert labels.mover[i, t] == (0 if rec["mover"] == ref.BLACK else 1)
            expected_next = {None: -1, ref.BLACK: 0, ref.WHITE: 1}[rec["next"]]
            assert labels.next_player[i, t] == expected_next
        # a game ends exactly when the reference says nobody can move, or is cut at 60
        final = ref.replay(game)[-1]
        assert (final["next"] is None) == (length[i] == 60 or ref.game_over(final["board"]))


def test_generated_games_are_played_to_the_end(random_games):
    moves, length = random_games
    labels = replay(moves, length)
    last = labels.next_player[np.arange(len(moves)), length - 1]
    assert (last == -1).all()  # no game stops while someone can still move
    assert (moves[np.arange(60)[None, :] >= length[:, None]] == -1).all()


def test_legal_moves_and_flips_match_reference_on_random_positions(random_games):
    moves, length = random_games
    labels = replay(moves[:200], length[:200])
    me = labels.black[:, ::3].ravel()
    opp = labels.white[:, ::3].ravel()
    keep = (me | opp) != 0
    me, opp = me[keep], opp[keep]
    legal_batch = batch.legal_moves(me, opp)
    for k in range(0, len(me), 7):
        board = [
            ref.BLACK
            if me[k] >> np.uint64(s) & np.uint64(1)
            else ref.WHITE
            if opp[k] >> np.uint64(s) & np.uint64(1)
            else ref.EMPTY
            for s in range(64)
        ]
        legal = ref.legal_moves(board, ref.BLACK)
        assert legal_batch[k] == _bits(legal)
        if legal:
            square = legal[k % len(legal)]
            f = batch.flips(me[k : k + 1], opp[k : k + 1], np.array([square]))[0]
            assert f == _bits(ref.flips(board, ref.BLACK, square))


def test_perft_matches_published_counts():
    assert [engine.perft(d) for d in range(1, 10)] == PUBLISHED_PERFT[:9]


def test_perft_matches_reference_shallow():
    board = ref.start_board()
    assert [ref.perft(board, ref.BLACK, d) for d in range(1, 6)] == PUBLISHED_PERFT[:5]


@pytest.mark.slow
def test_perft_depths_10_and_11():
    assert [engine.perft(10), engine.perft(11)] == [PUBLISHED_PERFT[9], 212258800]


def test_numpy_batch_engine_generates_identical_games():
    moves = np.empty((3000, 60), dtype=np.int8)
    length = np.empty(3000, dtype=np.int8)
    engine.generate_games(99, 5_000, moves, length)
    moves_np, length_np = batch.generate_games(99, 5_000, 3000)
    assert np.array_equal(moves, moves_np) and np.array_equal(length, length_np)


def test_first_moves_are_the_four_symmetric_ones():
    legal = batch.legal_moves(
        np.array([START_BLACK], np.uint64), np.array([START_WHITE], np.uint64)
    )
    squares = {s for s in range(64) if int(legal[0]) >> s & 1}
    assert squares == {parse_square(n) for n in ("D3", "C4", "F5", "E6")}
    # the start is symmetric under both diagonal reflections, and so are its moves
    assert {transpose_square(s) for s in squares} == squares
    assert {63 - transpose_square(s) for s in squares} == squares
    # each first move flips exactly one disc, the one between it and a black disc
    for name, flipped in (("D3", "D4"), ("C4", "D4"), ("F5", "E5"), ("E6", "E5")):
        f = engine.flips(np.uint64(START_BLACK), np.uint64(START_WHITE), parse_square(name))
        assert int(f) == 1 << parse_square(flipped)


def test_game_with_a_pass_continues_with_the_same_side(random_games):
    moves, length = random_games
    labels = replay(moves, length)
    row = next(i for i in range(len(moves)) if _has_pass(labels, i))
    t = next(t for t in range(1, length[row]) if labels.mover[row, t] == labels.mover[row, t - 1])
    side = labels.mover[row, t]
    assert labels.next_player[row, t - 1] == side  # the opponent had to pass
    # and the reference agrees that the opponent had no move there
    records = ref.replay(moves[row, : length[row]].tolist())
    board = records[t - 1]["board"]
    opponent = ref.WHITE if side == 0 else ref.BLACK
    assert ref.legal_moves(board, opponent) == []


def test_game_ending_before_sixty_and_full_board(random_games):
    moves, length = random_games
    labels = replay(moves, length)
    early = int(np.flatnonzero(length < 60)[0])
    n = length[early]
    black, white = int(labels.black[early, n - 1]), int(labels.white[early, n - 1])
    assert bin(black | white).count("1") == 4 + n < 64
    full = int(np.flatnonzero(length == 60)[0])
    board = int(labels.black[full, 59]) | int(labels.white[full, 59])
    assert board == (1 << 64) - 1
    assert labels.legal[full, 59] == 0 and labels.next_player[full, 59] == -1


def test_shortest_known_game_wipes_out_white():
    # A 9-move game ending with white eliminated: the fastest possible finish.
    names = ["E6", "F4", "E3", "F6", "G5", "D6", "E7", "F5", "C5"]
    game = np.full((1, 60), -1, np.int8)
    game[0, :9] = [parse_square(n) for n in names]
    labels = replay(game, np.array([9], np.int8))
    assert labels.error[0] == -1
    assert labels.white[0, 8] == 0 and labels.next_player[0, 8] == -1
    assert bin(int(labels.black[0, 8])).count("1") == 13


def test_replay_reports_first_illegal_ply(random_games):
    moves, length = random_games
    bad = moves[:3].copy()
    bad[1, 10] = bad[1, 2]  # an occupied square
    bad[2, 0] = parse_square("A1")
    errors = replay(bad, length[:3]).error
    assert errors.tolist() == [-1, 10, 0]
