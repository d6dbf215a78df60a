"""The Myhill-Nerode tests' known answers: the engine scores 1 on all three, a model that
ignores its input scores compression 1, distinction precision 1 and recall 0, the placed-by
stand-in scores what a direct scalar computation on the same trials gives, and a planted model
that reads only the last move tells fewer states apart than the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import BLACK, legal_moves, other, play, start_board

from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from probes.worldmodel.accept_rule import THRESHOLDS, model_acceptor
from probes.worldmodel.acceptors import ModelAcceptor, UniformAcceptor
from probes.worldmodel.exact import accept_sets, exact_distinction
from probes.worldmodel.nerode import (
    NerodeSettings,
    NerodeTest,
    compression_trials,
    distinction_trials,
    nerode_scores,
)
from probes.worldmodel.rule_acceptors import EngineAcceptor, PlacedByAcceptor
from probes.worldmodel.states import state_pool

SETTINGS = NerodeSettings(trials=60, suffix_samples=6, progress=False, batch_trials=1000)


@pytest.fixture(scope="module")
def pool(random_games):
    moves, length = random_games
    return state_pool(moves[:400], length[:400], "board_and_mover")


def scalar_accepted(moves: list[int], turn_discs: bool) -> list[bool]:
    """Whether each move is allowed after the ones before, by the scalar reference rules
    (``turn_discs`` False: the placed-by board, on which every move is placed)."""
    board, colour, out = start_board(), BLACK, []
    for square in moves:
        if not legal_moves(board, colour):
            colour = other(colour)
        ok = square in legal_moves(board, colour)
        out.append(ok)
        if turn_discs and not ok:
            break
        if turn_discs:
            play(board, colour, square)
        else:
            board[square] = colour
        colour = other(colour)
    return out


def accepted_after(prefix, suffix, turn_discs: bool) -> bool:
    flags = scalar_accepted(list(prefix) + list(suffix), turn_discs)
    return len(flags) == len(prefix) + len(suffix) and all(flags[len(prefix) :])


def cut_after(prefix, suffix, turn_discs: bool):
    """The suffix up to its first move refused after ``prefix``; None when none is."""
    flags = scalar_accepted(list(prefix) + list(suffix), turn_discs)[len(prefix) :]
    refused = [k for k, ok in enumerate(flags) if not ok]
    if refused:
        return tuple(suffix[: refused[0] + 1])
    return None if len(flags) == len(suffix) else tuple(suffix[: len(flags) + 1])


def direct_boundary(cuts):
    unique = {c for c in cuts if c is not None}
    return [c for c in unique if not any(o != c and o[: len(c)] == c for o in unique)]


class Recording:
    """Wraps an acceptor's ``sample_judged`` to keep what it drew."""

    def __init__(self, acceptor):
        self.acceptor, self.drawn = acceptor, []

    def __getattr__(self, name):
        return getattr(self.acceptor, name)

    def sample_judged(self, first, second, lengths, n, rng, whole_trial=False):
        out = self.acceptor.sample_judged(first, second, lengths, n, rng, whole_trial)
        self.drawn.append(out[:2])
        return out


def test_the_engine_scores_one_and_an_input_ignoring_model_has_no_recall(pool):
    engine = nerode_scores(EngineAcceptor(), pool, SETTINGS)
    for key in ("compression_precision", "distinction_precision", "distinction_recall"):
        assert engine[key]["mean"] == 1.0 and engine[key]["trials"] == SETTINGS.trials
    uniform = nerode_scores(UniformAcceptor(), pool, SETTINGS)
    assert uniform["compression_precision"]["mean"] == 1.0
    assert uniform["distinction_precision"]["mean"] == 1.0  # its boundary is always empty
    assert uniform["distinction_recall"]["mean"] < 0.05  # 1 only where the true one is empty


def test_engine_samples_are_legal_games_to_the_end(pool):
    moves, lengths = pool.prefixes(np.arange(20))
    drawn, n = EngineAcceptor().sample(moves, lengths, 3, np.random.default_rng(0))
    assert EngineAcceptor().valid(drawn, n).all()
    for row, length in zip(drawn, n, strict=True):  # each ends where neither side can move
        board, colour = start_board(), BLACK
        for square in row[:length]:
            if not legal_moves(board, colour):
                colour = other(colour)
            play(board, colour, int(square))
            colour = other(colour)
        assert length == 60 or not (legal_moves(board, colour) or legal_moves(board, other(colour)))


