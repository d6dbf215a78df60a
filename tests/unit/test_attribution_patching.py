"""Attribution patching: its estimate is the slope of a small patch (the gradient is right),
its maps are patch_maps's in shape and zero where the exact maps are zero by construction,
and the comparison and the stage's records hold what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.corpora.corpus import GamesFile
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.model.hooks import block_hooks, resid_hooks
from probes.circuits.attribution_patching import (
    attribution_maps,
    attribution_patching,
    attribution_patching_on_games,
    compare_maps,
)
from probes.circuits.passes import patching_pass
from probes.circuits.patching import offset_positions, pairs_task, patched_share
from probes.circuits.positions import choose_rows

FOLLOW, PAIRS = 2, 12


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    from othello.corpora.generate import generate_corpus

    path = tmp_path_factory.mktemp("attribution-patching") / "games.h5"
    return generate_corpus(path, 300, seed=3, val_fraction=0.1, test_fraction=0.5,
                           progress=False)  # fmt: skip


def random_model(dtype=torch.float32) -> GPT:
    """A small random GPT with large weights, so the top moves of the two games differ."""
    torch.manual_seed(1)
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if "ln" in name else 0.05)).mul_(20.0)
    return model.to(dtype)


def task_of(model: GPT, games):
    with GamesFile(games) as g:
        task, _ = pairs_task(model, g, choose_rows(g, "test", 150), PAIRS, FOLLOW, seed=0)
    assert len(task.end) == PAIRS
    return task


def test_the_estimate_is_the_slope_of_a_small_patch(games):
    """Patching a_corrupted + alpha (a_clean - a_corrupted) restores alpha times the estimate
    to first order: the finite difference over a small alpha matches every cell."""
    model = random_model(torch.float64)  # double precision: the finite difference is exact
    task = task_of(model, games)
    approx = attribution_maps(model, task, FOLLOW)
    hooks = list(resid_hooks(model.cfg.n_layers).values())
    z_hooks = block_hooks("z", model.cfg.n_layers)
    with torch.no_grad():
        logits, clean = model.run_with_cache(task.clean, hooks + z_hooks)
        corrupt_logits, corrupt = model.run_with_cache(task.corrupt, hooks + z_hooks)
        ends = (task.logit_diff(logits), task.logit_diff(corrupt_logits))
    alpha = 1e-5

    def slope(hook: str, positions=None, head=None) -> float:
        nudged = corrupt[hook] + alpha * (clean[hook] - corrupt[hook])
        with torch.no_grad():
            share = patched_share(model, task, task.corrupt, hook, nudged, ends, positions, head)
        return share / alpha

    resid = [[slope(h, offset_positions(task, o)) for o in range(FOLLOW + 1)] for h in hooks]
    heads = [[slope(z, None, h) for h in range(model.cfg.n_heads)] for z in z_hooks]
    assert np.array(approx["resid"]) == pytest.approx(np.array(resid), abs=2e-4)
    assert np.array(approx["heads"]) == pytest.approx(np.array(heads), abs=2e-4)
    assert np.abs(approx["heads"]).max() > 0.05  # not a map of zeros agreeing with zeros


def test_the_maps_are_patch_maps_in_shape_and_zero_where_exact_is(games):
    model = random_model()
    task = task_of(model, games)
    both = attribution_patching(model, task, FOLLOW)
    exact, approx = both["exact"], both["approx"]
    assert set(approx) == set(exact)
    assert approx["layers"] == exact["layers"] and approx["offsets"] == exact["offsets"]
    assert approx["pairs"] == exact["pairs"] == both["pairs"] == PAIRS
    for key in ("resid", "heads"):
        assert np.shape(approx[key]) == np.shape(exact[key])
    assert approx["logit_diff_clean"] == pytest.approx(exact["logit_diff_clean"], rel=1e-5)
    assert approx["logit_diff_corrupted"] == pytest.approx(exact["logit_diff_corrupted"], rel=1e-5)
    # at the embeddings only the differing token differs: patching it restores everything
    # (exact 1), the later positions nothing, and there the approximation is exactly 0 too
    # (no difference to multiply); at p it is only the linear estimate of the whole gap,
    # which need not be 1 (checked against the slope above, not against 1 here)
    assert exact["resid"][0] == pytest.approx([1.0, 0.0, 0.0], abs=1e-4)
    assert approx["resid"][0][1:] == [0.0, 0.0] and np.isfinite(approx["resid"][0][0])
    # after the last block, positions before T do not reach the logits at T: zero gradient
    assert approx["resid"][-1][:-1] == [0.0, 0.0] and exact["resid"][-1][:-1] == [0.0, 0.0]


def test_compare_maps_on_hand_made_and_model_maps(games):
    a = {"resid": [[1.0, 0.0], [0.5, 0.2]], "heads": [[0.1, 0.3]]}
    same = compare_maps(a, a)
    assert same["resid"] == {"pearson": pytest.approx(1.0), "max_abs_difference": 0.0}
    flipped = {"resid": [[-1.0, 0.0], [-0.5, -0.2]], "heads": [[0.2, 0.4]]}
    out = compare_maps(a, flipped)
    assert out["resid"]["pearson"] == pytest.approx(-1.0)
    assert out["resid"]["max_abs_difference"] == pytest.approx(2.0)
    assert out["heads"] == {"pearson": pytest.approx(1.0), "max_abs_difference": pytest.approx(0.1)}
    assert compare_maps(a, {**a, "heads": [[0.2, 0.2]]})["heads"]["pearson"] is None  # constant
    with pytest.raises(ValueError):
        compare_maps(a, {**a, "heads": [[0.1]]})
    model = random_model()
    both = attribution_patching(model, task_of(model, games), FOLLOW)
    for key in ("resid", "heads"):
        assert -1 <= both["correlation"][key]["pearson"] <= 1
    assert both["seconds"]["exact"] > 0 and both["seconds"]["approx"] > 0
    ratio = both["seconds"]["exact"] / both["seconds"]["approx"]
    assert both["speedup"] == pytest.approx(ratio, rel=0.02, abs=0.01)


def test_the_stage_pass_and_the_games_entry_point_agree(games):
    model = random_model()
    with GamesFile(games) as g:
        rows = choose_rows(g, "test", 150)
        exact, record = patching_pass(model, g, rows, PAIRS, FOLLOW, seed=0)
        direct = attribution_patching_on_games(model, g, PAIRS, FOLLOW, 0, test_games=150)
    assert record["pairs"] == exact["pairs"] == direct["pairs"] == PAIRS
    for key in ("follow", "candidate_pairs", "pairs_with_different_top_moves"):
        assert record[key] == exact[key] == direct[key]
    assert record["approx"] == direct["approx"] and exact["resid"] == direct["exact"]["resid"]
    assert "exact" not in record and record["correlation"] == direct["correlation"]
    with GamesFile(games) as g:  # no pair can differ in its top move: nothing to compare
        empty, none = patching_pass(model, g, rows[:0], PAIRS, FOLLOW, seed=0)
    assert empty["pairs"] == none["pairs"] == 0 and none["correlation"] is None
