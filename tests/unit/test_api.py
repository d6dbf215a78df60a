"""The front door: ``import othello, probes`` gives each step of the notebook in one call,
and each call is the same code path the stages and the explorer take (so its numbers are
theirs)."""

from __future__ import annotations

import importlib.util
import inspect
import sys

import numpy as np
import pytest
import torch

import othello
import probes
from othello.interop.formats import to_transformer_lens
from othello.model.checkpoint import save
from othello.model.hooks import resid_hooks
from probes.acts.reader import ActsFile
from probes.acts.writer import write_cache
from probes.circuits.directions import probe_directions
from probes.explorer import answers
from probes.explorer.api import open_explorer
from probes.fit import FitConfig

QUICK = FitConfig(epochs=1, min_steps=20)


def test_the_api_lists_documented_names():
    for package in (othello, probes):
        assert package.__all__ and sorted(package.__all__) == sorted(set(package.__all__))
        for name in package.__all__:
            value = getattr(package, name)
            assert inspect.getdoc(value), f"{package.__name__}.{name} has no docstring"
    with pytest.raises(AttributeError):
        othello.no_such_name  # noqa: B018


def test_a_game_from_typed_moves_and_its_errors():
    game = othello.Game.from_moves("f5, d6 C3")
    assert game.names() == ["F5", "D6", "C3"] and game.positions == 3
    assert game.mover(0) == "white" and game.mover(1) == "black"
    assert set(game.board(0).tolist()) == {0, 1, 2} and (game.board(0) > 0).sum() == 5
    assert game.tokens().shape == (3,)
    assert game.legal_moves(0) == sorted(othello.parse_square(s) for s in ("D6", "F4", "F6"))
    with pytest.raises(othello.MoveListError, match=r"move 2 \(A1\) is illegal at ply 1"):
        othello.Game.from_moves("F5 A1")
    with pytest.raises(othello.UserError, match="not a square"):
        othello.Game.from_moves("F5 Z9")


def test_load_model_reads_a_run_and_a_transformer_lens_file_alike(tiny_run, tmp_path):
    ours = othello.load_model(tiny_run)
    state, _ = to_transformer_lens(ours)
    save(state, tmp_path / "exported.pth")
    theirs = othello.load_model(tmp_path / "exported.pth")  # format told by its tensor names
    tokens = othello.Game.from_moves("F5 D6 C3 F4").tokens()[None]
    torch.testing.assert_close(theirs(torch.as_tensor(tokens)), ours(torch.as_tensor(tokens)))
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        othello.load_model(tmp_path / "missing")


def test_from_pretrained_offline_names_the_file_and_the_manual_route(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    if importlib.util.find_spec("huggingface_hub") is None:
        monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(othello.UserError) as caught:
        othello.from_pretrained("synthetic")
    message = str(caught.value)
    assert "synthetic_model.pth" in message and "by hand" in message
    assert "make analyze CHECKPOINT=PATH" in message
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # and without the client
    with pytest.raises(othello.UserError, match="needs huggingface_hub.*synthetic_model.pth"):
        othello.from_pretrained("synthetic")


def test_run_with_cache_gives_the_residual_stream_by_layer(tiny_run):
    model = othello.load_model(tiny_run)
    game = othello.Game.from_moves("F5 D6 C3 F4 E6")
    logits, cache = othello.run_with_cache(model, game)
    assert logits.shape == (1, 5, 61)
    hooks = resid_hooks(model.cfg.n_layers)
    stream = cache.resid_stream()
    assert stream.shape == (model.cfg.n_layers + 1, 1, 5, model.cfg.d_model)
    for layer, hook in hooks.items():
        assert torch.equal(cache.resid(layer), cache[hook]) and torch.equal(
            stream[layer], cache[hook]
        )
    _, some = othello.run_with_cache(model, game.tokens(), [hooks[0]])
    with pytest.raises(othello.UserError, match="was not cached"):
        some.resid(1)


def test_in_memory_activations_equal_the_cache_file(tiny_run, tiny_corpus, tmp_path):
    model = othello.load_model(tiny_run)
    source = probes.cache_activations(model, tiny_corpus, n_games=40, progress=False)
    path = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=40,
                       dtype="float32", progress=False)  # fmt: skip
    with ActsFile(path) as acts:
        for split in ("train", "test"):
            mem = next(source.iter_chunks(split, chunk_games=100))
            disk = next(acts.iter_chunks(split, chunk_games=100))
            assert np.array_equal(mem["valid"], disk["valid"])
            for name in ("board_relative", "legal", *source.hooks):
                np.testing.assert_allclose(mem[name], disk[name], atol=1e-5, err_msg=name)


