"""The questions the Myhill-Nerode tests ask of a model, answered through its decoding cache
(:mod:`.decoding`) instead of a full forward per question, each answer as it was:

* sampling continuations (:func:`sample`) and a prefix's next-move weights
  (:func:`next_weights`: a prefix's one-move extensions share the prefix);
* judging given continuations (:func:`first_rejected`, teacher forcing): a row stops at its
  first rejected move, which is all the tests read (a continuation is accepted when every move
  is; a boundary is cut at the first rejection);
* both at once (:func:`sample_judged`): sampled after one prefix and judged after another in
  the same step, so a continuation is drawn only as far as its judging needs: up to its first
  rejection, and with ``whole_trial`` only until any continuation of its trial is rejected (a
  compression trial then scores 0 whatever the rest would have drawn).

Each takes the model and the acceptor's weights function (``weigh``: logits to next-move
weights), so :class:`~.acceptors.ModelAcceptor` calls these without being imported here.
"""

from __future__ import annotations

import numpy as np

from othello.model.hooked import HookedModel
from othello.world.squares import MAX_MOVES, N_SQUARES
from probes.worldmodel.decoding import Decoding, Queue, Weigh, capacity, chunks, draw


def sample(
    model: HookedModel,
    weigh: Weigh,
    moves: np.ndarray,
    lengths: np.ndarray,
    n_samples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` continuations of every row (see :meth:`Acceptor.sample`)."""
    out_moves = np.repeat(moves, n_samples, 0).astype(np.int8)
    out_lengths = np.repeat(lengths, n_samples).astype(np.int64)
    queue = Queue(len(out_moves), n_samples)
    dec = Decoding(model, weigh, _slots(model, len(out_moves), n_samples))
    while _refill(queue, [(dec, out_moves)], out_lengths):
        live = dec.live()
        square, drawn = draw(dec.weights(), rng)
        out_moves[live[drawn], out_lengths[live[drawn]]] = square[drawn]
        out_lengths[live[drawn]] += 1
        dec.advance(square, drawn)
    return out_moves, out_lengths


def _slots(model: HookedModel, rows: int, unit: int, per_row: int = 1) -> int:
    """A decoding's slots: the capacity (at least one unit), or fewer when there are fewer rows."""
    return min(max(capacity(model, per_row), unit), rows)


def _refill(queue: Queue, feeds: list[tuple[Decoding, np.ndarray]], lengths: np.ndarray) -> bool:
    """Admit waiting rows into the free slots of each decoding (the same rows, each from its
    own moves; a row is admitted before anything is written to it), or shrink the decodings
    once nothing waits; whether any row is live or waiting."""
    rows = queue.take(feeds[0][0].free)
    for dec, moves in feeds:
        if rows is not None:
            dec.admit(moves[rows], lengths[rows], np.arange(rows.start, rows.stop))
        elif queue.empty:
            dec.shrink()
    return feeds[0][0].n_live > 0 or not queue.empty


def first_rejected(
    model: HookedModel, weigh: Weigh, moves: np.ndarray, lengths: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Per row, the first move index in ``start..lengths-1`` the model rejects, or -1."""
    out = np.full(len(moves), -1, np.int64)
    queue = Queue(len(moves), 1)
    dec = Decoding(model, weigh, _slots(model, len(moves), 1))
    while _refill(queue, [(dec, moves)], start):
        live, at = dec.live(), dec.lengths()
        inside = at < lengths[live]
        square = np.where(inside, moves[live, np.minimum(at, MAX_MOVES - 1)], 0).astype(np.int64)
        ok = inside & (dec.weights()[np.arange(len(live)), square] > 0)
        rejected = inside & ~ok
        out[live[rejected]] = at[rejected]
        dec.advance(square, ok & (at + 1 < lengths[live]))
    return out


def next_weights(
    model: HookedModel, weigh: Weigh, moves: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """float32 [B, 64]: the weights of the move after each whole row; rows that differ only in
    their last move (a prefix's one-move extensions) share the rest."""
    out = np.zeros((len(moves), N_SQUARES), np.float32)
    for rows in chunks(len(moves), capacity(model)):
        m, n = moves[rows], lengths[rows]
        shared = np.maximum(n - 1, 1)
        dec = Decoding(model, weigh, len(m), int(n.max()))  # positions up to the last move
        dec.admit(m, shared, np.arange(len(m)))
        live, weights = dec.live(), dec.weights()
        read = shared[live] == n[live]  # a one-move row: its weights are the prefill's
        out[rows.start + live[read]] = weights[read]
        dec.advance(m[live, np.minimum(shared[live], MAX_MOVES - 1)].astype(np.int64), ~read)
        if dec.alive.any():
            out[rows.start + dec.live()] = dec.weights()
    return out


def sample_judged(
    model: HookedModel,
    weigh: Weigh,
    first: np.ndarray,
    second: np.ndarray,
    lengths: np.ndarray,
    n_samples: int,
    rng: np.random.Generator,
    whole_trial: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuations sampled after each ``first`` prefix and judged after the ``second`` one
    (both of ``lengths``) in the same steps (see :meth:`Acceptor.sample_judged`)."""
    out_moves = np.repeat(first, n_samples, 0).astype(np.int8)
    out_lengths = np.repeat(lengths, n_samples).astype(np.int64)
    cut = np.full(len(out_moves), -1, np.int64)
    trial = np.repeat(np.arange(len(first)), n_samples)
    trial_rejected = np.zeros(len(first), bool)
    slots = _slots(model, len(out_moves), n_samples, per_row=2)
    sampler, judge = Decoding(model, weigh, slots), Decoding(model, weigh, slots)
    queue = Queue(len(out_moves), n_samples)
    feeds = [(sampler, out_moves), (judge, np.repeat(second, n_samples, 0))]
    while _refill(queue, feeds, out_lengths):
        live = sampler.live()
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
