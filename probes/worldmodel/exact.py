"""The Myhill-Nerode figures with boundaries enumerated instead of sampled, for continuations
of one and two moves: the engine knows every legal continuation that short, so nothing is left
to chance (Vafa et al. sample 30 continuations per trial; :mod:`.nerode`).

On the same trials as the sampled figures, with every continuation of at most two moves:

* compression: the model accepts after the second prefix every one- and two-move continuation
  it accepts after the first;
* the boundary of a judge (the model for precision, the engine for recall) is every
  continuation of one move it accepts after the first prefix and not after the second, and of
  two moves whose first move it accepts after both and whose second it accepts only after the
  first (the cut-at-first-rejection boundary, restricted to two moves; no element starts
  another, so none is dropped);
* precision is the share of the model's boundary the engine accepts after the first prefix and
  rejects after the second; recall the share of the engine's the model does; an empty
  boundary scores 1, as in theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probes.worldmodel.acceptors import Acceptor
from probes.worldmodel.states import StatePool

DEPTH = 2  # continuations of one and two moves


@dataclass
class Sets:
    """One acceptor's accept sets (bool [.., 64]) after each trial's first and second prefix,
    and after each one-move extension (rows of :class:`Extensions`)."""

    first: np.ndarray
    second: np.ndarray
    first_then: np.ndarray
    second_then: np.ndarray


def _extended(moves: np.ndarray, lengths: np.ndarray, trial: np.ndarray, square: np.ndarray):
    out = moves[trial].copy()
    out[np.arange(len(trial)), lengths[trial]] = square
    return out, lengths[trial] + 1


def accept_sets(acceptors: dict[str, Acceptor], pool: StatePool, first, second):
    """Every acceptor's sets, on the extensions by any square one of them accepts after the
    first prefix; with the (trial, square) of each extension."""
    m1, n1 = pool.prefixes(first)
    m2, n2 = pool.prefixes(second)
    after = {
        name: (a.next_weights(m1, n1) > 0, a.next_weights(m2, n2) > 0)
        for name, a in acceptors.items()
    }
    trial, square = np.nonzero(np.logical_or.reduce([s[0] for s in after.values()]))
    e1, e2 = _extended(m1, n1, trial, square), _extended(m2, n2, trial, square)
    sets = {
        name: Sets(*after[name], a.next_weights(*e1) > 0, a.next_weights(*e2) > 0)
        for name, a in acceptors.items()
    }
    return sets, trial, square


def _boundary_share(judge: Sets, scorer: Sets, trial, square, n: int) -> np.ndarray:
    """Per trial, the share of ``judge``'s boundary that ``scorer`` accepts after the first
    prefix and rejects after the second (1 when the boundary is empty)."""
    one = judge.first & ~judge.second
    hits = (one & scorer.first & ~scorer.second).sum(1).astype(float)
    sizes = one.sum(1).astype(float)
    gate = judge.first[trial, square] & judge.second[trial, square]
    two = (judge.first_then & ~judge.second_then) & gate[:, None]
    first_ok = scorer.first[trial, square][:, None] & scorer.first_then
    second_ok = scorer.second[trial, square][:, None] & scorer.second_then
    hits += np.bincount(trial, (two & first_ok & ~second_ok).sum(1), minlength=n)
    sizes += np.bincount(trial, two.sum(1), minlength=n)
    return np.where(sizes > 0, hits / np.maximum(sizes, 1), 1.0)


def exact_compression(model: Sets, trial, square, n: int) -> np.ndarray:
    """1 per trial when every continuation of one or two moves accepted after the first prefix
    is accepted after the second."""
    ok = ~(model.first & ~model.second).any(1)
    gate = model.first[trial, square]
    broken = ((model.first_then & ~model.second_then).any(1) & gate).astype(float)
    return (ok & (np.bincount(trial, broken, minlength=n) == 0)).astype(float)


def exact_distinction(model: Sets, engine: Sets, trial, square, n: int):
    """Per trial: precision (the model's boundary, scored by the engine) and recall (the
    engine's, scored by the model)."""
    return (
        _boundary_share(model, engine, trial, square, n),
        _boundary_share(engine, model, trial, square, n),
    )