def test_placed_by_scores_what_a_direct_computation_on_the_same_trials_gives(pool):
    rng = np.random.default_rng(1)
    comp, dist = compression_trials(pool, 30, rng), distinction_trials(pool, 30, rng)
    stand_in = Recording(PlacedByAcceptor())
    test = NerodeTest(stand_in, pool, SETTINGS)
    test.engine = Recording(EngineAcceptor())
    s = SETTINGS.suffix_samples
    precision, recall = test.distinction(dist, rng)
    compression = test.compression(comp, rng)

    def prefix(i):
        moves, n = pool.prefixes(np.array([i]))
        return [int(x) for x in moves[0, : n[0]]]

    def suffixes(drawn, k, start):
        moves, n = drawn
        return [tuple(int(x) for x in moves[r, start : n[r]]) for r in range(k * s, (k + 1) * s)]

    for k in range(30):
        p1, p2 = prefix(comp.first[k]), prefix(comp.second[k])
        ok = all(accepted_after(p2, x, False) for x in suffixes(stand_in.drawn[1], k, len(p1)))
        assert compression[k] == float(ok)
    for k in range(30):
        p1, p2 = prefix(dist.first[k]), prefix(dist.second[k])
        own = direct_boundary(
            cut_after(p2, x, False) for x in suffixes(stand_in.drawn[0], k, len(p1))
        )
        right = [accepted_after(p1, b, True) and not accepted_after(p2, b, True) for b in own]
        assert precision[k] == pytest.approx(np.mean(right) if own else 1.0)
        true = direct_boundary(
            cut_after(p2, x, True) for x in suffixes(test.engine.drawn[0], k, len(p1))
        )
        told = [accepted_after(p1, b, False) and not accepted_after(p2, b, False) for b in true]
        assert recall[k] == pytest.approx(np.mean(told) if true else 1.0)
    assert 0 < np.mean(precision) < 1 and 0 < np.mean(recall) < 1  # the check has teeth


def test_board_only_states_merge_what_the_mover_separates(random_games):
    moves, length = random_games
    true = state_pool(moves[:2000], length[:2000], "board_and_mover")
    board = state_pool(moves[:2000], length[:2000], "board_only")
    assert len(true.state) == len(board.state)  # the same distinct prefixes
    assert board.n_states <= true.n_states
    for group in true.by_state()[:200]:  # one state: one length
        assert len(set(true.prefix_length[group])) == 1


