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
    goal_cases,
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
        relative = [0 if c == 0 else 1 if c == side else 2 for c in board]
        assert cases.board[k].tolist() == relative
        square = int(cases.square[k])
        owner = side if cases.board[k, square] == MINE else reference.other(side)
        assert board[square] == owner
        assert sum(1 << s for s in reference.legal_moves(board, side)) == cases.legal_before[k]
        board[square] = reference.other(owner)
        after = sum(1 << s for s in reference.legal_moves(board, side))
        assert after == cases.legal_after[k] != cases.legal_before[k]
        # one flip is a goal board that differs from the board at the one masked square
        assert (cases.goal[k] != cases.board[k]).tolist() == cases.mask[k].tolist()
        assert cases.goal[k, square] == 3 - cases.board[k, square]


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


def one_square(square: int, goal_class: int, board_class: int, k: int = 1):
    """(goal, mask, source) [k, 64] of an edit that sets one square."""
    goal = torch.zeros(k, 64, dtype=torch.long)
    goal[:, square] = goal_class
    source = torch.zeros(k, 64, dtype=torch.long)
    source[:, square] = board_class
    mask = torch.zeros(k, 64, dtype=torch.bool)
    mask[:, square] = True
    return goal, mask, source


def test_linear_edit_by_hand_flips_one_reading_and_leaves_the_other_63():
    probe = hand_made_probe()
    # board: square s holds class s % 3, by a margin of 2 (logit 3 vs 1 for the rest)
    x = torch.ones(1, 192)
    for square in range(64):
        x[0, square * 3 + square % 3] = 3.0
    goal, mask, source = one_square(4, 2, 1)  # square 4 holds class 1 (mine): make it theirs
    edited = linear_edit(x, probe, goal, mask, source, scale=1.0)
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
    torch.testing.assert_close(linear_edit(x, probe, goal, mask, source, 0.0), x)


def test_gradient_edit_reaches_the_target_and_keeps_the_other_readings(setup):
    _, hooks, linear, cases = setup
    probe = linear[hooks[-1]]
    x = torch.randn(len(cases), probe.mean.shape[0]) * 3
    goal, mask = torch.as_tensor(cases.goal).long(), torch.as_tensor(cases.mask)
    sq, rows = torch.as_tensor(cases.square), torch.arange(len(cases))
    tgt = goal[rows, sq]
    edited = gradient_edit(x, probe, goal, mask, steps=300, step_size=0.25, confidence=0.9)
    reads = probe(edited).argmax(-1)
    assert (reads[rows, sq] == tgt).float().mean() > 0.95
    kept = (reads == probe(x).argmax(-1)).float().sum(-1) - (reads[rows, sq] == tgt).float()
    assert kept.mean() / 63 > 0.9  # the other squares keep their readings


def old_linear_edit(x, probe, square, target, current, scale):
    """The single-flip linear edit as it was before goal boards (kept here as the reference
    a one-square goal board must reproduce to the bit)."""
    w, b = probe.raw_weight(), probe.raw_bias()
    d = w[:, square, target].T - w[:, square, current].T
    bias = b[square, target] - b[square, current]
    margin = (x * d).sum(-1) + bias
    step = scale * (margin.abs() - margin) / (d * d).sum(-1).clamp(min=1e-12)
    return x + step[:, None] * d


def old_gradient_edit(x, probe, square, target, steps, step_size=0.25, confidence=0.9):
    """The single-flip gradient edit as it was before goal boards (the reference)."""
    rows = torch.arange(len(x))
    with torch.no_grad():
        goal = probe(x).argmax(-1)
        goal[rows, square] = target
    keep = torch.full((len(x), 64), 1 / 63)
    keep[rows, square] = 1.0
    unit, delta = probe.scale.detach(), torch.zeros_like(x)
    for _ in range(steps):
        with torch.enable_grad():
            delta.requires_grad_(True)
            logits = probe(x + delta * unit)
            ce = torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), goal.flatten(), reduction="none"
            )
            (grad,) = torch.autograd.grad((ce.view(len(x), 64) * keep).sum(), delta)
        with torch.no_grad():
            reached = logits[rows, square].softmax(-1)[rows, target] >= confidence
            if reached.all():
                break
            norm = grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            delta = delta.detach() - step_size * (~reached)[:, None] * grad / norm
    return x + delta.detach() * unit


