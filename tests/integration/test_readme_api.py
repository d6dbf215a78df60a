"""The README's Python API example runs as written, on the session's tiny model in place of
the smoke run it names."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
PATHS = 'RUN, GAMES = "data/runs/smoke", "data/games-tiny-seed0.h5"'


def readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_api_example_runs(tiny_run, tiny_corpus, capsys):
    code = readme_example()
    assert PATHS in code and code.count("import") == 1, "the example starts from one import"
    code = code.replace(PATHS, f"RUN, GAMES = {str(tiny_run)!r}, {str(tiny_corpus)!r}")
    exec(compile(code, str(README), "exec"), {})
    printed = capsys.readouterr().out
    assert "torch.Size([3, 1, 10, 64])" in printed and "test R^2" in printed, printed
