"""Training batches streamed from ``games.h5``: shuffled, sharded, resumable, and prepared
ahead of the training loop.

The corpus is read one block of games at a time (blocks visited in a seeded random order each
epoch, games shuffled within a block), so memory does not grow with the corpus. The position
in the stream is three integers, saved in every checkpoint so a resumed run sees exactly the
batches it would have seen. With several processes, each takes every ``world``-th block.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator

import numpy as np
import torch

from othello.corpora.corpus import SPLIT_NAMES, CorpusError, GamesFile
from othello.training.config import TrainConfig
from othello.training.objectives import legal_move_targets
from othello.world.tokens import encode

BLOCK_GAMES = 1 << 16


class GameStream:
    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int,
        seed: int,
        split: str = "train",
        rank: int = 0,
        world: int = 1,
        block_games: int = BLOCK_GAMES,
    ):
        self.games = GamesFile(path)
        self.batch_size = batch_size
        self.seed = seed
        self.split_code = SPLIT_NAMES.index(split)
        self.rank, self.world = rank, world
        self.block_games = block_games
        self.n_blocks = -(-self.games.n_games // block_games)
        if self.n_blocks < world:
            raise CorpusError(
                f"{self.games.path}: {self.n_blocks} blocks cannot feed {world} "
                "processes; use a larger corpus"
            )
        self.position = {"epoch": 0, "block": 0, "offset": 0}
        self._loaded: tuple[tuple[int, int], np.ndarray] | None = None

    def state_dict(self) -> dict:
        return dict(self.position)

    def load_state_dict(self, state: dict) -> None:
        self.position = {key: int(state[key]) for key in ("epoch", "block", "offset")}

    def _block_rows(self, epoch: int, block_number: int) -> np.ndarray:
        if self._loaded is not None and self._loaded[0] == (epoch, block_number):
            return self._loaded[1]
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n_blocks)
        block = order[self.rank :: self.world][block_number]
        start = int(block) * self.block_games
        moves, _ = self.games.read(start, start + self.block_games)
        split = self.games.split[start : start + self.block_games]
        rows = moves[split == self.split_code]
        rows = rows[np.random.default_rng([self.seed, epoch, int(block)]).permutation(len(rows))]
        self._loaded = ((epoch, block_number), rows)
        return rows

    def __iter__(self) -> Iterator[np.ndarray]:
        """Endless int8 [batch_size, 60] move arrays; a block's last partial batch is dropped."""
        blocks_per_rank = len(range(self.rank, self.n_blocks, self.world))
        empty_blocks = 0
        while True:
            pos = self.position
            rows = self._block_rows(pos["epoch"], pos["block"])
            if pos["offset"] + self.batch_size <= len(rows):
                batch = rows[pos["offset"] : pos["offset"] + self.batch_size]
                pos["offset"] += self.batch_size
                empty_blocks = 0
                yield batch
                continue
            empty_blocks += 1
            if empty_blocks > blocks_per_rank:
                raise CorpusError(
                    f"{self.games.path}: no block holds a batch of "
                    f"{self.batch_size} games of the requested split"
                )
            pos["offset"] = 0
            pos["block"] += 1
            if pos["block"] == blocks_per_rank:
                pos["block"] = 0
                pos["epoch"] += 1


def prepare_batch(batch: np.ndarray, cfg: TrainConfig, pin: bool):
    """Tokens and (for the legal targets) target distributions of one batch, on the CPU."""
    tokens = torch.as_tensor(encode(batch))
    targets = legal_move_targets(batch) if cfg.target != "sampled" else None
    if pin:
        tokens = tokens.pin_memory()
        targets = targets.pin_memory() if targets is not None else None
    return tokens, targets


class Batches:
    """Training batches with the stream position after each, so a checkpoint records what
    was consumed, not what was prepared ahead. With ``prefetch`` > 0 a thread prepares that
    many batches ahead (the GPU never waits on the replay that builds the targets);
    ``wait_s`` sums the time the loop spent waiting for data."""

    def __init__(self, stream: GameStream, cfg: TrainConfig, device: torch.device) -> None:
        self.stream, self.cfg, self.device = stream, cfg, device
        self.pin = device.type == "cuda"
        self.source = iter(stream)
        self.wait_s = 0.0
        self.queue: queue.Queue | None = None
        if cfg.prefetch > 0:
            self.queue = queue.Queue(maxsize=cfg.prefetch)
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._fill, daemon=True)
            self.thread.start()

    def _produce(self):
        batch = next(self.source)
        return (*prepare_batch(batch, self.cfg, self.pin), self.stream.state_dict())

    def _fill(self) -> None:
        while not self.stop.is_set():
            try:
                item = self._produce()
            except Exception as exc:  # surfaces in the training loop
                item = exc
            while not self.stop.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, Exception):
                return

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        began = time.perf_counter()
        item = self._produce() if self.queue is None else self.queue.get()
        if isinstance(item, Exception):
            raise item
        tokens, targets, position = item
        tokens = tokens.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True) if targets is not None else None
        self.wait_s += time.perf_counter() - began
        return tokens, targets, position

    def close(self) -> None:
        if self.queue is not None:
            self.stop.set()
            self.thread.join(timeout=5)
