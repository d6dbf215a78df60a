"""A model's acceptor run through its key/value cache: sampling continuations, judging given
ones (teacher forcing), and both at once in lockstep, one token per row per step.

Three savings over a full forward per question, each leaving the answers as they were:

* rows that share a prefix read it once: the distinct prefixes are prefilled and their cache
  rows repeated, so judging 30 continuations of one prefix reads the prefix once, not 30 times;
* a judged row stops at its first rejected move, which is all the Myhill-Nerode tests read
  (a continuation is accepted when every move is; a boundary is cut at the first rejection);
* :func:`sample_judged` samples after one prefix and judges after another in the same step, so
  a continuation is drawn only as far as its judging needs: up to its first rejection, and with
  ``whole_trial`` only until any continuation of its trial is rejected (a compression trial
  then scores 0 whatever the rest would have drawn).

Rows are cut into chunks whose caches fit :data:`CACHE_BYTES`, so memory does not grow with the
number of trials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from othello.world.squares import MAX_MOVES, N_POSITIONS, N_SQUARES
from othello.world.tokens import encode

if TYPE_CHECKING:
    from probes.worldmodel.acceptors import ModelAcceptor

CACHE_BYTES = 512 * 2**20  # one chunk's keys and values
MAX_ROWS = 1024  # rows per chunk for a small model


def chunk_rows(acceptor: ModelAcceptor, per_row: int = 1) -> int:
    """How many rows (each holding ``per_row`` cache rows) one chunk takes."""
    row_bytes = acceptor.model.cache_row_bytes()
    return max(1, min(MAX_ROWS, CACHE_BYTES // row_bytes) // per_row)


def chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class Decoding:
    """Rows read up to their lengths and then fed one move at a time.

    Row ``i`` starts as ``moves[i, :lengths[i]]`` (``lengths >= 1``); rows with equal prefixes
    share one prefill. A row is *live* until the caller ends it or it holds 60 moves; ended rows
    keep stepping (their output unread) until a quarter of the rows have ended, when the cache
    is copied without them.
    """

    def __init__(self, acceptor: ModelAcceptor, moves: np.ndarray, lengths: np.ndarray):
        self.acceptor, self.model = acceptor, acceptor.model
        device = acceptor.device
        read = np.arange(MAX_MOVES)[None, :] < lengths[:, None]
        _, first, inverse = np.unique(
            np.where(read, moves, -2), axis=0, return_index=True, return_inverse=True
        )
        width = min(int(lengths.max()), N_POSITIONS)
        tokens = torch.as_tensor(encode(np.where(read, moves, -1)[first, :width])).to(device)
        cache = self.model.new_cache(len(first), device)
        logits = self.model.prefill(tokens, cache, torch.as_tensor(lengths[first], device=device))
        last = torch.as_tensor(np.minimum(lengths[first], N_POSITIONS) - 1, device=device)
        index = torch.as_tensor(inverse.reshape(-1), device=device)
        self.cache = cache.select(index)
        self.logits = logits[torch.arange(len(first), device=device), last][index]
        self.row = np.arange(len(moves))  # the caller's row held in each cache row
        self.length = lengths.astype(np.int64).copy()  # moves read, per cache row
        self.alive = self.length < MAX_MOVES
        self.last = np.zeros(len(moves), np.int64)  # the move each cache row reads next

    def live(self) -> np.ndarray:
        """The caller's rows still live, in the order of :meth:`weights`."""
        return self.row[self.alive]

    def lengths(self) -> np.ndarray:
        """Moves read so far by each live row."""
        return self.length[self.alive]

    def weights(self) -> np.ndarray:
        """float32 [live, 64]: each live row's weights for its next move."""
        mask = torch.as_tensor(self.alive, device=self.logits.device)
        return self.acceptor.weights_from_logits(self.logits[mask]).cpu().numpy()

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
        if (~self.alive).sum() * 4 >= len(self.alive):
            keep = np.flatnonzero(self.alive)
            self.cache = self.cache.select(torch.as_tensor(keep))
            self.row, self.length = self.row[keep], self.length[keep]
            self.alive, self.last = self.alive[keep], self.last[keep]
        device = self.logits.device
        tokens = torch.as_tensor(encode(np.where(self.alive, self.last, -1)), device=device)
        positions = torch.as_tensor(np.minimum(self.length, MAX_MOVES - 1) - 1, device=device)
        self.logits = self.model.step(tokens, positions, self.cache)


