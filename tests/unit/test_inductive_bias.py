"""Inductive-bias probes: the metric against a transcription of the authors' pairwise code,
and known answers of models whose features are planted (the true state, the bag of moves
played, nothing at all)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.gpt import GPT, GPTConfig
from othello.world.labels import replay
from othello.world.squares import MAX_MOVES, N_SQUARES
from othello.world.tokens import decode
from probes.worldmodel.inductive import InductiveBiasSettings, ib_scores, inductive_bias

SMALL = dict(train_examples=24, steps=4, lr=1e-2, anchors=24, orders_per_anchor=8)


def small(**changes) -> InductiveBiasSettings:
    return InductiveBiasSettings(**{"n_tasks": 3, "progress": False, **SMALL, **changes})


def their_scores(ext: np.ndarray, states: np.ndarray) -> tuple[float, float, float, float]:
    """Keyon Vafa et al.'s ``compute_inductive_bias`` (experiments/othello), transcribed:
    ``ext`` [n, tasks]; (same-state value, stderr, different-state value, stderr)."""
    n = len(states)
    triu = np.triu(np.ones((n, n)), k=1).astype(bool)
    same_mask = (states[:, None] == states[None, :]) & triu
    diff_mask = (states[:, None] != states[None, :]) & triu
    losses = (ext[:, None, :] != ext[None, :, :]).astype(np.float64)
    same = 2 * (0.5 - losses[same_mask]).mean(axis=0)
    diff = (2 * losses[diff_mask]).mean(axis=0)
    k = np.sqrt(ext.shape[1])
    return same.mean(), same.std(ddof=1) / k, diff.mean(), diff.std(ddof=1) / k


def test_scores_match_the_authors_pairwise_code():
    rng = np.random.default_rng(0)
    state = rng.integers(0, 12, 60)
    pred = rng.integers(0, 2, (5, 60))
    pred[:, state == 3] = 1  # some structure, so the groups matter
    ours = ib_scores(pred, state, state // 2, state % 4)
    want = their_scores(pred.T, state)
    got = (ours["r_ib"]["mean"], ours["r_ib"]["stderr"], ours["d_ib"]["mean"])
    np.testing.assert_allclose(got + (ours["d_ib"]["stderr"],), want)
    # the breakdown of different-state pairs adds up to them
    pairs = ours["pairs"]
    assert pairs["same_legal"] + pairs["other_legal"] == pairs["diff_state"]


def test_known_answers_of_the_metric():
    rng = np.random.default_rng(1)
    state = rng.integers(0, 400, 3000)
    keys = (state, state, state)
    coin_per_state = rng.integers(0, 2, (4, 400))[:, state]  # the world model's answer
    world = ib_scores(coin_per_state, *keys)
    assert world["r_ib"]["tasks"] == [1.0] * 4
    assert world["d_ib"]["mean"] == pytest.approx(1.0, abs=0.05)
    constant = ib_scores(np.ones((4, 3000), int), *keys)
    assert (constant["r_ib"]["mean"], constant["d_ib"]["mean"]) == (1.0, 0.0)
    coin_per_input = ib_scores(rng.integers(0, 2, (4, 3000)), *keys)
    assert coin_per_input["r_ib"]["mean"] == pytest.approx(0.0, abs=0.1)
    assert coin_per_input["d_ib"]["mean"] == pytest.approx(1.0, abs=0.02)


class Planted(nn.Module):
    """A model whose features are computed by the rules from the tokens, under a head
    ``unembed`` (what each task replaces): the true state one-hot, the set of moves played
    so far, or a constant."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.unembed = nn.Linear(3 * N_SQUARES + 3, 61)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        count, width = tokens.shape
        moves = np.full((count, MAX_MOVES), -1, np.int8)
        moves[:, :width] = decode(tokens.cpu().numpy())
        labels = replay(moves, (moves >= 0).sum(1).astype(np.int8))
        board = labels.board_colour()[:, :width]
        mover = labels.next_player[:, :width, None]
        if self.kind == "bag":  # which squares are occupied, not by whom
            board = np.where(board > 0, 1, board)
            mover = np.zeros_like(mover)
        parts = [board[..., None] == c for c in range(3)]
        feats = np.concatenate([np.stack(parts, -1).reshape(count, width, -1)]
                               + [mover == c for c in (-1, 0, 1)], axis=-1)  # fmt: skip
        if self.kind == "constant":
            feats = np.ones_like(feats)
        return self.unembed(torch.as_tensor(feats, dtype=torch.float32))


@pytest.fixture(scope="module")
def games(tiny_corpus):
    with GamesFile(tiny_corpus) as handle:
        yield handle


def test_a_model_that_sees_the_state_respects_it(games):
    oracle = inductive_bias(Planted("state"), games, small())
    bag = inductive_bias(Planted("bag"), games, small())
    assert oracle["r_ib"]["tasks"] == [1.0] * 3  # one state, one input to the head
    assert oracle["fit"]["mean"] > 0.9  # the task was learned, so the answers mean something
    # the same board is the same set of squares, so the bag model also respects state, but
    # treats every order of the same moves alike: no distinction where their states differ
    assert bag["r_ib"]["tasks"] == [1.0] * 3
    assert bag["d_ib_pairs"]["same_moves"]["tasks"] == [0.0] * 3
    assert bag["pairs"]["same_moves"] > 0
    assert oracle["d_ib_pairs"]["same_moves"]["mean"] > 0  # it can tell them apart


def test_a_model_that_ignores_its_input_scores_the_floor(games):
    result = inductive_bias(Planted("constant"), games, small())
    assert result["r_ib"]["tasks"] == [1.0] * 3
    assert result["d_ib"]["tasks"] == [0.0] * 3


def test_the_model_is_unchanged_and_the_result_reproducible(games):
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = model.unembed
    settings = small(n_tasks=3, steps=2, workers=2)
    threads = torch.get_num_threads()
    first = inductive_bias(model, games, settings)
    assert model.unembed is head and not model.training
    assert torch.get_num_threads() == threads  # the tasks' one thread each is given back
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the same figures whether the tasks run one after the other or side by side
    second = inductive_bias(model, games, small(n_tasks=3, steps=2, workers=1))
    for key in ("r_ib", "d_ib", "d_ib_pairs", "pairs", "fit", "held_out"):
        assert first[key] == second[key]
    json.dumps(first, allow_nan=False)
    assert first["settings"]["n_tasks"] == 3 and first["held_out"]["inputs"] > 24


def test_settings_are_checked():
    with pytest.raises(UserError):
        InductiveBiasSettings(state="board")
    with pytest.raises(UserError):
        InductiveBiasSettings(min_moves=8, max_moves=6)
    with pytest.raises(UserError, match="workers"):
        InductiveBiasSettings(workers=-1)
    assert InductiveBiasSettings.paper().n_tasks == 100


def test_the_last_move_split_separates_a_model_that_reads_only_the_last_move():
    rng = np.random.default_rng(2)
    state = rng.integers(0, 300, 4000)
    last = rng.integers(0, 60, 4000)
    coin_per_last_move = rng.integers(0, 2, (4, 60))[:, last]  # blind to the state
    scores = ib_scores(coin_per_last_move, state, state, state, last)
    assert scores["r_ib_pairs"]["same_last_move"]["tasks"] == [1.0] * 4
    assert scores["r_ib_pairs"]["other_last_move"]["mean"] == pytest.approx(0.0, abs=0.15)
    world = ib_scores(rng.integers(0, 2, (4, 300))[:, state], state, state, state, last)
    assert world["r_ib_pairs"]["other_last_move"]["tasks"] == [1.0] * 4
