"""Activation cache: values equal a direct forward pass, resume after a kill, refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from othello.common.atomic import partial_path
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import MODEL, load_model_file
from othello.model.hooks import act_name, resid_hooks
from othello.world.labels import replay
from othello.world.tokens import encode
from probes.acts import memory as cache_module
from probes.acts.memory import cache_activations
from probes.acts.reader import ActsFile
from probes.acts.writer import CacheError, probe_split, write_cache


def test_round_trip_equals_a_direct_forward_pass(tiny_run, tiny_corpus, tmp_path):
    out = write_cache(
        tiny_run,
        tiny_corpus,
        tmp_path / "acts.h5",
        n_games=100,
        dtype="float32",
        batch_games=32,
        progress=False,
    )
    model = load_model_file(tiny_run)
    hooks = list(resid_hooks(model.cfg.n_layers).values())
    assert hooks == [
        "blocks.0.hook_resid_pre",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_resid_post",
    ]
    with GamesFile(tiny_corpus) as games:
        index = games.split_indices("val")[:100]
        moves, length = games.moves[index], games.length[index]
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["game_index"][:], index)
        np.testing.assert_array_equal(f["moves"][:], moves)
        tokens = torch.as_tensor(encode(moves[:, :59]))
        with torch.no_grad():
            _, direct = model.run_with_cache(tokens, hooks)
        for hook in hooks:
            np.testing.assert_allclose(f[f"acts/{hook}"][:], direct[hook].numpy(), atol=1e-5)
        plies = replay(moves, length)
        np.testing.assert_array_equal(f["labels/board_relative"][:], plies.board_relative()[:, :59])
        np.testing.assert_array_equal(f["labels/board_colour"][:], plies.board_colour()[:, :59])
        np.testing.assert_array_equal(f["labels/legal"][:], plies.legal_squares()[:, :59])
        np.testing.assert_array_equal(f["labels/flipped"][:], plies.flipped_squares()[:, :59])
        assert f.attrs["model_sha256"] == file_sha256(tiny_run / MODEL)
        assert f.attrs["games_sha256"] == file_sha256(tiny_corpus)
    with ActsFile(out) as acts:
        train, val, test = (acts.split_rows(s) for s in ("train", "val", "test"))
        assert (len(train), len(val), len(test)) == (80, 10, 10)
        chunk = next(acts.iter_chunks("test", chunk_games=64))
        np.testing.assert_array_equal(chunk["rows"], test)
        assert chunk["valid"].sum() == np.minimum(length[test], 59).sum()


def test_float16_cache_is_close_and_half_the_size(tiny_run, tiny_corpus, tmp_path):
    a = write_cache(
        tiny_run, tiny_corpus, tmp_path / "a.h5", n_games=64, dtype="float32", progress=False
    )
    b = write_cache(
        tiny_run,
        tiny_corpus,
        tmp_path / "b.h5",
        n_games=64,
        dtype="float16",
        compression="gzip",
        progress=False,
    )
    with h5py.File(a) as fa, h5py.File(b) as fb:
        hook = "blocks.1.hook_resid_post"
        assert fb[f"acts/{hook}"].dtype == np.float16
        np.testing.assert_allclose(
            fb[f"acts/{hook}"][:], fa[f"acts/{hook}"][:], rtol=2e-3, atol=2e-3
        )


def test_resume_after_an_interrupted_cache(tiny_run, tiny_corpus, tmp_path, monkeypatch):
    kwargs = dict(n_games=100, batch_games=16, dtype="float32", progress=False)
    whole = write_cache(tiny_run, tiny_corpus, tmp_path / "whole.h5", **kwargs)
    calls = {"n": 0}
    real_replay = cache_module.replay

    def dying_replay(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # stands in for a kill between batches
        return real_replay(*args)

    monkeypatch.setattr(cache_module, "replay", dying_replay)
    target = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        write_cache(tiny_run, tiny_corpus, target, **kwargs)
    assert not target.exists()
    with h5py.File(partial_path(target)) as f:
        assert f.attrs["n_done"] == 48
    with pytest.raises(CacheError, match="partial"):
        ActsFile(target)
    calls["n"] = -100  # no more deaths
    write_cache(tiny_run, tiny_corpus, target, **kwargs)
    assert calls["n"] == -100 + 4  # only the 4 unfinished batches of 16 were recomputed
    with h5py.File(whole) as fw, h5py.File(target) as fc:
        for name in (
            "acts/blocks.0.hook_resid_pre",
            "acts/blocks.1.hook_resid_post",
            "labels/board_relative",
            "moves",
            "split",
        ):
            np.testing.assert_array_equal(fw[name][:], fc[name][:])


def test_a_cache_of_another_model_or_corpus_is_refused(tiny_run, tiny_corpus, tmp_path):
    out = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=20, progress=False)
    model_hash, games_hash = file_sha256(tiny_run / MODEL), file_sha256(tiny_corpus)
    ActsFile(out, model_sha256=model_hash, games_sha256=games_hash).close()
    with pytest.raises(CacheError, match="another model"):
        ActsFile(out, model_sha256="0" * 64)
    with pytest.raises(CacheError, match="another games corpus"):
        ActsFile(out, games_sha256="f" * 64)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(CacheError, match="junk.h5"):
        ActsFile(tmp_path / "junk.h5")


def test_bad_arguments_are_clear_errors(tiny_run, tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match="no hook point"):
        write_cache(
            tiny_run,
            tiny_corpus,
            tmp_path / "x.h5",
            hooks=["blocks.9.hook_resid_pre"],
            progress=False,
        )
    with pytest.raises(ValueError, match="dtype"):
        write_cache(tiny_run, tiny_corpus, tmp_path / "x.h5", dtype="int8", progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_any_hook_is_cached_as_one_vector_per_position(tiny_run, tiny_corpus, tmp_path):
    """Per-head outputs [heads, d_head] are flattened to one vector, the MLP's hidden layer
    is its own width; an attention pattern (no vector per position) is refused."""
    model = load_model_file(tiny_run)
    hooks = [act_name("z", 0), act_name("post", 1), act_name("mlp_out", 0)]
    out = write_cache(tiny_run, tiny_corpus, tmp_path / "a.h5", n_games=20, hooks=hooks,
                      dtype="float32", progress=False)  # fmt: skip
    memory = cache_activations(model, tiny_corpus, n_games=20, hooks=hooks, progress=False)
    with GamesFile(tiny_corpus) as games:
        moves = games.moves[games.split_indices("val")[:20]]
    with torch.no_grad():
        _, direct = model.run_with_cache(torch.as_tensor(encode(moves[:, :59])), hooks)
    with ActsFile(out) as acts:
        assert acts.hooks == hooks
        assert [acts.width(h) for h in hooks] == [64, model.cfg.mlp_width, 64]
        for hook in hooks:
            cached = acts.file[f"acts/{hook}"][:]
            np.testing.assert_allclose(cached, direct[hook].flatten(2).numpy(), atol=1e-5)
            np.testing.assert_array_equal(memory.acts[hook], cached)
    with pytest.raises(ValueError, match="not one vector per position"):
        write_cache(tiny_run, tiny_corpus, tmp_path / "p.h5", hooks=[act_name("pattern", 0)],
                    progress=False)  # fmt: skip
    assert not (tmp_path / "p.h5").exists()


def test_probe_split_is_by_contiguous_games():
    split = probe_split(10, (0.8, 0.1, 0.1))
    assert split.tolist() == [0] * 8 + [1, 2]
    with pytest.raises(ValueError):
        probe_split(10, (0.5, 0.1, 0.1))