def test_a_probe_reads_the_board_and_gives_its_directions(tiny_run, tiny_corpus):
    model = othello.load_model(tiny_run)
    source = probes.cache_activations(model, tiny_corpus, n_games=200, progress=False)
    fitted = probes.fit_probe(source, fit=QUICK)
    hook = resid_hooks(model.cfg.n_layers)[model.cfg.n_layers]
    test = source.split_rows("test")
    board = probes.read_board(fitted, source.acts[hook][test], hook)
    truth = source.labels["board_relative"][test]
    valid = source.valid_mask[test]
    accuracy = (board.numpy() == truth)[valid].mean()
    empty_rate = (truth == 0)[valid].mean()
    assert board.shape == truth.shape and accuracy > empty_rate + 0.05  # beats "all empty"
    direction = probes.probe_direction(fitted, hook, square=19)
    assert direction.shape == (model.cfg.d_model,)
    every = probes.probe_direction(fitted, hook)
    layer = model.cfg.n_layers
    assert torch.allclose(every, probe_directions(fitted)[layer]["mine_theirs"])
    with pytest.raises(othello.UserError, match="no legal/linear"):
        probes.probe_direction(fitted, hook, reading="legal")


def test_flip_disc_is_the_explorers_edit(tiny_run, tiny_corpus, tmp_path):
    model = othello.load_model(tiny_run)
    source = probes.cache_activations(model, tiny_corpus, n_games=120, progress=False)
    fitted = probes.fit_probe(source, fit=QUICK)
    game = othello.Game.from_moves("F5 D6 C3 F4 E6 F6")
    logits, cache = othello.run_with_cache(model, game)
    # a disc the probe reads right at layer 1 (the edit moves a reading that is wrong already
    # by nothing: it only ever pushes the margin towards the target)
    reading = probes.read_board(fitted, cache.resid(1)[0, 4], resid_hooks(2)[1]).numpy()
    board = game.board(4)
    square = int(np.flatnonzero((board > 0) & (reading == board))[0])
    flip = probes.flip_disc(model, fitted, game, 4, square, layer=1, scale=2.0)
    torch.testing.assert_close(flip.logits_before, logits[0, 4].float())
    assert flip.legal_before.tolist() == [s in game.legal_moves(4) for s in range(64)]
    assert int(flip.board_after[square]) == 3 - int(flip.board_before[square])
    assert not torch.equal(flip.logits_before, flip.logits_after)
    # the explorer answers the same edit from the same probes
    from probes.probe_stage import run_probe_stage

    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=120, progress=False)
    run_probe_stage(acts, tmp_path / "probes", FitConfig(probes=("mine_theirs/linear",),
                    epochs=1, min_steps=20, allow_small=True), False)  # fmt: skip
    explorer = open_explorer(tiny_run, [tiny_corpus], tmp_path / "probes")
    stored, _ = probes.load_probes(tmp_path / "probes")
    again = probes.flip_disc(model, stored, game, 4, square, layer=1, scale=2.0)
    answer = answers.intervention(explorer, game, 4, square, "linear", 1, 2.0)
    assert answer["legal_after"] == np.flatnonzero(again.legal_after).tolist()
    from othello.model.evaluate import square_probabilities

    expected = square_probabilities(again.logits_after).numpy()
    np.testing.assert_allclose(answer["predictions_after"], expected, atol=1e-4)
    with pytest.raises(othello.UserError, match="empty"):
        probes.flip_disc(model, fitted, game, 4, othello.parse_square("A1"))
