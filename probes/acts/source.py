"""What every reader of activations needs from a source, whether the activations are in an
``acts.h5`` file (:class:`probes.acts.reader.ActsFile`) or in memory
(:class:`probes.acts.arrays.ArraySource`, what :func:`probes.acts.memory.cache_activations`
returns): the protocol both implement in full, so probe fitting, the baselines, the
whole-board tables and the SAEs run on either, and a stage that needs no file writes none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ActivationSource(Protocol):
    """Activations at some hooks of a model over a set of games, each game's board labels
    and moves, and each game's probe split (whole games: a test game is never trained on).

    Rows are the source's games, 0..n_games-1; a split's rows come from :meth:`split_rows`,
    and everything else is asked for by row. ``job`` records how the source was made
    (:func:`probes.acts.format.cache_job`: ``hooks``, ``n_games``, ``corpus_split``,
    ``fractions``, ``dtype``, ``model_sha256``, ``games_sha256``, ...); a source of planted
    arrays has no moves and no job (``games`` refuses, ``job`` is empty)."""

    hooks: list[str]  # the hooks whose activations it holds, in order

    @property
    def n_games(self) -> int: ...

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the model file it was made from; None when it came from no file."""

    @property
    def games_sha256(self) -> str | None:
        """sha256 of the games file its games were taken from; None for planted arrays."""

    @property
    def job(self) -> dict: ...

    def width(self, hook: str) -> int:
        """The activation vector's length at ``hook`` (d_model for the residual stream)."""

    def split_rows(self, split: str) -> np.ndarray:
        """Rows of one probe split ('train', 'val' or 'test'), ascending."""

    def valid(self, rows: slice | np.ndarray) -> np.ndarray:
        """bool [games, 59]: positions of ``rows`` that hold a real board (not padding)."""

    def games(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Moves int8 [games, 60] and lengths int8 [games] of ``rows``."""

    def iter_chunks(
        self,
        split: str,
        hooks: list[str] | None = None,
        labels: list[str] | None = None,
        chunk_games: int = 256,
        shuffle_seed: int | None = None,
        skip: int = 0,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Dicts of one split's games, ``chunk_games`` at a time: ``rows``, ``valid``, each
        hook's activations (float32 [games, 59, width]) and each label array (None: every
        hook or label it holds). With a seed, chunks come in a seeded order; the first
        ``skip`` chunks are passed over unread (a resumed job continues where it stopped)."""
