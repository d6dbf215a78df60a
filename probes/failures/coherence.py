"""Coherence failures through the board's lens: Vafa et al.'s compression trials (two prefixes
of one state; a trial fails when a continuation sampled after the first is rejected after the
second) and, for every failed trial, whether the probe reads the two prefixes' boards
differently (the model holds two states) or alike (it holds one state and reads it two ways);
the passed trials' share read differently is the control."""

from __future__ import annotations

import numpy as np

from othello.corpora.corpus import GamesFile
from probes.failures.measure import share
from probes.stage_spec import fewer_than_asked
from probes.worldmodel.accept_rule import model_acceptor
from probes.worldmodel.nerode import NerodeSettings, NerodeTest, compression_trials
from probes.worldmodel.stage import split_games
from probes.worldmodel.states import state_pool

STATE = "board_and_mover"
STATE_GAMES, VAL_GAMES = 1000, 200  # test games the states come from; validation games the rule


def accept_rule(model, games, target: str):
    """The model's acceptor and its rule, chosen on validation games as the world-model stage
    chooses it (:func:`probes.worldmodel.accept_rule.model_acceptor`)."""
    with GamesFile(games) as g:
        val = split_games(g, "val", VAL_GAMES, True)
    return model_acceptor(model, target, *val)


def coherence_split(subject, acceptor, rule: dict, games, trials: int, samples: int, seed: int):
    """The split of ``trials`` compression trials (``samples`` continuations each) on test
    games under the model's ``acceptor``."""
    with GamesFile(games) as g:
        test = split_games(g, "test", STATE_GAMES, True)
    pool = state_pool(*test, STATE)
    rng = np.random.default_rng(seed)
    chosen = compression_trials(pool, trials, rng)
    settings = NerodeSettings(trials=trials, suffix_samples=samples, exact=False, progress=False)
    passed = NerodeTest(acceptor, pool, settings).compression(chosen, rng) > 0
    boards = [subject.board(*pool.prefixes(side)) for side in (chosen.first, chosen.second)]
    differ = (boards[0] != boards[1]).any(1)
    return {
        "warnings": fewer_than_asked("test games for the states", len(test[0]), STATE_GAMES),
        "trials": int(trials),
        "failed": int((~passed).sum()),
        "two_states_share": share(differ[~passed]),
        "one_state_two_readings_share": share(~differ[~passed]),
        "passed_read_differently_share": share(differ[passed]),
        "accept_rule": rule,
        "suffix_samples": samples,
    }
