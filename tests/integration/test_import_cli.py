"""The import script as a user runs it."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, pgn_with_illegal_second_game, run_script

SAMPLE = FIXTURES / "championship_sample.pgn"


def test_import_cli_exit_code_and_message(tmp_path):
    path = pgn_with_illegal_second_game(tmp_path)
    cmd = ["scripts/import_games.py", "--format", "pgn", "--no-progress"]
    cmd += ["--out", tmp_path / "o.h5", path]
    result = run_script(*cmd)
    assert result.returncode != 0 and "games.pgn:2:3" in result.stderr
    result = run_script(*cmd, "--skip-invalid")
    assert result.returncode == 0 and "1 invalid and 0 exact duplicates" in result.stdout


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8])
def test_a_failed_import_leaves_no_file_behind(tmp_path, content):
    source = tmp_path / "games.pgn"  # empty, or binary (a .wtb given as PGN)
    source.write_bytes(content)
    out = tmp_path / "out.h5"
    cmd = ["scripts/import_games.py", "--format", "pgn", "--no-progress", "--out", out, source]
    result = run_script(*cmd)
    assert result.returncode != 0 and result.stderr.startswith("error: ")
    assert "games.pgn" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [source]  # no out.h5, no out.h5.partial
