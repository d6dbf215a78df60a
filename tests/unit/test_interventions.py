"""Interventions: ground truth, edits that do what they say, metrics by hand, the CLI and its
refusals of bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import reference
import torch

from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import load_model_file
from othello.model.config import LSTMConfig, MambaConfig
from othello.model.hooks import hooks_by_layer, resid_hooks
from othello.model.kinds import build_model
from othello.world.labels import MINE, THEIRS, replay
from othello.world.policies import greedy_games
from othello.world.squares import parse_square
from othello.world.tokens import encode
from probes.acts.reader import ActsFile
from probes.acts.writer import write_cache
from probes.common import ProbeKey
from probes.fit import FitConfig, fit_probes
from probes.interventions.cases import (
    Cases,
    case_at,
    legal_moves_on_flip,
    load_cases,
    pick_cases,
    position_cases,
    save_cases,
)
from probes.interventions.edits import gradient_edit, gradient_editor, linear_edit, linear_editor
from probes.interventions.resume import clean_run, resume
from probes.interventions.run import edit_hooks, intervene, latent_saliency, readout_effect
from probes.interventions.scoring import score, topn_errors
from probes.kinds import LinearProbe


@pytest.fixture(scope="module")
def setup(tiny_run, tiny_corpus, tmp_path_factory):
    acts_path = write_cache(
        tiny_run, tiny_corpus, tmp_path_factory.mktemp("acts") / "a.h5", n_games=300, progress=False
    )
    with ActsFile(acts_path) as acts:
        probes = fit_probes(acts, FitConfig(probes=("mine_theirs/linear",)), progress=False)
    model = load_model_file(tiny_run)
    hooks = list(resid_hooks(model.cfg.n_layers).values())
    linear = {h: probes[ProbeKey("mine_theirs", "linear", h)] for h in hooks}
    with GamesFile(tiny_corpus) as games:
        index = games.split_indices("test")[:200]
        cases = pick_cases(games.moves[index], games.length[index], 100, seed=1)
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
    plain = intervene(model, cases, [], None)
    edited = intervene(model, cases, hooks, linear_editor(linear, 0.0))
    torch.testing.assert_close(edited, plain)
    assert not torch.allclose(intervene(model, cases, hooks[:1], linear_editor(linear, 1.0)), plain)
    # batching the forward passes does not change the result
    batched = intervene(model, cases, hooks, linear_editor(linear, 1.0), batch=17)
    torch.testing.assert_close(batched, intervene(model, cases, hooks, linear_editor(linear, 1.0)))


def hand_made_probe(d_per_square: int = 3) -> LinearProbe:
    """A linear probe whose square s reads only coordinates [s*k, (s+1)*k): each class
    logit is one coordinate, so the answer to any edit can be worked out by hand."""
    k = d_per_square
    probe = LinearProbe(64 * k, 3)
    with torch.no_grad():
        for square in range(64):
            for c in range(3):
                probe.weight[square * k + c, square, c] = 1.0
    return probe.eval()


def test_linear_edit_by_hand_flips_one_reading_and_leaves_the_other_63():
    probe = hand_made_probe()
    # board: square s holds class s % 3, by a margin of 2 (logit 3 vs 1 for the rest)
    x = torch.ones(1, 192)
    for square in range(64):
        x[0, square * 3 + square % 3] = 3.0
    square, current = torch.tensor([4]), torch.tensor([1])  # square 4 holds class 1: mine
    target = torch.tensor([2])
    edited = linear_edit(x, probe, square, target, current, scale=1.0)
    # direction d = e_14 - e_13, margin m = 1 - 3 = -2, step (|m| - m) / |d|^2 = 2: the two
    # logits swap, nothing else moves
    expected = x.clone()
    expected[0, 13], expected[0, 14] = 1.0, 3.0
    torch.testing.assert_close(edited, expected)
    before, after = probe(x).argmax(-1), probe(edited).argmax(-1)
    assert (
        after[0, 4] == 2
        and (after[0, torch.arange(64) != 4] == before[0, torch.arange(64) != 4]).all()
    )
    torch.testing.assert_close(linear_edit(x, probe, square, target, current, 0.0), x)


def test_gradient_edit_reaches_the_target_and_keeps_the_other_readings(setup):
    _, hooks, linear, cases = setup
    probe = linear[hooks[-1]]
    x = torch.randn(len(cases), probe.mean.shape[0]) * 3
    sq, tgt = (torch.as_tensor(a) for a in (cases.square, cases.target))
    rows = torch.arange(len(cases))
    edited = gradient_edit(x, probe, sq, tgt, steps=300, step_size=0.25, confidence=0.9)
    reads = probe(edited).argmax(-1)
    assert (reads[rows, sq] == tgt).float().mean() > 0.95
    kept = (reads == probe(x).argmax(-1)).float().sum(-1) - (reads[rows, sq] == tgt).float()
    assert kept.mean() / 63 > 0.9  # the other squares keep their readings


def test_readout_effect_measures_what_the_edit_did_to_the_probe(setup):
    model, hooks, linear, cases = setup
    none = readout_effect(model, cases, hooks[1], linear_editor(linear, 0.0), linear[hooks[1]])
    assert none["probe_others_changed"] == 0.0
    # scale 0 leaves the readings as they were: the target is read only where the probe
    # already misread the square as the flipped class
    probe = linear[hooks[1]]
    tokens = torch.as_tensor(encode(cases.moves[:, :59]))
    _, cache = model.run_with_cache(tokens, [hooks[1]])
    x = cache[hooks[1]][torch.arange(len(cases)), torch.as_tensor(cases.position)]
    misread = probe(x).argmax(-1)[torch.arange(len(cases)), torch.as_tensor(cases.square)]
    assert none["probe_target_reached"] == pytest.approx(
        (misread == torch.as_tensor(cases.target)).float().mean().item()
    )
    some = readout_effect(model, cases, hooks[1], linear_editor(linear, 4.0), probe)
    assert some["probe_target_reached"] > none["probe_target_reached"]


def test_flipping_an_empty_square_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        legal_moves_on_flip(1 << 27, 1 << 28, 0)
    moves = np.full((1, 60), -1, np.int8)
    moves[0, :2] = [parse_square("D3"), parse_square("C3")]
    with pytest.raises(ValueError, match="game 0 ply 1: square A1 is empty"):
        case_at(moves, np.array([2], np.int8), 0, 1, parse_square("A1"))


def test_topn_errors_by_hand():
    # legal set {A1, B1}; the model ranks C1 first, A1 second: top-2 = {C1, A1}
    logits = torch.full((1, 61), -10.0)
    a1, c1 = (int(encode(np.array([parse_square(s)]))[0]) for s in ("A1", "C1"))
    logits[0, c1], logits[0, a1] = 5.0, 4.0
    legal = np.array([(1 << parse_square("A1")) | (1 << parse_square("B1"))], dtype=np.uint64)
    assert topn_errors(logits, legal).tolist() == [2]  # one false positive, one false negative
    zero = np.zeros(1, np.int64)
    cases = Cases(
        np.zeros((1, 60), np.int8), np.ones(1, np.int8), zero, zero, np.array([THEIRS]),
        legal, legal, zero,
    )  # fmt: skip
    result = score(logits, cases)
    assert result["errors_vs_edited"] == 2 and result["f1_vs_edited"] == 0.5
    assert result["success_rate"] == 0.0


def test_greedy_games_are_legal_greedy_and_seeded():
    moves, length = greedy_games(40, seed=5)
    again, _ = greedy_games(40, seed=5)
    assert (moves == again).all() and not (moves == greedy_games(40, seed=6)[0]).all()
    for game in range(0, 40, 8):
        history = [int(m) for m in moves[game, : length[game]]]
        records = reference.replay(history)  # raises on an illegal move
        board, side = reference.start_board(), reference.BLACK
        for move, record in zip(history, records, strict=True):
            side = record["mover"]
            legal = reference.legal_moves(board, side)
            gains = {s: len(reference.flips(board, side, s)) for s in legal}
            assert gains[move] == max(gains.values())
            board = record["board"]


def test_case_sets_round_trip_and_a_corrupt_case_is_named(setup, tmp_path):
    _, _, _, cases = setup
    path = save_cases({"natural": cases}, tmp_path / "cases.h5", {"seed": 1})
    loaded, attrs = load_cases(path)
    assert attrs["seed"] == 1
    assert (loaded["natural"].legal_after == cases.legal_after).all()
    board = replay(cases.moves[3:4], cases.length[3:4]).board_relative()[0, cases.position[3]]
    with h5py.File(path, "r+") as f:
        f["natural/square"][3] = int(np.flatnonzero(board == 0)[0])
    with pytest.raises(ValueError, match=r"cases.h5 \[natural\]: case 3 .* is empty"):
        load_cases(path)


def test_latent_saliency_covers_the_discs(setup):
    model, hooks, linear, cases = setup
    k = 0
    board = replay(cases.moves[k : k + 1], cases.length[k : k + 1]).board_relative()[0]
    board = board[cases.position[k]]
    flips = position_cases(cases.moves[k], int(cases.length[k]), int(cases.position[k]))
    result = latent_saliency(model, flips, hooks[1:], linear_editor(linear, 1.0))
    values = np.array(result["saliency"])
    assert np.isnan(values[board == 0]).all() and np.isfinite(values[board > 0]).all()
    assert 0 < result["probability"] <= 1


@pytest.mark.parametrize("method", ["linear", "gradient"])
def test_resuming_from_the_unedited_run_equals_the_full_edited_run(setup, method):
    """The sweep's shortcut (one position through the blocks after the start layer, on the
    unedited run's keys and values) computes the full edited forward pass's logits."""
    model, hooks, linear, cases = setup
    cases = cases.take(slice(0, 40))
    edit = linear_editor(linear, 2.0) if method == "linear" else gradient_editor(linear, 30)
    check_resume(model, cases, hooks_by_layer(hooks), edit, atol=1e-4, moved=1e-2)


def check_resume(model, cases, by_layer, edit, atol: float, moved: float) -> None:
    """The shortcut from every start layer equals the full edited run (within ``atol``), and
    the edit moves the logits (by more than ``moved``)."""
    run = clean_run(model, cases)
    torch.testing.assert_close(run.logits, intervene(model, cases, [], None), atol=1e-5, rtol=0)
    shortcuts = {}
    for layer in by_layer:
        edited = edit_hooks(by_layer, layer, later_layers=True)
        full = intervene(model, cases, edited, edit)
        later = {k: h for k, h in by_layer.items() if h in edited}
        shortcuts[layer] = resume(model, run, cases, layer, later, edit)
        torch.testing.assert_close(shortcuts[layer], full, atol=atol, rtol=0)
        assert (full - run.logits).abs().max() > moved  # the edit did something
    first = min(by_layer)  # the clean run is reusable: every resume before left it as it was
    again = resume(
        model, run, cases, first, {k: h for k, h in by_layer.items() if k >= first}, edit
    )
    assert torch.equal(again, shortcuts[first])


@pytest.mark.parametrize("kind", ["lstm", "mamba"])
def test_resuming_a_recurrent_model_equals_its_full_edited_run(setup, kind):
    """For an LSTM or a Mamba the shortcut steps the blocks after the start layer from each
    block's state before the case's position; it equals the full edited forward pass."""
    if kind == "mamba":
        pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    cases = setup[3].take(slice(0, 30))
    torch.manual_seed(0)
    cfg = {"lstm": LSTMConfig(n_layers=2, d_model=16), "mamba": MambaConfig(n_layers=2, d_model=16)}
    model = build_model(cfg[kind]).eval()
    push = torch.randn(16)

    def edit(x, hook, cases):
        return x + push

    check_resume(model, cases, hooks_by_layer(list(resid_hooks(2).values())), edit, 1e-5, 1e-3)
