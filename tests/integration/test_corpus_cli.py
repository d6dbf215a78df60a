"""Corpus generation and merging as a user runs them: killed, resumed, sharded."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import TESTS, run_in_process

from othello.corpora.corpus import CorpusError, GamesFile
from othello.corpora.generate import generate_corpus

ROOT = TESTS.parent


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("moves", "length", "split")}, dict(f.attrs)


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in ("moves", "length", "split"))


def test_killed_generation_leaves_no_complete_looking_file(tmp_path):
    out = tmp_path / "games.h5"
    cmd = [
        sys.executable,
        str(ROOT / "scripts/make_games.py"),
        "--n",
        "50000000",
        "--chunk",
        "65536",
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd)
    partial = tmp_path / "games.h5.partial"
    deadline = time.time() + 600  # the partial file appears within seconds; 50M games take minutes
    while time.time() < deadline and not partial.exists():
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not out.exists()
    with pytest.raises(CorpusError):
        GamesFile(out)


def test_shards_made_apart_merge_into_the_single_machine_corpus(tmp_path):

    whole, _ = _read(generate_corpus(tmp_path / "whole.h5", 5000, seed=3, progress=False))
    shards = [
        generate_corpus(tmp_path / f"s{k}.h5", 5000, seed=3, shard=k, n_shards=3, progress=False)
        for k in (2, 0, 1)
    ]
    done = run_in_process("merge_shards.py", "--out", tmp_path / "merged.h5", *shards)
    assert done.returncode == 0, done.stderr
    merged, attrs = _read(tmp_path / "merged.h5")
    assert _same(merged, whole) and attrs["n_games"] == 5000 and attrs["seed"] == 3
    missing = run_in_process("merge_shards.py", "--out", tmp_path / "bad.h5", *shards[:2])
    assert missing.returncode != 0 and "2 shards of 3" in missing.stderr
    other = generate_corpus(tmp_path / "o.h5", 5000, seed=4, shard=1, n_shards=3, progress=False)
    mixed = run_in_process(
        "merge_shards.py", "--out", tmp_path / "bad.h5", shards[0], shards[1], other
    )
    assert mixed.returncode != 0 and "shards of different corpora" in mixed.stderr
    assert not (tmp_path / "bad.h5").exists()
