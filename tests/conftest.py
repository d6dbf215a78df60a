from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
SHARED_PGN = TESTS.parent.parent / "shared" / "data" / "championship-pgn"
sys.path.insert(0, str(TESTS))  # the scalar reference lives beside the tests


@pytest.fixture(scope="session")
def random_games() -> tuple[np.ndarray, np.ndarray]:
    """20,000 games from the compiled generator (seed 123)."""
    from othello.generate import make_chunk

    moves, length, _ = make_chunk(123, 0, 20_000, 0.0, 0.0)
    return moves, length
