from __future__ import annotations

import numpy as np
import pytest

from othello.world import tokens
from othello.world.squares import parse_square, square_name, transpose_square


def test_vocabulary_layout_matches_published_checkpoints():
    assert tokens.VOCAB_SIZE == 61 and tokens.PAD_TOKEN == 0
    # othello_world: sorted squares with the padding value -100 sorted first
    published = sorted({s for s in range(64)} - {27, 28, 35, 36} | {-100})
    stoi = {square: i for i, square in enumerate(published)}
    squares = np.array([s for s in published if s >= 0])
    assert tokens.encode(squares).tolist() == [stoi[s] for s in squares]


def test_round_trip_and_padding():
    moves = np.array([[19, 0, 63, -1, -1]])
    assert np.array_equal(tokens.decode(tokens.encode(moves)), moves)
    assert tokens.encode(np.array([-1])).tolist() == [0]


def test_centre_and_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="centre"):
        tokens.encode(np.array([27]))
    with pytest.raises(ValueError):
        tokens.encode(np.array([64]))
    with pytest.raises(ValueError):
        tokens.decode(np.array([61]))


def test_square_names_and_transpose():
    assert square_name(0) == "A1" and square_name(7) == "H1" and square_name(63) == "H8"
    assert parse_square("f5") == 37 and parse_square("A8") == 56
    assert transpose_square(parse_square("C4")) == parse_square("D3")
    assert all(transpose_square(transpose_square(s)) == s for s in range(64))


def test_othello_world_names_are_ours_transposed():
    from othello.world.tokens import othello_world_name

    for square in range(64):
        assert othello_world_name(square) == square_name(transpose_square(square))
    # their start position, in their names: D4/E5 white and D5/E4 black, which transposed
    # is the same four squares with the same colours
    assert {othello_world_name(s) for s in (27, 36)} == {"D4", "E5"}
    assert {othello_world_name(s) for s in (28, 35)} == {"D5", "E4"}
