"""Linear interventions: scale 0 is a no-op, edits move the probe, ground truth, metric."""

from __future__ import annotations

import numpy as np
import pytest
import reference
import torch

from othello.cache import ActsFile, default_hooks, write_cache
from othello.checkpoint import load_model
from othello.corpus import GamesFile
from othello.squares import parse_square
from probes.fit import FitConfig, fit_probes, probe_key
from probes.interventions import (
    MINE,
    THEIRS,
    Cases,
    flipped_legal_sets,
    intervene,
    linear_edit,
    natural_cases,
    score,
    topn_errors,
)


@pytest.fixture(scope="module")
def setup(tiny_run, tiny_corpus, tmp_path_factory):
    acts_path = write_cache(
        tiny_run, tiny_corpus, tmp_path_factory.mktemp("acts") / "a.h5", n_games=300, progress=False
    )
    with ActsFile(acts_path) as acts:
        probes = fit_probes(
            acts, FitConfig(schemes=("mine_theirs",), mlp_schemes=()), progress=False
        )
    model = load_model(tiny_run)
    hooks = default_hooks(model.cfg.n_layers)
    linear = {h: probes[probe_key("mine_theirs", "linear", h)] for h in hooks}
    with GamesFile(tiny_corpus) as games:
        index = games.split_indices("test")[:200]
        cases = natural_cases(games.moves[index], games.length[index], 100, seed=1)
    return model, hooks, linear, cases


def test_cases_ground_truth_matches_the_reference_engine(setup):
    _, _, _, cases = setup
    assert len(cases) == 100
    for k in range(0, 100, 7):
        record = reference.replay([int(m) for m in cases.moves[k, : cases.position[k] + 1]])[-1]
        board, side = record["board"], record["next"]
        assert side is not None
        square = int(cases.square[k])
        owner = side if cases.current[k] == MINE else reference.other(side)
        assert board[square] == owner
        assert sum(1 << s for s in reference.legal_moves(board, side)) == cases.legal_before[k]
        board[square] = reference.other(owner)
        after = sum(1 << s for s in reference.legal_moves(board, side))
        assert after == cases.legal_after[k] != cases.legal_before[k]


def test_scale_zero_changes_nothing(setup):
    model, hooks, linear, cases = setup
    plain = intervene(model, cases, linear, [], 1.0)
    edited = intervene(model, cases, linear, hooks, 0.0)
    torch.testing.assert_close(edited, plain)
    assert not torch.allclose(intervene(model, cases, linear, hooks[:1], 1.0), plain)


def test_the_edit_moves_the_probe_reading_to_the_target(setup):
    _, hooks, linear, cases = setup
    probe = linear[hooks[-1]]
    x = torch.randn(len(cases), probe.mean.shape[0]) * 3
    sq, tgt, cur = (torch.as_tensor(a) for a in (cases.square, cases.target, cases.current))
    rows = torch.arange(len(cases))
    for scale in (1.0, 2.0):
        edited = linear_edit(x, probe, sq, tgt, cur, scale)
        logits = probe(edited)[rows, sq]
        assert (logits[rows, tgt] >= logits[rows, cur] - 1e-4).all()
        others = probe(edited).argmax(-1) != probe(x).argmax(-1)
        assert others.float().mean() < 0.25  # mostly the edited square changes


def test_flipping_an_empty_square_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        flipped_legal_sets(1 << 27, 1 << 28, 0)


def test_topn_errors_by_hand():
    # legal set {A1, B1}; the model ranks C1 first, A1 second: top-2 = {C1, A1}
    logits = torch.full((1, 61), -10.0)
    from othello.tokens import encode

    a1, c1 = (int(encode(np.array([parse_square(s)]))[0]) for s in ("A1", "C1"))
    logits[0, c1], logits[0, a1] = 5.0, 4.0
    legal = np.array([(1 << parse_square("A1")) | (1 << parse_square("B1"))], dtype=np.uint64)
    assert topn_errors(logits, legal).tolist() == [2]  # one false positive, one false negative
    cases = Cases(
        np.zeros((1, 60), np.int8),
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        np.array([THEIRS]),
        legal,
        legal,
    )
    result = score(logits, cases)
    assert result["errors_vs_edited"] == 2 and result["f1_vs_edited"] == 0.5
    assert result["success_rate"] == 0.0