def draw(weights: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One square per row drawn in proportion to ``weights``, and whether the row had any."""
    total = weights.sum(1)
    u = rng.random(len(weights)) * total
    last_accepted = N_SQUARES - 1 - (weights[:, ::-1] > 0).argmax(1)  # for rounding at the top
    square = np.minimum((weights.cumsum(1) <= u[:, None]).sum(1), last_accepted)
    return square, total > 0


def sample(acceptor, moves, lengths, n_samples, rng):
    """``n_samples`` continuations of every row (see :meth:`Acceptor.sample`)."""
    out_moves = np.repeat(moves, n_samples, 0).astype(np.int8)
    out_lengths = np.repeat(lengths, n_samples).astype(np.int64)
    for rows in chunks(len(out_moves), chunk_rows(acceptor) // n_samples * n_samples or n_samples):
        dec = Decoding(acceptor, out_moves[rows], out_lengths[rows])
        while dec.alive.any():
            live = rows.start + dec.live()
            square, drawn = draw(dec.weights(), rng)
            out_moves[live[drawn], out_lengths[live[drawn]]] = square[drawn]
            out_lengths[live[drawn]] += 1
            dec.advance(square, drawn)
    return out_moves, out_lengths


def first_rejected(acceptor, moves, lengths, start) -> np.ndarray:
    """Per row, the first move index in ``start..lengths-1`` the model rejects, or -1."""
    out = np.full(len(moves), -1, np.int64)
    for rows in chunks(len(moves), chunk_rows(acceptor)):
        m, n = moves[rows], lengths[rows]
        dec = Decoding(acceptor, m, start[rows])
        while dec.alive.any():
            live, at = dec.live(), dec.lengths()
            inside = at < n[live]
            square = np.where(inside, m[live, np.minimum(at, MAX_MOVES - 1)], 0).astype(np.int64)
            ok = inside & (dec.weights()[np.arange(len(live)), square] > 0)
            rejected = inside & ~ok
            out[rows.start + live[rejected]] = at[rejected]
            dec.advance(square, ok & (at + 1 < n[live]))
    return out


def next_weights(acceptor, moves, lengths) -> np.ndarray:
    """float32 [B, 64]: the weights of the move after each whole row; rows that differ only in
    their last move (a prefix's one-move extensions) share the rest."""
    out = np.zeros((len(moves), N_SQUARES), np.float32)
    for rows in chunks(len(moves), chunk_rows(acceptor)):
        m, n = moves[rows], lengths[rows]
        shared = np.maximum(n - 1, 1)
        dec = Decoding(acceptor, m, shared)
        live, weights = dec.live(), dec.weights()
        read = shared[live] == n[live]  # a one-move row: its weights are the prefill's
        out[rows.start + live[read]] = weights[read]
        dec.advance(m[live, np.minimum(shared[live], MAX_MOVES - 1)].astype(np.int64), ~read)
        if dec.alive.any():
            out[rows.start + dec.live()] = dec.weights()
    return out


def sample_judged(acceptor, first, second, lengths, n_samples, rng, whole_trial):
    """Continuations sampled after each ``first`` prefix and judged after the ``second`` one
    (both of ``lengths``) in the same steps (see :meth:`Acceptor.sample_judged`)."""
    out_moves = np.repeat(first, n_samples, 0).astype(np.int8)
    out_lengths = np.repeat(lengths, n_samples).astype(np.int64)
    seconds = np.repeat(second, n_samples, 0)
    cut = np.full(len(out_moves), -1, np.int64)
    trial = np.repeat(np.arange(len(first)), n_samples)
    trial_rejected = np.zeros(len(first), bool)
    per_chunk = chunk_rows(acceptor, per_row=2) // n_samples * n_samples or n_samples
    for rows in chunks(len(out_moves), per_chunk):
        sampler = Decoding(acceptor, out_moves[rows], out_lengths[rows])
        judge = Decoding(acceptor, seconds[rows], out_lengths[rows])
        while sampler.alive.any():
            live = rows.start + sampler.live()
            at = out_lengths[live]
            square, drawn = draw(sampler.weights(), rng)
            rejected = drawn & (judge.weights()[np.arange(len(live)), square] == 0)
            out_moves[live[drawn], at[drawn]] = square[drawn]
            out_lengths[live[drawn]] += 1
            cut[live[rejected]] = at[rejected]
            going = drawn & ~rejected
            if whole_trial:
                trial_rejected[trial[live[rejected]]] = True
                going &= ~trial_rejected[trial[live]]
            sampler.advance(square, going)
            judge.advance(square, going)
    return out_moves, out_lengths, cut
