"""Probes: planted structure is recovered, torch agrees with scikit-learn, no split leaks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn_crosscheck import crosscheck, sklearn_accuracy, take_slice, torch_accuracy

from othello.corpora.generate import make_chunk
from othello.world.labels import placed_by, replay
from othello.world.squares import parse_square
from probes.acts.arrays import ArraySource
from probes.acts.format import position_labels, probe_split, valid_positions
from probes.acts.reader import ActsFile
from probes.acts.writer import write_cache
from probes.common import ProbeKey
from probes.curve import layer_scores
from probes.fit import FitConfig, batch_loss, fit_probes, new_probes
from probes.kinds import default_settings
from probes.metrics import baselines, evaluate_probes, label_counts
from probes.probe_metrics import whole_board_table
from probes.probe_stage import choose_on_val, run_probe_stage
from probes.schemes import scheme
from probes.store import ProbeMismatchError, load_probes, save_probes

HOOK = "blocks.0.hook_resid_pre"

LINEAR_ONLY = ("mine_theirs/linear", "black_white/linear", "flipped/linear", "legal/linear")


def planted(n_games=300, d=256, noise=0.25, seed=0) -> ArraySource:
    """Activations that hold each square's mine/theirs/empty class as a sum of random
    directions plus whose move it is; black/white is then an XOR of the two, as in Othello."""
    rng = np.random.default_rng(seed)
    relative = rng.integers(0, 3, (n_games, 59, 64)).astype(np.int8)
    player = rng.integers(0, 2, (n_games, 59))
    colour = np.where(player[..., None] == 0, relative, np.where(relative == 0, 0, 3 - relative))
    embed = rng.normal(size=(64 * 3, d)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[relative].reshape(n_games, 59, 64 * 3)
    acts = onehot @ embed + 4 * player[..., None] * rng.normal(size=d).astype(np.float32)
    acts += noise * np.sqrt(64) * rng.normal(size=acts.shape).astype(np.float32)
    valid = np.ones((n_games, 59), bool)
    split = np.repeat(
        np.array([0, 1, 2], np.int8),
        [n_games * 8 // 10, n_games // 10, n_games - n_games * 9 // 10],
    )
    labels = {"board_relative": relative, "board_colour": colour.astype(np.int8)}
    return ArraySource({HOOK: acts}, labels, valid, split)


def test_probes_recover_planted_linear_structure_and_mlp_solves_the_xor():
    data = planted(n_games=200)
    probes = ("mine_theirs/linear", "black_white/linear", "black_white/mlp")
    cfg = FitConfig(probes=probes, epochs=40, min_steps=1, batch_positions=2048)
    probes = fit_probes(data, cfg, progress=False)
    counts = evaluate_probes(data, probes, "test")
    acc = {key: c.summary()["accuracy"] for key, c in counts.items()}
    assert acc[ProbeKey("mine_theirs", "linear", HOOK)] > 0.98
    linear_colour = acc[ProbeKey("black_white", "linear", HOOK)]
    assert linear_colour < 0.75  # empty is linear, black vs white is not
    assert acc[ProbeKey("black_white", "mlp", HOOK)] > linear_colour + 0.15


def test_metrics_count_what_they_say():
    data = planted(n_games=50)
    probes = fit_probes(data, FitConfig(probes=("mine_theirs/linear",), epochs=2), progress=False)
    c = evaluate_probes(data, probes, "test")[ProbeKey("mine_theirs", "linear", HOOK)]
    assert c.positions.sum() == 5 * 59 and c.confusion.sum() == 5 * 59 * 64
    assert c.correct.sum() == np.trace(c.confusion)
    train = label_counts(data, "train", "board_relative", 3)
    assert train.sum() == 40 * 59 * 64


def test_baselines_on_a_hand_made_table():
    # training counts [move, square, class]: class 0 twice and class 1 once everywhere, but
    # at move 0 square 0 class 1 five times: majority class 0 everywhere (118 vs 63 at square
    # 0), majority by move class 1 at (0, 0) only
    train = np.zeros((59, 64, 3), np.int64)
    train[..., 0], train[..., 1] = 2, 1
    train[0, 0, 1] = 5
    # test counts: one of each of classes 0 and 1 everywhere, but 1 and 3 at (0, 0)
    test = np.zeros((59, 64, 3), np.int64)
    test[..., 0], test[..., 1] = 1, 1
    test[0, 0, 1] = 3
    total = 59 * 64 * 2 + 2
    base = baselines(train, test)
    assert base["chance"] == 1 / 3
    assert base["majority"] == 59 * 64 / total  # every class-0 label, nothing else
    assert base["majority_by_move"] == (59 * 64 - 1 + 3) / total  # (0, 0) hits its 3


def test_placed_by_rule_by_hand():
    # black opens D3, flipping D4; the rule reads D4 as white, who put it there at the start
    moves = np.full((1, 60), -1, np.int8)
    moves[0, 0] = parse_square("D3")
    length = np.array([1], np.int8)
    labels = replay(moves, length)
    rule = placed_by(moves, labels, relative=False)[0, 0]
    truth = labels.board_colour()[0, 0]
    assert np.flatnonzero(rule != truth).tolist() == [parse_square("D4")]
    assert truth[parse_square("D4")] == 1 and rule[parse_square("D4")] == 2
    relative = placed_by(moves, labels, relative=True)[0, 0]
    assert (relative != labels.board_relative()[0, 0]).sum() == 1  # accuracy 63/64


def test_best_layer_is_chosen_on_validation_and_reported_on_test():
    val = {"0": 0.70, "1": 0.91, "2": 0.90}
    test = {"0": 0.71, "1": 0.89, "2": 0.93}  # test would pick layer 2
    assert choose_on_val(val, test) == {
        "layer": "1", "accuracy": 0.89, "val_accuracy": 0.91, "chosen_on": "val"
    }  # fmt: skip
    assert choose_on_val({"0": 0.5, "1": 0.5}, {"0": 0.4, "1": 0.6})["layer"] == "0"  # ties


def test_too_few_games_are_refused_or_warned(tiny_run, tiny_corpus, tmp_path):
    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "a.h5", n_games=30, progress=False)
    cfg = FitConfig(probes=LINEAR_ONLY, min_steps=10, epochs=1)
    with pytest.raises(ValueError, match=r"a\.h5: the probe train split holds 24 games"):
        run_probe_stage(acts, tmp_path / "p", cfg, progress=False)
    assert not (tmp_path / "p").exists()
    metrics = run_probe_stage(
        acts, tmp_path / "p", dataclasses.replace(cfg, allow_small=True), progress=False
    )
    assert metrics.sizes["train"] == 24 and metrics.sizes["val"] == 3
    assert any("only 24 train games" in w for w in metrics.warnings)
    board = whole_board_table(tmp_path / "p")  # every probe and layer, over the test games
    assert {s: set(k) for s, k in board.items()} == {
        s.split("/")[0]: {"linear"} for s in LINEAR_ONLY
    }
    for by_layer in (k["linear"] for k in board.values()):
        assert list(by_layer) == list(metrics.layers)
        assert {r["positions"] for r in by_layer.values()} == {metrics.raw["test_positions"]}


def test_torch_and_sklearn_agree_on_a_small_slice():
    data = planted(n_games=200, d=96, noise=1.2, seed=3)
    squares = [0, 27, 63]
    slice_ = take_slice(data, HOOK, "board_relative", n_train=60, n_test=40)
    ours = torch_accuracy(slice_, HOOK, "mine_theirs", squares)
    theirs = sklearn_accuracy(slice_, HOOK, "board_relative", squares)
    assert theirs.min() > 0.5 and theirs.max() < 0.99  # a slice where the answer is not trivial
    np.testing.assert_allclose(ours, theirs, atol=0.03)
    result = crosscheck(data, HOOK, "mine_theirs", squares, n_train=60, n_test=40)
    assert result["max_abs_difference"] < 0.03


def test_split_by_game_has_no_leak(tiny_run, tiny_corpus, tmp_path):
    out = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=120, progress=False)
    with ActsFile(out) as acts:
        seen = {
            s: np.concatenate([c["rows"] for c in acts.iter_chunks(s, [], [], 16, 1)])
            for s in ("train", "val", "test")
        }
        assert set(seen["train"]).isdisjoint(seen["test"])
        assert set(seen["train"]).isdisjoint(seen["val"])
        assert sorted(np.concatenate(list(seen.values()))) == list(range(120))
        corpus_index = acts.file["game_index"][:]
        assert len(set(corpus_index)) == 120  # every cached game is a distinct corpus game


def test_saved_probes_load_and_refuse_another_model(tmp_path):
    data = planted(n_games=30)
    probes = fit_probes(
        data,
        FitConfig(probes=("mine_theirs/linear", "mine_theirs/mlp"), epochs=1, min_steps=20),
        progress=False,
    )
    save_probes(probes, {"model_sha256": "a" * 64}, tmp_path)
    loaded, meta = load_probes(tmp_path, model_sha256="a" * 64)
    x = torch.randn(5, 256)
    for key in probes:
        torch.testing.assert_close(loaded[key](x), probes[key](x))
    probe = loaded[ProbeKey("mine_theirs", "linear", HOOK)]
    raw = x @ probe.raw_weight().flatten(1)
    torch.testing.assert_close(
        raw.unflatten(-1, (64, 3)) + probe.raw_bias(), probe(x), atol=1e-4, rtol=1e-4
    )
    with pytest.raises(ProbeMismatchError, match="another model"):
        load_probes(tmp_path, model_sha256="b" * 64)


def planted_games(n_games: int, d: int, noise: float, seed: int) -> ArraySource:
    """Random games whose boards are planted in their activations (each square's mine /
    theirs / empty class as a sum of random directions, plus noise): a source with games, so
    every baseline (the placed-by rule reads the moves) is computed on it."""
    moves, length, _ = make_chunk(seed, 0, n_games, 0.0, 0.0)
    labels = position_labels(replay(moves, length))
    rng = np.random.default_rng(seed)
    embed = rng.normal(size=(64 * 3, d)).astype(np.float32)
    onehot = np.eye(3, dtype=np.float32)[labels["board_relative"]].reshape(n_games, 59, -1)
    acts = onehot @ embed + noise * 8 * rng.normal(size=(n_games, 59, d)).astype(np.float32)
    split = probe_split(n_games, (0.8, 0.1, 0.1))
    return ArraySource({HOOK: acts}, labels, valid_positions(length), split, (moves, length))


def test_probe_curve_chooses_its_layer_on_validation_not_test():
    """Layer "1" reads the board well on every split; layer "2" reads it even better on the
    training and test games but not at all on the validation games. Choosing on test would
    take layer 2; the curve must take layer 1 and report layer 1's test accuracy."""
    data = planted_games(n_games=200, d=96, noise=0.6, seed=5)
    rng = np.random.default_rng(6)
    sharp = planted_games(n_games=200, d=96, noise=0.05, seed=5).acts[HOOK].copy()
    val = data.split == 1
    sharp[val] = rng.normal(size=sharp[val].shape).astype(np.float32) * sharp.std()
    hooks = {"blocks.1.hook_resid_pre": data.acts[HOOK], "blocks.2.hook_resid_pre": sharp}
    source = ArraySource(hooks, data.labels, data.valid_mask, data.split, (data.moves, data.length))
    scores = layer_scores(source, "mine_theirs")
    assert scores["layers"]["2"] > scores["layers"]["1"]  # best on test ...
    assert scores["val_layers"]["2"] < scores["val_layers"]["1"]  # ... worse on validation
    assert scores["best_layer"] == "1" and scores["best"] == scores["layers"]["1"]
    base = scores["baselines"]  # the test games' baselines, from an in-memory source too
    assert 0.5 < base["placed_by"] < 1 and base["chance"] < base["majority_by_move"] < 1


