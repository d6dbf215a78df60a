"""Freed memory given back between a long job's parts (glibc's malloc_trim)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from othello.common.memory import _malloc_trim, release_freed_memory

STATM = Path("/proc/self/statm")


def resident_mb() -> float:
    return int(STATM.read_text().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(
    not STATM.exists() or platform.libc_ver()[0] != "glibc" or _malloc_trim() is None,
    reason="glibc on Linux only: elsewhere release_freed_memory does nothing",
)
def test_freed_blocks_between_live_ones_go_back_to_the_system():
    blocks, pins = [], []
    for _ in range(4000):
        blocks.append(np.ones(8192))  # 64 KB: from the heap, not mmap
        pins.append(np.ones(256))  # a live block after each: free() cannot shrink past it
    del blocks
    before = resident_mb()
    release_freed_memory()
    assert before - resident_mb() > 100  # of the 250 MB freed
    assert sum(pin.sum() for pin in pins) == 4000 * 256


def test_it_can_always_be_called():
    release_freed_memory()
    release_freed_memory()
