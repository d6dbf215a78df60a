"""Freed memory given back to the system between the parts of a long job.

glibc keeps what a part freed (in each thread's arena, in pieces between blocks still live)
for later allocations, so a process that runs large parts one after another holds the sum of
their leftovers and its peak grows with every kind of part it runs. ``malloc_trim`` returns the
free pages: the dynamics of the cpu run, measured three snapshots in one process, peaked at
2.01 GB without it and 1.65 GB with it (docs/benchmarks.md). Elsewhere than glibc, nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: no such call
        return None


def release_freed_memory() -> None:
    """Give the pages ``free`` kept back to the system (glibc's ``malloc_trim(0)``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