def test_a_one_square_goal_board_is_the_old_single_flip_edit_to_the_bit(setup):
    model, hooks, linear, cases = setup
    cases = cases.take(slice(0, 50))
    run = clean_run(model, cases)
    rows = torch.arange(len(cases))
    square = torch.as_tensor(cases.square)
    current = torch.as_tensor(cases.board).long()[rows, square]
    target = torch.as_tensor(cases.goal).long()[rows, square]
    assert (current != target).all() and set(current.tolist()) <= {MINE, THEIRS}
    for layer, hook in enumerate(hooks):
        x = run.resid[layer].float()
        for scale in (0.5, 2.0):
            old = old_linear_edit(x, linear[hook], square, target, current, scale)
            assert torch.equal(linear_editor(linear, scale)(x, hook, cases), old)
        old = old_gradient_edit(x, linear[hook], square, target, steps=40)
        assert torch.equal(gradient_editor(linear, 40)(x, hook, cases), old)


def two_squares(board: torch.Tensor, pairs: list[tuple[int, int]]):
    """(goal, mask) [1, 64] that set each (square, class) of ``pairs`` on ``board`` [64]."""
    goal, mask = board.clone()[None].long(), torch.zeros(1, 64, dtype=torch.bool)
    for square, c in pairs:
        goal[0, square], mask[0, square] = c, True
    return goal, mask


def test_a_two_square_edit_moves_both_readings_and_keeps_the_rest_by_hand():
    probe = hand_made_probe()
    x = torch.ones(1, 192)
    board = torch.tensor([s % 3 for s in range(64)])
    for square in range(64):
        x[0, square * 3 + square % 3] = 3.0
    goal, mask = two_squares(board, [(4, 2), (9, 2)])  # 4: mine -> theirs, 9: empty -> theirs
    # both edits at scale 1 reflect their margins: the two pairs of logits swap, exactly
    edited = linear_edit(x, probe, goal, mask, board[None], scale=1.0)
    expected = x.clone()
    expected[0, 13], expected[0, 14], expected[0, 27], expected[0, 29] = 1.0, 3.0, 1.0, 3.0
    torch.testing.assert_close(edited, expected)
    for moved in (edited, gradient_edit(x, probe, goal, mask, steps=300)):
        before, after = probe(x).argmax(-1), probe(moved).argmax(-1)
        assert after[0, 4] == 2 and after[0, 9] == 2
        assert (after[~mask] == before[~mask]).all()


def test_a_two_square_edit_moves_both_readings_on_the_trained_model(setup):
    """Two discs flipped at once (goal_cases), through the editors on the model's residual
    stream: both readings reach the goal as often as either disc flipped alone does, and the
    other squares move no more than under the two single flips together; the linear edit
    gives each square the margin it would get alone, however its direction leans on the
    other's."""
    model, hooks, linear, cases = setup
    boards, k = cases.board, len(cases)
    discs = [np.flatnonzero(b > 0) for b in boards]  # the flipped disc and its nearest
    near = np.array(
        [d[np.argsort(np.abs(d - int(cases.square[i])))[:2]] for i, d in enumerate(discs)]
    )

    def flips(columns: list[int]) -> Cases:
        mask = np.zeros((k, 64), bool)
        mask[np.arange(k)[:, None], near[:, columns]] = True
        goal = np.where(mask, 3 - boards, boards)
        return goal_cases(cases.moves, cases.length, np.arange(k), cases.position, goal, mask)

    pair, first, second = flips([0, 1]), flips([0]), flips([1])
    hook, probe = hooks[1], linear[hooks[1]]
    x = clean_run(model, pair).resid[1].float()
    before = probe(x).argmax(-1)
    for edit in (linear_editor(linear, 4.0), gradient_editor(linear, 300)):
        reached, changed = {}, {}
        for name, c in (("pair", pair), ("first", first), ("second", second)):
            after = probe(edit(x, hook, c)).argmax(-1)
            m, g = torch.as_tensor(c.mask), torch.as_tensor(c.goal).long()
            reached[name] = (after[m] == g[m]).float().mean()
            changed[name] = (after[~m] != before[~m]).float().mean()
        assert reached["pair"] >= min(reached["first"], reached["second"]) - 0.05
        assert changed["pair"] <= changed["first"] + changed["second"] + 0.02
    assert reached["pair"] > 0.95  # the gradient edit reaches nearly every goal
    m, g = torch.as_tensor(pair.mask), torch.as_tensor(pair.goal).long()
    w, b = probe.raw_weight(), probe.raw_bias()
    case, square = m.nonzero(as_tuple=True)
    board = torch.as_tensor(boards).long()
    d = w[:, square, g[case, square]].T - w[:, square, board[case, square]].T
    bias = b[square, g[case, square]] - b[square, board[case, square]]
    margin = (x[case] * d).sum(-1) + bias
    edited = linear_editor(linear, 1.0)(x, hook, pair)
    reflected = (edited[case] * d).sum(-1) + bias
    torch.testing.assert_close(reflected, margin.abs(), atol=1e-3, rtol=1e-4)


