"""The activation file's format, owned here alone: what ``acts.h5`` holds and how its datasets
are laid out. The writer (:mod:`probes.acts.writer`), the reader (:mod:`probes.acts.reader`)
and the shard merge (:mod:`probes.acts.merge`) all take it from this module.

``acts.h5`` holds, for every cached game and sequence position (0..58), the activations at the
chosen hook points (``acts/<hook name>``, ``[games, 59, width]``: the hook's activation at a
position flattened to one vector, ``d_model`` for the residual stream, heads x ``d_head`` for
``attn.hook_z``, the MLP's width for ``mlp.hook_post``) and the engine's labels of
the board the model has seen at that position (``labels/*``, ``[games, 59, ...]``). Position
``t`` has read moves ``0..t``; its labels describe the board after move ``t``. Positions past a
game's end hold the model's activations on padding and labels of -1 / False; ``length`` tells
which are real. Games get a probe split (``split``: 0 train, 1 val, 2 test) by game, never by
position, so no board of a test game is seen in training. Attributes record the content hashes
of the model and corpus, the hooks, dtype and code version (``job``).
"""

from __future__ import annotations

import h5py
import numpy as np

from othello.common.errors import UserError
from othello.world.labels import PlyLabels
from othello.world.squares import MAX_MOVES, N_POSITIONS, N_SQUARES

FORMAT = "othello-gpt-acts"
FORMAT_VERSION = 1
# name -> (dtype, trailing shape) of the per-position labels stored beside the activations
LABELS = {
    "board_colour": (np.int8, (N_SQUARES,)),  # 0 empty, 1 black, 2 white
    "board_relative": (np.int8, (N_SQUARES,)),  # 0 empty, 1 mine, 2 theirs (side to move next)
    "flipped": (np.uint8, (N_SQUARES,)),  # 1 where move t turned a disc over
    "legal": (np.uint8, (N_SQUARES,)),  # 1 where the side to move next may play
    "next_player": (np.int8, ()),  # 0 black, 1 white, -1 nobody (game over) or padding
}


def position_labels(plies: PlyLabels) -> dict[str, np.ndarray]:
    """The :data:`LABELS` of replayed games at the positions a model reads, as the cache
    stores them and an in-memory source holds them."""
    labels = {
        "board_colour": plies.board_colour(),
        "board_relative": plies.board_relative(),
        "flipped": plies.flipped_squares(),
        "legal": plies.legal_squares(),
        "next_player": plies.next_player,
    }
    return {
        name: values[:, :N_POSITIONS].astype(LABELS[name][0]) for name, values in labels.items()
    }


DTYPES = {"float16": np.float16, "float32": np.float32}
# per-game datasets, in the order a merge copies them
GAME_DATASETS = ("moves", "length", "game_index", "corpus_split", "split")


class CacheError(UserError):
    """A cache that is missing, incomplete, or made from another model or corpus."""


def probe_split(n_games: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split codes for cached games: contiguous blocks of train, val and test.

    Cached games are an i.i.d. sample of random games, so contiguous blocks are as good as a
    shuffle and keep every split a sequential read.
    """
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise UserError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    bounds = np.round(np.cumsum(fractions)[:2] * n_games).astype(int)
    split = np.full(n_games, 2, dtype=np.int8)
    split[: bounds[1]] = 1
    split[: bounds[0]] = 0
    return split


def valid_positions(length: np.ndarray) -> np.ndarray:
    """bool [games, 59]: the positions of games of these lengths that hold a real board."""
    return np.arange(N_POSITIONS)[None, :] < np.asarray(length).astype(np.int64)[:, None]


def is_complete_cache(f: h5py.File) -> bool:
    return f.attrs.get("format") == FORMAT and bool(f.attrs.get("complete", False))


def dataset_names(hooks: list[str]) -> list[str]:
    """Every dataset of a cache with these hooks: per-game rows, activations, labels."""
    return [*GAME_DATASETS, *(f"acts/{hook}" for hook in hooks), *(f"labels/{n}" for n in LABELS)]


def cache_job(
    model_sha256: str | None,
    games_sha256: str,
    hooks: list[str],
    corpus_split: str,
    n_games: int,
    fractions: tuple[float, float, float],
    dtype: str = "float32",
    compression: str | None = None,
) -> dict:
    """What a cache was made from and how (the ``job`` attribute of ``acts.h5``; an in-memory
    source keeps the same record), so both routes describe the same job the same way."""
    return {
        "model_sha256": model_sha256,
        "games_sha256": games_sha256,
        "hooks": list(hooks),
        "dtype": dtype,
        "compression": compression,
        "corpus_split": corpus_split,
        "n_games": int(n_games),
        "fractions": list(fractions),
    }


def create_datasets(f: h5py.File, job: dict, widths: dict[str, int], batch_games: int) -> None:
    """Every dataset of a cache for ``job`` (its ``n_games``, ``hooks``, ``dtype`` and
    ``compression``), each hook ``widths[hook]`` wide, chunked by ``batch_games`` games."""
    n = job["n_games"]
    rows = min(batch_games, n)
    f.create_dataset("moves", (n, MAX_MOVES), dtype=np.int8)
    f.create_dataset("length", (n,), dtype=np.int8)
    f.create_dataset("game_index", (n,), dtype=np.int64)
    f.create_dataset("corpus_split", (n,), dtype=np.int8)
    f.create_dataset("split", (n,), dtype=np.int8)
    for hook in job["hooks"]:
        f.create_dataset(
            f"acts/{hook}",
            (n, N_POSITIONS, widths[hook]),
            dtype=DTYPES[job["dtype"]],
            chunks=(rows, N_POSITIONS, widths[hook]),
            compression=job["compression"],
        )
    for name, (dtype, shape) in LABELS.items():
        f.create_dataset(
            f"labels/{name}",
            (n, N_POSITIONS, *shape),
            dtype=dtype,
            chunks=(rows, N_POSITIONS, *shape),
            compression=job["compression"],
        )
