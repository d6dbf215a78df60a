"""games.h5: reproducibility, splits, resume, and no complete-looking file after a kill."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from othello.corpora import generate
from othello.corpora.corpus import CorpusError, GamesFile
from othello.corpora.generate import generate_corpus


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("moves", "length", "split")}, dict(f.attrs)


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in ("moves", "length", "split"))


def test_same_seed_same_games_for_any_workers_and_chunk(tmp_path):
    one, attrs = _read(generate_corpus(tmp_path / "a.h5", 5000, seed=7, progress=False))
    two, _ = _read(
        generate_corpus(tmp_path / "b.h5", 5000, seed=7, workers=2, chunk=1234, progress=False)
    )
    other, _ = _read(generate_corpus(tmp_path / "c.h5", 5000, seed=8, progress=False))
    assert _same(one, two)
    assert not np.array_equal(one["moves"], other["moves"])
    assert attrs["seed"] == 7 and attrs["n_games"] == 5000 and "rule_version" in attrs
    assert one["moves"].dtype == np.int8 and one["moves"].shape == (5000, 60)


def test_splits_are_by_game_and_sized_as_asked(tmp_path):
    path = generate_corpus(
        tmp_path / "g.h5", 20000, seed=1, val_fraction=0.1, test_fraction=0.05, progress=False
    )
    with GamesFile(path) as games:
        train, val, test = (games.split_indices(s) for s in ("train", "val", "test"))
        assert len(train) + len(val) + len(test) == 20000
        assert not set(train) & set(val) and not set(val) & set(test)
        assert abs(len(val) - 2000) < 200 and abs(len(test) - 1000) < 150


def test_resume_continues_a_partial_file(tmp_path, monkeypatch):
    full, _ = _read(generate_corpus(tmp_path / "full.h5", 3000, seed=3, chunk=500, progress=False))
    out = tmp_path / "resumed.h5"
    partial = tmp_path / "resumed.h5.partial"
    generate_corpus(out, 3000, seed=3, chunk=500, progress=False)
    # rebuild a half-finished partial file, as a kill after 3 chunks would leave it
    out.rename(partial)
    with h5py.File(partial, "r+") as f:
        f.attrs["n_written"] = 1500
        for name in ("moves", "length", "split"):
            f[name].resize(1500, axis=0)
        del f.attrs["n_games"]
    made = []
    real = generate.make_chunk

    def counted(seed, first, count, *fractions):
        made.append((first, count))
        return real(seed, first, count, *fractions)

    monkeypatch.setattr(generate, "make_chunk", counted)
    generate_corpus(out, 3000, seed=3, chunk=500, progress=False)
    resumed, _ = _read(out)
    assert _same(full, resumed) and not partial.exists()
    assert made == [(1500, 500), (2000, 500), (2500, 500)]  # only the 3 missing chunks


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such games file"):
        GamesFile(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(CorpusError, match="junk.h5"):
        GamesFile(junk)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(CorpusError, match="not an othello-gpt games file"):
        GamesFile(tmp_path / "other.h5")
