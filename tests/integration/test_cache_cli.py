"""The cache and merge scripts as a user runs them."""

from __future__ import annotations

import numpy as np
from conftest import run_in_process

from othello.common.hashing import file_sha256
from othello.model.checkpoint import MODEL
from probes.acts.reader import ActsFile
from probes.acts.writer import write_cache


def test_cli_caches_the_model_and_its_random_init_control(tiny_run, tiny_corpus, tmp_path):
    for extra, name in (([], "acts.h5"), (["--control"], "control.h5")):
        result = run_in_process(
            "cache.py",
            "--run",
            tiny_run,
            "--games",
            tiny_corpus,
            "--out",
            tmp_path / name,
            "--n-games",
            "40",
            "--no-progress",
            *extra,
        )
        assert result.returncode == 0, result.stderr
    with ActsFile(tmp_path / "acts.h5") as a, ActsFile(tmp_path / "control.h5") as c:
        assert a.model_sha256 == file_sha256(tiny_run / MODEL)
        assert c.model_sha256 == file_sha256(tiny_run / "control" / MODEL) != a.model_sha256
        assert a.games_sha256 == c.games_sha256
    bad = run_in_process(
        "cache.py",
        "--run",
        tmp_path / "nowhere",
        "--games",
        tiny_corpus,
        "--out",
        tmp_path / "bad.h5",
    )
    assert bad.returncode != 0 and "nowhere" in bad.stderr


def test_cache_shards_merge_into_the_single_process_cache(tiny_run, tiny_corpus, tmp_path):
    whole = write_cache(tiny_run, tiny_corpus, tmp_path / "whole.h5", n_games=90, progress=False)
    shards = [
        run_in_process(
            "cache.py",
            "--run",
            tiny_run,
            "--games",
            tiny_corpus,
            "--n-games",
            90,
            "--out",
            tmp_path / f"s{k}.h5",
            "--shard",
            f"{k}/3",
            "--batch-games",
            16,
            "--no-progress",
        )  # fmt: skip
        for k in (1, 0, 2)
    ]
    assert all(s.returncode == 0 for s in shards), [s.stderr for s in shards]
    files = [tmp_path / f"s{k}.h5" for k in range(3)]
    done = run_in_process("merge_shards.py", "--out", tmp_path / "merged.h5", *files[::-1])
    assert done.returncode == 0, done.stderr
    with ActsFile(whole) as a, ActsFile(tmp_path / "merged.h5") as b:
        assert a.model_sha256 == b.model_sha256 and a.hooks == b.hooks
        assert np.array_equal(a.file["split"][:], b.file["split"][:])
        for name in ("game_index", "labels/board_relative", "labels/legal"):
            assert np.array_equal(a.file[name][:], b.file[name][:])
        for hook in a.hooks:
            np.testing.assert_allclose(a.file[f"acts/{hook}"][:], b.file[f"acts/{hook}"][:],
                                       atol=2e-3)  # fmt: skip
    gap = run_in_process("merge_shards.py", "--out", tmp_path / "bad.h5", files[0], files[2])
    assert gap.returncode != 0 and "2 shards of 3" in gap.stderr
    assert not (tmp_path / "bad.h5").exists()