def test_an_empty_mask_is_refused_by_goal_cases_and_left_alone_by_the_editors(setup):
    cases = setup[3]
    board, game = cases.board[:2], np.arange(2)
    mask = np.zeros((2, 64), bool)
    mask[0, int(cases.square[0])] = True
    with pytest.raises(ValueError, match="case 1 .*the mask holds no square"):
        goal_cases(cases.moves, cases.length, game, cases.position[:2], 3 - board, mask)
    # hand-built anyway: both editors leave the empty case's vector as it was (and move the
    # other's: the hand-made probe reads each true board, so the flip has work to do)
    empty = cases.take(slice(0, 2))
    empty.mask = mask
    empty.goal = np.where(mask, 3 - board, board).astype(np.int8)
    probe = {"h": hand_made_probe()}
    x = torch.ones(2, 192)
    for i in range(2):
        x[i, np.arange(64) * 3 + board[i]] = 3.0
    for edit in (linear_editor(probe, 2.0), gradient_editor(probe, 50)):
        edited = edit(x, "h", empty)
        assert torch.equal(edited[1], x[1]) and not torch.equal(edited[0], x[0])


def test_goal_cases_apply_the_rules_to_the_edited_board(setup):
    """Legal after = the rules on the goal board, the same side to move, even where no game
    reaches it; a goal that empties a centre square, or where nobody moves, is refused."""
    _, _, _, cases = setup
    rng = np.random.default_rng(0)
    k = 12
    mask = np.zeros((k, 64), bool)
    for i in range(k):
        mask[i, rng.choice([s for s in range(64) if s not in (27, 28, 35, 36)], 5, False)] = True
    goal = rng.integers(0, 3, (k, 64)).astype(np.int8)
    made = goal_cases(cases.moves, cases.length, np.arange(k), cases.position[:k], goal, mask)
    assert (made.goal == np.where(mask, goal, cases.board[:k])).all()
    assert (made.legal_before == cases.legal_before[:k]).all()
    for i in range(k):
        colour = [0, reference.BLACK, reference.WHITE]  # the side to move's view as colours
        board = [colour[int(c)] for c in made.goal[i]]
        after = sum(1 << s for s in reference.legal_moves(board, reference.BLACK))
        assert after == made.legal_after[i]
    centre = mask[:1].copy()
    centre[0, 27] = True
    with pytest.raises(ValueError, match="empties a centre square"):
        goal_cases(cases.moves, cases.length, [0], cases.position[:1], np.zeros((1, 64)), centre)
    over = np.flatnonzero(cases.length < 60)
    if len(over):  # a game that ended early: nobody moves after its last move
        g = int(over[0])
        with pytest.raises(ValueError, match="no side is to move"):
            goal_cases(cases.moves, cases.length, [g], [int(cases.length[g]) - 1], goal[:1],
                       mask[:1])  # fmt: skip


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
    rows, square = torch.arange(len(cases)), torch.as_tensor(cases.square)
    misread = probe(x).argmax(-1)[rows, square]
    assert none["probe_target_reached"] == pytest.approx(
        (misread == torch.as_tensor(cases.goal)[rows, square]).float().mean().item()
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
    zero, board = np.zeros(1, np.int64), np.zeros((1, 64), np.int8)
    cases = Cases(
        np.zeros((1, 60), np.int8), np.ones(1, np.int8), zero, board, board + THEIRS,
        board == 0, legal, legal, zero,
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
    for name in ("board", "goal", "mask", "legal_before", "legal_after", "position", "game"):
        assert (getattr(loaded["natural"], name) == getattr(cases, name)).all()
    with h5py.File(path, "r+") as f:
        kept = int(np.flatnonzero(~cases.mask[3])[0])
        f["natural/goal"][3, kept] = (cases.board[3, kept] + 1) % 3
    with pytest.raises(ValueError, match=r"cases.h5 \[natural\]: case 3 .* goal board"):
        load_cases(path)


def test_a_set_file_from_before_goal_boards_reads_as_one_square_goals(setup, tmp_path):
    """A file that stores each case's square and its class (written before goal boards)
    loads as the same cases; a corrupt one is still named."""
    _, _, _, cases = setup
    path = tmp_path / "flips.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("natural")
        for name in ("moves", "length", "position", "legal_before", "legal_after", "game"):
            group.create_dataset(name, data=getattr(cases, name))
        group.create_dataset("square", data=cases.square)
        group.create_dataset("current", data=cases.board[np.arange(len(cases)), cases.square])
    loaded = load_cases(path)[0]["natural"]
    for name in ("board", "goal", "mask", "legal_before", "legal_after"):
        assert (getattr(loaded, name) == getattr(cases, name)).all()
    board = cases.board[3]
    with h5py.File(path, "r+") as f:
        f["natural/square"][3] = int(np.flatnonzero(board == 0)[0])
    with pytest.raises(ValueError, match=r"flips.h5 \[natural\]: case 3 .* is empty"):
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
