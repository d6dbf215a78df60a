"""Files that never look complete before they are.

A stage writes ``NAME.partial`` beside its output and renames it into place only when done,
so a killed job leaves no file under the final name; the partial file is what a resumed job
picks up again.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py


def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".partial")


def commit(partial: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move a finished partial file to its final name in one atomic step."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, final)


def reopen_partial_h5(partial: str | os.PathLike, job: str, ready_attr: str) -> h5py.File | None:
    """The partial HDF5 file of an interrupted run of the same ``job``, open for appending,
    provided it got as far as setting ``ready_attr``. Otherwise None, with any leftovers
    deleted, so the caller starts a fresh partial file."""
    partial = Path(partial)
    if partial.exists():
        f = None
        try:
            f = h5py.File(partial, "r+")
            if f.attrs.get("job") == job and ready_attr in f.attrs:
                return f
        except (OSError, KeyError):
            pass  # unreadable leftovers of a kill mid-write: start over
        if f is not None and f.id.valid:
            f.close()
    partial.unlink(missing_ok=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    return None


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a small text output (JSON, Markdown) whole or not at all: make and later stages
    treat its presence as "done", so a kill mid-write must not leave a truncated file."""
    partial = partial_path(path)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(text)
    commit(partial, path)
    return Path(path)