def test_the_fit_loss_is_every_probes_cross_entropy_over_its_squares():
    """The fit's loss moves the classes to dimension 1 (for speed); it must equal each probe's
    mean cross-entropy over every (position, square), summed over the probes."""
    rng = np.random.default_rng(0)
    names = {"mine_theirs": 3, "flipped": 2}
    acts = {"h": rng.normal(size=(10, 4, 8)).astype(np.float32)}
    labels = {scheme(n).label: rng.integers(0, c, (10, 4, 64)) for n, c in names.items()}
    source = ArraySource(acts, labels, np.ones((10, 4), bool), np.zeros(10, np.int64))
    cfg = FitConfig(probes=tuple(f"{n}/linear" for n in names), allow_small=True)
    probes = new_probes(source, cfg, ["h"], default_settings())
    torch.manual_seed(0)
    for probe in probes.values():
        torch.nn.init.normal_(probe.weight)
    xs = {"h": torch.from_numpy(acts["h"].reshape(40, 8))}
    ys = {k: torch.from_numpy(v.reshape(40, 64)) for k, v in labels.items()}
    want = sum(
        torch.nn.functional.cross_entropy(
            probe(xs["h"]).reshape(-1, probe.n_classes),
            ys[scheme(key.scheme).label].reshape(-1),
        )
        for key, probe in probes.items()
    )
    assert want > 0.1
    torch.testing.assert_close(batch_loss(probes, cfg, xs, ys, torch.arange(40)), want)
