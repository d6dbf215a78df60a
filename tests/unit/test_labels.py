"""Per-square label arrays and the mine/theirs view across passes."""

from __future__ import annotations

import numpy as np
import reference as ref

from othello.world.labels import BLACK_DISC, MINE, THEIRS, WHITE_DISC, placed_by, replay


def _reference_labels(board: np.ndarray, rec: dict) -> tuple[np.ndarray, np.ndarray]:
    """A reference board (0 empty, ref.BLACK, ref.WHITE) as our colour and mine/theirs labels,
    the view being the side that moves after ``rec``'s move."""
    colour = np.select([board == ref.BLACK, board == ref.WHITE], [BLACK_DISC, WHITE_DISC], 0)
    viewer = rec["next"] or ref.other(rec["mover"])
    mine = np.select([board == viewer, board == ref.other(viewer)], [MINE, THEIRS], 0)
    return colour, mine


def test_square_arrays_match_reference(random_games):
    moves, length = random_games
    rows = np.r_[0:40, np.flatnonzero(length < 60)[:20]]
    labels = replay(moves[rows], length[rows])
    colour, relative = labels.board_colour(), labels.board_relative()
    flipped, legal = labels.flipped_squares(), labels.legal_squares()
    for k, row in enumerate(rows):
        records = ref.replay(moves[row, : length[row]].tolist())
        for t, rec in enumerate(records):
            expected = _reference_labels(np.array(rec["board"]), rec)
            assert np.array_equal(colour[k, t], expected[0])
            assert np.array_equal(relative[k, t], expected[1])
            assert np.flatnonzero(flipped[k, t]).tolist() == rec["flipped"]
            assert np.flatnonzero(legal[k, t]).tolist() == rec["legal"]
        assert (colour[k, len(records) :] == -1).all()
        assert (relative[k, len(records) :] == -1).all()


def test_mine_theirs_does_not_flip_across_a_pass(random_games):
    moves, length = random_games
    labels = replay(moves, length)
    n = labels.lengths[:, None]
    t = np.arange(60)[None, :]
    passes = np.argwhere((t[:, 1:] < n) & (labels.mover[:, 1:] == labels.mover[:, :-1]))
    assert len(passes) > 10
    relative = labels.board_relative()
    colour = labels.board_colour()
    for row, ply in passes[:50]:
        # at ply (before the repeat move) the side to move next is the one that just moved
        assert labels.next_player[row, ply] == labels.mover[row, ply]
        me = BLACK_DISC if labels.mover[row, ply] == 0 else WHITE_DISC
        occupied = colour[row, ply] != 0
        assert np.array_equal(
            relative[row, ply][occupied] == MINE, colour[row, ply][occupied] == me
        )


def test_ordinary_plies_alternate_the_view(random_games):
    moves, length = random_games
    labels = replay(moves[:50], length[:50])
    relative, colour = labels.board_relative(), labels.board_colour()
    # after black's first move, white moves next: black discs are 'theirs'
    assert np.array_equal(relative[:, 0] == THEIRS, colour[:, 0] == BLACK_DISC)
    assert (labels.perspective()[:, 0] == 1).all()


def test_placed_by_is_the_board_without_flips(random_games):
    """Checked against the scalar reference: each disc the colour of its mover, never flipped."""
    moves, length = random_games
    rows = np.r_[0:20, np.flatnonzero(length < 60)[:10]]
    labels = replay(moves[rows], length[rows])
    colour = placed_by(moves[rows], labels, relative=False)
    relative = placed_by(moves[rows], labels, relative=True)
    truth = labels.board_colour()
    for k, row in enumerate(rows):
        records = ref.replay(moves[row, : length[row]].tolist())
        board = np.array(ref.start_board())
        for t, rec in enumerate(records):
            board[moves[row, t]] = rec["mover"]  # the placer; flips are ignored
            expected = _reference_labels(board, rec)
            assert np.array_equal(colour[k, t], expected[0])
            assert np.array_equal(relative[k, t], expected[1])
        assert (colour[k, len(records) :] == -1).all()
    # every first move flips exactly one disc, the one square the rule gets wrong
    assert ((colour[:, 0] != truth[:, 0]).sum(-1) == 1).all()
    occupied = truth[:, 30] > 0
    assert 0.5 < (colour[:, 30][occupied] == truth[:, 30][occupied]).mean() < 0.95
