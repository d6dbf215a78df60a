"""Rows of move sequences decoded one token per row per step through a model's decoding cache
(a GPT's keys and values, a recurrent model's state): the machinery under the model's acceptor
(:mod:`.cached` asks it the tests' questions). It takes the model and the acceptor's weights
function (logits to next-move weights), not the acceptor, so it depends on neither
:mod:`.acceptors` nor :mod:`.cached`.

A :class:`Decoding` holds a fixed number of slots whose cache fits :data:`CACHE_BYTES`, so
memory does not grow with the number of trials; a :class:`Queue` admits waiting rows into the
slots of rows that have ended, so a batch stays full while rows come and go. Rows that share a
prefix read it once: the distinct prefixes are prefilled, sorted by length in groups, and
written into each of their rows' slots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from othello.model.hooked import HookedModel
from othello.world.squares import MAX_MOVES, N_SQUARES
from othello.world.tokens import encode

CACHE_BYTES = 2**30  # one batch's decoding cache
MAX_ROWS = 1024  # rows of a batch for a small model
PREFILL_ROWS = 64  # prefixes prefilled together, sorted by length (little padding)

# an accept rule: float32 [..., 64] sampling weights (zero: not accepted) from logits [..., 61]
Weigh = Callable[[torch.Tensor], torch.Tensor]


def capacity(model: HookedModel, per_row: int = 1) -> int:
    """How many rows (each holding ``per_row`` cache rows) decode together."""
    row_bytes = model.cache_row_bytes()
    return max(1, min(MAX_ROWS, CACHE_BYTES // row_bytes) // per_row)


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class Queue:
    """Rows 0..n-1 waiting to decode, admitted in whole units (a trial's continuations) into
    the free slots of a decoding, so its batch stays full while rows come and go."""

    def __init__(self, n: int, unit: int) -> None:
        self.n, self.unit, self.next = n, unit, 0

    @property
    def empty(self) -> bool:
        return self.next >= self.n

    def take(self, free: int) -> slice | None:
        count = free // self.unit * self.unit
        if self.empty or count == 0:
            return None
        rows = slice(self.next, min(self.next + count, self.n))
        self.next = rows.stop
        return rows


class Decoding:
    """Rows read up to their lengths and then fed one move at a time, in a cache of fixed slots.

    :meth:`admit` puts rows (the caller's ids) into free slots as ``moves[i, :lengths[i]]``
    (``lengths >= 1``); rows with equal prefixes share one prefill. A row is *live* until the
    caller ends it or it holds 60 moves; its slot is then free for the next admitted row. Every
    slot steps (free ones on padding, their output unread); once no more rows will come,
    :meth:`shrink` copies the live rows to a smaller cache when a quarter of the slots are free.
    ``weigh`` (the acceptor's rule) turns the model's logits into the weights rows read.
    """

    def __init__(
        self, model: HookedModel, weigh: Weigh, slots: int, n_ctx: int | None = None
    ) -> None:
        self.model, self.weigh = model, weigh
        self.device = next(model.parameters()).device
        self.cache = self.model.new_cache(slots, self.device, n_ctx)
        self.logits = torch.zeros(slots, self.model.cfg.vocab_size, device=self.device)
        self.row = np.full(slots, -1, np.int64)  # the caller's row held in each slot
        self.length = np.ones(slots, np.int64)  # moves read, per slot
        self.alive = np.zeros(slots, bool)
        self.last = np.zeros(slots, np.int64)  # the move each slot reads next

    @property
    def free(self) -> int:
        return int((~self.alive).sum())

    @property
    def n_live(self) -> int:
        return int(self.alive.sum())

    def admit(self, moves: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> None:
        read = np.arange(MAX_MOVES)[None, :] < lengths[:, None]
        masked = np.where(read, moves, -1)
        _, first, inverse = np.unique(masked, axis=0, return_index=True, return_inverse=True)
        prefix_of = first[inverse.reshape(-1)]  # each admitted row's prefix, by its first row
        slots = np.flatnonzero(~self.alive)[: len(rows)]
        order = first[np.argsort(lengths[first], kind="stable")]  # prefixes by length
        n_ctx = self.model.cfg.n_ctx
        for start in range(0, len(order), PREFILL_ROWS):
            group = order[start : start + PREFILL_ROWS]
            n = lengths[group]
            width = min(int(n.max()), n_ctx)
            tokens = torch.as_tensor(encode(masked[group, :width]))
            cache = self.model.new_cache(len(group), self.device, width)
            out = self.model.prefill(tokens.to(self.device), cache, torch.as_tensor(n))
            last = torch.as_tensor(np.minimum(n, n_ctx) - 1, device=self.device)
            at = np.full(len(moves), -1, np.int64)  # each group prefix's row in this prefill
            at[group] = np.arange(len(group))
            mine = np.flatnonzero(at[prefix_of] >= 0)  # the admitted rows it serves
            source = torch.as_tensor(at[prefix_of[mine]], device=self.device)
            target = torch.as_tensor(slots[mine], device=self.device)
            self.cache.write(target, cache, source)
            self.logits[target] = out[torch.arange(len(group), device=self.device), last][source]
        self.row[slots], self.length[slots] = rows, lengths
        self.alive[slots], self.last[slots] = lengths < MAX_MOVES, 0

    def shrink(self) -> None:
        """Copy the live rows to a cache of their own size, once a quarter of the slots are free
        (call it only when no more rows will be admitted)."""
        if self.free * 4 < len(self.alive) or not self.alive.any():
            return
        keep = np.flatnonzero(self.alive)
        self.cache = self.cache.select(torch.as_tensor(keep))
        self.logits = self.logits[torch.as_tensor(keep, device=self.device)]
        self.row, self.length = self.row[keep], self.length[keep]
        self.alive, self.last = self.alive[keep], self.last[keep]

    def live(self) -> np.ndarray:
        """The caller's rows still live, in the order of :meth:`weights`."""
        return self.row[self.alive]

    def lengths(self) -> np.ndarray:
        """Moves read so far by each live row."""
        return self.length[self.alive]

    def weights(self) -> np.ndarray:
        """float32 [live, 64]: each live row's weights for its next move."""
        mask = torch.as_tensor(self.alive, device=self.device)
        return self.weigh(self.logits[mask]).cpu().numpy()

    def advance(self, squares: np.ndarray, going: np.ndarray) -> None:
        """Live rows where ``going`` read their square (one per live row); the others end."""
        live = np.flatnonzero(self.alive)
        self.alive[live[~going]] = False
        moved = live[going]
        self.last[moved] = squares[going]
        self.length[moved] += 1
        self.alive[moved[self.length[moved] >= MAX_MOVES]] = False  # nothing after move 60
        if not self.alive.any():
            return
        tokens = torch.as_tensor(encode(np.where(self.alive, self.last, -1)), device=self.device)
        positions = torch.as_tensor(np.minimum(self.length, MAX_MOVES - 1) - 1, device=self.device)
        self.logits = self.model.step(tokens, positions, self.cache)


def draw(weights: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One square per row drawn in proportion to ``weights``, and whether the row had any."""
    total = weights.sum(1)
    u = rng.random(len(weights)) * total
    last_accepted = N_SQUARES - 1 - (weights[:, ::-1] > 0).argmax(1)  # for rounding at the top
    square = np.minimum((weights.cumsum(1) <= u[:, None]).sum(1), last_accepted)
    return square, total > 0
