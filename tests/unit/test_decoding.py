"""The model's acceptor through its decoding cache (probes.worldmodel.decoding and .cached),
for every kind of model, answers what the full forward answers: the same first rejections,
the same next-move weights, and lockstep sampling that judges each continuation as judging it
afterwards would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.model.config import GPTConfig, LSTMConfig, MambaConfig
from othello.model.gpt import GPT
from othello.model.kinds import build_model
from probes.worldmodel import decoding
from probes.worldmodel.acceptors import Acceptor, ModelAcceptor, first_false, graft
from probes.worldmodel.rule_acceptors import EngineAcceptor
from probes.worldmodel.states import state_pool


@pytest.fixture(scope="module")
def pool(random_games):
    moves, length = random_games
    return state_pool(moves[:200], length[:200], "board_and_mover")


SMALL = {  # each with the logit scale at which it rejects some trials and not others
    "gpt": (GPTConfig(n_layers=2, d_model=32, n_heads=2), 60),
    "lstm": (LSTMConfig(n_layers=2, d_model=32), 200),
    "mamba": (MambaConfig(n_layers=2, d_model=32, d_state=4), 3),
}


@pytest.fixture(scope="module", params=list(SMALL))
def acceptor(request):
    """A small random model of each kind made choosy (large logits): it accepts a few squares
    per position. The recurrent kinds decode through their states (prefill, step, write)."""
    if request.param == "mamba":
        pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    torch.manual_seed(1)
    cfg, scale = SMALL[request.param]
    model = build_model(cfg).eval()
    with torch.no_grad():
        model.unembed.weight.mul_(scale)
    return ModelAcceptor(model, "epsilon", 0.01)


@pytest.fixture(params=[decoding.MAX_ROWS, 7], ids=["one-batch", "rows-join-mid-run"])
def batch_rows(request, monkeypatch):
    """Batches of every row at once, or of 7 rows, so rows are admitted while others decode."""
    monkeypatch.setattr(decoding, "MAX_ROWS", request.param)
    return request.param


def full_forward(acceptor: ModelAcceptor, name: str):
    """The acceptor's method as the base class computes it: a full forward per question."""
    return getattr(Acceptor, name).__get__(acceptor)


def legal_continuations(pool, index, n, seed):
    """Prefixes ``index`` continued legally, ``n`` times each: rows the model judges."""
    moves, lengths = pool.prefixes(index)
    drawn, played = EngineAcceptor().sample(moves, lengths, n, np.random.default_rng(seed))
    return drawn, played, np.repeat(lengths, n)


def test_first_rejections_equal_the_full_forwards(pool, acceptor, batch_rows):
    rows, n, start = legal_continuations(pool, np.arange(0, 400, 7), 5, 0)
    start = np.maximum(start - np.arange(len(start)) % 3, 1)  # starts inside the prefix too
    n[::11] = start[::11]  # rows with nothing to judge
    cached = acceptor.first_rejected(rows, n, start)
    assert np.array_equal(cached, full_forward(acceptor, "first_rejected")(rows, n, start))
    assert (cached >= 0).mean() > 0.5 and (cached < 0).sum() >= len(n) // 11  # both kinds


def test_next_weights_equal_the_full_forwards(pool, acceptor, batch_rows):
    moves, lengths = pool.prefixes(np.arange(0, 600, 9))
    square = np.nonzero(EngineAcceptor().next_weights(moves[:20], lengths[:20]))
    extended = moves[square[0]].copy()  # one-move extensions share their prefix
    extended[np.arange(len(square[0])), lengths[square[0]]] = square[1]
    one_move = np.full((1, 60), -1, np.int8)
    one_move[0, 0] = moves[0, 0]
    whole = pool.moves[np.flatnonzero(pool.lengths == 60)[:1]]  # nothing follows move 60
    moves = np.concatenate([moves, extended, one_move, whole])
    lengths = np.concatenate([lengths, lengths[square[0]] + 1, [1, 60]])
    cached = acceptor.next_weights(moves, lengths)
    expected = full_forward(acceptor, "next_weights")(moves, lengths)
    np.testing.assert_allclose(cached, expected, atol=1e-5)
    assert not cached[-1].any() and cached[-2].any()  # nothing after move 60; move 2 read


@pytest.mark.parametrize("whole_trial", [False, True])
def test_lockstep_sampling_judges_as_judging_afterwards_would(
    pool, acceptor, whole_trial, batch_rows
):
    first, lengths = pool.prefixes(np.arange(0, 300, 10))
    second, _ = pool.prefixes(np.arange(1, 301, 10))
    keep = lengths == pool.prefixes(np.arange(1, 301, 10))[1]
    first, second, lengths = first[keep], second[keep], lengths[keep]
    s = 6
    rng = np.random.default_rng(2)
    drawn, n, cut = acceptor.sample_judged(first, second, lengths, s, rng, whole_trial)
    start = np.repeat(lengths, s)
    assert np.array_equal(drawn[:, :1], np.repeat(first[:, :1], s, 0))  # prefixes kept
    inside = (np.arange(60)[None] >= start[:, None]) & (np.arange(60)[None] < n[:, None])
    assert full_forward(acceptor, "accepts")(drawn, n, start)[inside].all()  # drawn: accepted
    judged = graft(np.repeat(second, s, 0), drawn, start)
    expected = first_false(full_forward(acceptor, "accepts")(judged, n, start), start, n)
    assert np.array_equal(cut, expected)
    rejected = (cut >= 0).reshape(-1, s).any(1)
    assert rejected.any() and (~rejected).any()
    ended = n == 60
    ended |= ~acceptor.next_weights(drawn, n).any(1)  # nothing accepted after the last move
    if whole_trial:  # a trial without a rejection plays every continuation to its end
        assert ended.reshape(-1, s)[~rejected].all()
        assert (~ended & (cut < 0)).any()  # and stops the others of a rejected trial early
    else:  # a continuation stops at its rejection, or plays to its end
        assert np.array_equal(ended | (cut >= 0), np.ones_like(ended))
        assert np.array_equal(cut[cut >= 0], n[cut >= 0] - 1)


def test_chunks_fit_the_cache_budget(acceptor):
    published = ModelAcceptor(GPT(GPTConfig(n_layers=8, d_model=512, n_heads=8)))
    assert decoding.capacity(acceptor.model) == decoding.MAX_ROWS
    rows = decoding.capacity(published.model)
    assert rows * 2 * 8 * 59 * 512 * 4 <= decoding.CACHE_BYTES < (rows + 1) * 2 * 8 * 59 * 512 * 4
    assert decoding.capacity(published.model, per_row=2) == rows // 2


def test_sampled_continuations_are_what_the_full_forward_accepts(pool, acceptor, batch_rows):
    moves, lengths = pool.prefixes(np.arange(0, 240, 12))
    drawn, n = acceptor.sample(moves, lengths, 3, np.random.default_rng(5))
    again = acceptor.sample(moves, lengths, 3, np.random.default_rng(5))
    assert np.array_equal(drawn, again[0]) and np.array_equal(n, again[1])  # seeded
    start = np.repeat(lengths, 3)
    inside = (np.arange(60)[None] >= start[:, None]) & (np.arange(60)[None] < n[:, None])
    assert (n > start).any() and full_forward(acceptor, "accepts")(drawn, n, start)[inside].all()
    ended = (n == 60) | ~full_forward(acceptor, "next_weights")(drawn, n).any(1)
    assert ended.all()  # each played until nothing is accepted
