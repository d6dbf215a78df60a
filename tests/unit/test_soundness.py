"""The soundness search and the board behind its errors, against known answers: the rules as a
model never fail under any search; a planted model that reads one square as always empty errs,
the searches find it, every error is a wrong board at that square (but where the square's
absence leaves it no move at all), fixed by setting that square to the truth and never by a
control edit elsewhere; budgets and bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from othello.common.errors import UserError
from othello.world.labels import replay
from othello.world.squares import square_name
from probes.failures.boards import boards_of, children, legal_of, sides_of
from probes.failures.coherence import coherence_split
from probes.failures.measure import SoundnessConfig, measure
from probes.failures.search import (
    STRATEGIES,
    Found,
    SearchConfig,
    proposes_illegal,
    search,
    starts,
)
from probes.failures.subjects import BlindSubject, EngineSubject
from probes.worldmodel.acceptors import Acceptor

BLIND = 19  # D3


def small(**changes) -> SearchConfig:
    return SearchConfig(**{"searches": 30, "budgets": (10, 40, 150), "progress": False, **changes})


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_engine_never_proposes_an_illegal_move(strategy):
    found = search(EngineSubject(), strategy, small())
    assert (found.first == 0).all() and not found.errors
    assert (found.spent > 1).all()  # it did search


def test_children_are_every_legal_move_and_boards_match_a_replay():
    moves, lengths = starts(20, (4, 30), seed=1)
    me, opp = sides_of(moves, lengths)
    parent, square, kme, kopp, _ = children(me, opp)
    assert np.array_equal(np.bincount(parent, minlength=20),
                          [bin(int(b)).count("1") for b in legal_of(me, opp)])  # fmt: skip
    rows = moves[parent].copy()
    rows[np.arange(len(parent)), lengths[parent]] = square
    n = lengths[parent].astype(np.int64) + 1
    assert replay(rows, n.astype(np.int8)).valid.all()
    truth = boards_of(rows, n)
    ours = np.unpackbits(kme.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little") + 2 * (
        np.unpackbits(kopp.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    )
    assert np.array_equal(truth, ours)


def test_a_model_blind_to_one_square_is_found_and_its_board_is_to_blame(tiny_corpus):
    subject = BlindSubject(square=BLIND)
    cfg = SoundnessConfig(search=small(), held_out_games=30, correct_positions=50)
    metrics, errors = measure(subject, tiny_corpus, cfg)
    for name in STRATEGIES:
        assert metrics["search"]["by_strategy"][name]["150"]["success_rate"] > 0.3, name
    assert metrics["search"]["baseline"]["corpus"]["errors"] > 0
    assert errors and all(e["differs_at"] == [square_name(BLIND)] for e in errors)
    for e in errors:
        blind_board = np.array(e["probed_board"])
        me = np.packbits(blind_board == 1, bitorder="little").view(np.uint64)
        opp = np.packbits(blind_board == 2, bitorder="little").view(np.uint64)
        has_moves = legal_of(me, opp)[0] != 0
        assert (e["kind"] == "wrong_board") == has_moves  # wrong reading: it had no move at all
        assert e["fixed_by_true_board"] and not e["fixed_by_control"]
    assert metrics["errors"]["fixed_by_true_board_share"]["mean"] == 1.0
    assert metrics["errors"]["fixed_by_control_share"]["mean"] == 0.0
    assert metrics["errors"]["broken_by_true_board_share"]["mean"] == 0.0


def test_success_within_a_budget_is_read_off_the_first_errors_call():
    found = Found(np.array([0, 5, 40, 0]), np.array([100, 5, 40, 12]))
    summary = found.summary((10, 50))
    assert summary["10"]["success_rate"] == 0.25 and summary["50"]["success_rate"] == 0.5
    # calls spent within 10: 10 + 5 + 10 + 10; within 50: 50 + 5 + 40 + 12
    assert summary["10"]["errors_per_1000_calls"] == pytest.approx(1000 / 35)
    assert summary["50"]["errors_per_1000_calls"] == pytest.approx(2000 / 107)


@pytest.mark.parametrize("bad", [{"budgets": (0, 10)}, {"budgets": ()}, {"searches": 0},
                                 {"strategies": ("greedy", "dfs")}])  # fmt: skip
def test_bad_settings_are_refused(bad):
    with pytest.raises(UserError):
        small(**bad)


def test_the_accept_criterion_counts_any_accepted_illegal_move():
    scores = np.array([[0.0] * 64, [0.0] * 64])
    scores[:, 0], scores[:, 1] = 2.0, 1.0
    legal = np.array([1, 1], np.uint64)  # A1 legal only
    accepted = np.zeros((2, 64), bool)
    accepted[0, [0, 1]] = True  # B1 accepted, illegal
    accepted[1, 0] = True
    illegal, proposed = proposes_illegal(scores, legal, accepted)
    assert illegal.tolist() == [True, False] and proposed[0] == 1
    assert not proposes_illegal(scores, legal)[0].any()  # the top move A1 is legal
    found = search(EngineSubject(), "beam", small(criterion="accept"))
    assert (found.first == 0).all()
    blind = search(BlindSubject(square=BLIND), "random", small(criterion="accept"))
    assert (blind.first > 0).mean() > 0.3


class LastRowBlind(Acceptor):
    """A planted path-dependent model: the legal moves, except those on the row of the last
    move played (so two paths to one board can accept differently)."""

    def position_weights(self, moves, lengths):
        legal = replay(moves, lengths).legal_squares().astype(np.float32)  # [B, 60, 64]
        row = np.where(moves >= 0, moves // 8, -1)[:, :, None]
        return np.where(np.arange(64)[None, None, :] // 8 == row, 0.0, legal)


class BoardAndLastRow(EngineSubject):
    """Its board is the true board and the last move's row: it holds what the planted model
    accepts by."""

    def board(self, moves, lengths):
        last_row = moves[np.arange(len(lengths)), lengths - 1] // 8
        return np.concatenate([super().board(moves, lengths), last_row[:, None]], 1)


def test_the_coherence_split_tells_two_states_from_one_state_read_two_ways(tiny_corpus):
    """Known answers: a model that rejects the last move's row fails compression trials whose
    two paths end on different rows, at the first move after them. Read through a board that
    holds the last row, every failure is two states; read through the true board (one per
    state), every failure is one state read two ways and no passed trial reads differently."""
    args = ({"rule": "planted"}, tiny_corpus, 120, 10, 0)
    own = coherence_split(BoardAndLastRow(), LastRowBlind(), *args)
    true = coherence_split(EngineSubject(), LastRowBlind(), *args)
    assert own["failed"] == true["failed"] > 5
    assert own["two_states_share"]["mean"] == 1.0
    assert true["one_state_two_readings_share"]["mean"] == 1.0
    assert true["passed_read_differently_share"]["mean"] == 0.0
    assert own["passed_read_differently_share"]["mean"] > 0  # some same-row paths pass