def _planted_last_move_model() -> GPT:
    """One block whose attention writes nothing: each position sees only its own token."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layers=1, d_model=32, n_heads=2)).eval()
    with torch.no_grad():
        model.blocks[0].attn.out.weight.zero_()
        model.blocks[0].attn.out.bias.zero_()
        model.pos_embed.zero_()
        model.unembed.weight.mul_(400)
    return model


def test_a_model_that_reads_only_the_last_move_tells_fewer_states_apart(pool):
    model = _planted_last_move_model()
    tokens = torch.tensor([[20, 5, 33, 12], [7, 41, 2, 12]])
    logits = model(tokens)
    assert torch.allclose(logits[0, -1], logits[1, -1])  # the board does not matter
    small = NerodeSettings(trials=30, suffix_samples=4, progress=False)
    planted = nerode_scores(ModelAcceptor(model, "epsilon", 0.01), pool, small)
    engine = nerode_scores(EngineAcceptor(), pool, small)
    assert planted["distinction_recall"]["mean"] < engine["distinction_recall"]["mean"] - 0.3


def test_the_cached_sampler_draws_only_what_the_full_forward_accepts(pool):
    model = _planted_last_move_model()
    acceptor = ModelAcceptor(model, "epsilon", 0.02)
    moves, lengths = pool.prefixes(np.arange(12))
    drawn, n = acceptor.sample(moves, lengths, 4, np.random.default_rng(3))
    again, n_again = acceptor.sample(moves, lengths, 4, np.random.default_rng(3))
    assert np.array_equal(drawn, again) and np.array_equal(n, n_again)  # seeded
    start = np.repeat(lengths, 4)
    assert (n > start).any()
    inside = (np.arange(60)[None] >= start[:, None]) & (np.arange(60)[None] < n[:, None])
    assert acceptor.accepts(drawn, n, start)[inside].all()
    assert np.array_equal(drawn[:, :1], np.repeat(moves[:, :1], 4, 0))  # prefixes kept


def test_the_accept_rule_follows_the_target_and_its_cut_is_chosen_on_validation(random_games):
    moves, length = random_games
    model = _planted_last_move_model()
    acceptor, rule = model_acceptor(model, "sampled", moves[:40], length[:40])
    assert acceptor.rule == "epsilon" and rule["cut"] == 0.01
    acceptor, rule = model_acceptor(model, "legal_set", moves[:40], length[:40])
    assert acceptor.rule == "threshold" and rule["chosen_on"] == "val"
    assert rule["cut"] in THRESHOLDS and 0 <= rule["val_exact_set_share"] <= 1


def test_enumerated_boundaries_have_the_same_known_answers(pool):
    engine = nerode_scores(EngineAcceptor(), pool, SETTINGS)["exact_depth_2"]
    assert all(
        engine[k]["mean"] == 1.0
        for k in ("compression_precision", "distinction_precision", "distinction_recall")
    )
    uniform = nerode_scores(UniformAcceptor(), pool, SETTINGS)["exact_depth_2"]
    assert uniform["compression_precision"]["mean"] == 1.0
    assert uniform["distinction_precision"]["mean"] == 1.0
    assert uniform["distinction_recall"]["mean"] < 0.05  # 1 only where two moves tell nothing


def test_enumerated_boundaries_equal_a_direct_enumeration(pool):
    """The placed-by stand-in's enumerated precision and recall on 6 trials, against every
    one- and two-move continuation checked by the scalar rules."""
    dist = distinction_trials(pool, 6, np.random.default_rng(4))
    judges = {"model": PlacedByAcceptor(), "engine": EngineAcceptor()}
    sets, trial, square = accept_sets(judges, pool, dist.first, dist.second)
    precision, recall = exact_distinction(sets["model"], sets["engine"], trial, square, 6)

    def prefix(i):
        moves, n = pool.prefixes(np.array([i]))
        return [int(x) for x in moves[0, : n[0]]]

    def boundary(p1, p2, turn_discs):
        ones = [(a,) for a in range(64) if accepted_after(p1, (a,), turn_discs)]
        out = [c for c in ones if not accepted_after(p2, c, turn_discs)]
        for (a,) in ones:
            if accepted_after(p2, (a,), turn_discs):
                out += [(a, b) for b in range(64) if accepted_after(p1, (a, b), turn_discs)
                        and not accepted_after(p2, (a, b), turn_discs)]  # fmt: skip
        return out

    for k in range(6):
        p1, p2 = prefix(dist.first[k]), prefix(dist.second[k])
        own, true = boundary(p1, p2, False), boundary(p1, p2, True)
        right = [accepted_after(p1, b, True) and not accepted_after(p2, b, True) for b in own]
        told = [accepted_after(p1, b, False) and not accepted_after(p2, b, False) for b in true]
        assert precision[k] == pytest.approx(np.mean(right) if own else 1.0)
        assert recall[k] == pytest.approx(np.mean(told) if true else 1.0)
    assert 0 < np.mean(precision) < 1 and 0 < np.mean(recall) < 1


def test_the_api_call_reads_a_games_file(tiny_corpus):
    import probes

    small = {"game_samples": 100, "val_games": 30, "trials": 10, "suffix_samples": 3}
    engine = probes.myhill_nerode("engine", tiny_corpus, progress=False, **small)
    assert engine["distinction_recall"]["mean"] == 1.0 and engine["accept_rule"]["rule"]
    model = _planted_last_move_model()
    planted = probes.myhill_nerode(model, tiny_corpus, target="legal_set", progress=False, **small)
    assert planted["accept_rule"]["chosen_on"] == "val"
    assert planted["distinction_recall"]["trials"] == 10


def test_the_api_call_takes_a_model_or_the_engine_only(tiny_corpus):
    import probes
    from othello.common.errors import UserError

    with pytest.raises(UserError, match="pass a model or 'engine'"):
        probes.myhill_nerode("synthetic", tiny_corpus)
    with pytest.raises(UserError, match="asked"):
        probes.myhill_nerode("engine", tiny_corpus, game_samples=10**6)
