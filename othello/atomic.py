"""Files that never look complete before they are.

A stage writes ``NAME.partial`` beside its output and renames it into place only when done,
so a killed job leaves no file under the final name; the partial file is what a resumed job
picks up again.
"""

from __future__ import annotations

import os
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".partial")


def commit(partial: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move a finished partial file to its final name in one atomic step."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, final)
