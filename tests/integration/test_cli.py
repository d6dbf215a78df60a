"""User mistakes end the same way in every script: one ``error: ...`` line naming the file
instead of a traceback, and sizes that are met or refused."""

from __future__ import annotations

from conftest import run_in_process, run_script


def one_error_line(result) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_user_mistakes_end_in_one_error_line(tiny_corpus, tiny_run, tmp_path):
    truncated = tmp_path / "games.h5"
    truncated.write_bytes(tiny_corpus.read_bytes()[:5000])
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("a text file")
    train = ["--preset", "tiny", "--out", tmp_path / "run", "--no-progress"]
    # one as a user runs it, in a fresh interpreter; the rest in this one (the same code path)
    assert "games.h5" in one_error_line(
        run_script("scripts/train.py", *train, "--games", truncated)
    )
    assert "notes.h5" in one_error_line(run_in_process("train.py", *train, "--games", not_hdf5))
    assert "lr='abc': expected float" in one_error_line(
        run_in_process("train.py", *train, "--games", tiny_corpus, "lr=abc")
    )
    missing = tmp_path / "no-run"
    line = one_error_line(run_in_process("evaluate.py", "--run", missing, "--games", tiny_corpus))
    assert "no-run: no such run directory" in line
    line = one_error_line(
        run_in_process(
            "evaluate.py", "--run", tiny_run, "--games", tiny_corpus, "--n-games", 5000,
            "--out", tmp_path / "eval",
        )
    )  # fmt: skip
    assert "split 'test' holds 963 games, 5,000 asked" in line
    assert not (tmp_path / "eval").exists()


def test_cache_refuses_more_games_than_the_split_holds(tiny_corpus, tiny_run, tmp_path):
    out = tmp_path / "acts.h5"
    cache = ["--run", tiny_run, "--games", tiny_corpus, "--out", out]
    line = one_error_line(run_in_process("cache.py", *cache, "--n-games", 2000, "--no-progress"))
    assert "split 'val' holds" in line and "2,000 asked" in line and "--split" in line
    assert not out.exists()
    done = run_in_process("cache.py", *cache, "--n-games", 2000, "--allow-fewer", "--no-progress")
    assert done.returncode == 0, done.stderr
    from othello.corpora.corpus import GamesFile
    from probes.acts.reader import ActsFile

    with GamesFile(tiny_corpus) as games, ActsFile(out) as acts:
        assert acts.n_games == len(games.split_indices("val"))
