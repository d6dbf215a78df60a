"""Myhill-Nerode tests of a world model (Vafa, Chen, Kleinberg, Mullainathan & Rambachan,
NeurIPS 2024; their ``othello_world/test_world_model.py``), batched over every trial.

* **Compression precision**: two different prefixes that reach the same state should accept
  the same continuations. A trial samples ``suffix_samples`` continuations from the model after
  the first prefix and scores 1 when the model accepts every move of every one of them after
  the second prefix, else 0.
* **Distinction precision**: for prefixes of two different states, the model's boundary
  (each continuation sampled after the first prefix, cut at its first move the model rejects
  after the second) should be a true boundary: valid from the first state, invalid from the
  second. The score is the share of its boundary that is; an empty boundary scores 1.
* **Distinction recall**: the true boundary (continuations sampled uniformly from the legal
  moves of the first state, cut at their first move illegal in the second) should be told
  apart by the model: the share of it the model accepts after the first prefix and not after
  the second; an empty true boundary scores 1.

A boundary keeps each cut continuation once and drops one that starts another (their
``get_mn_boundary_from_samples``). A model "accepts" a continuation when it accepts each of its
moves (:mod:`probes.worldmodel.acceptors`). Continuations run until the acceptor accepts nothing
or the game has 60 moves (theirs always run to 60 moves; the engine's end at the game's end),
except that nothing past what decides a score is drawn: a continuation stops at its first
rejection after the second prefix, and a compression trial at its first rejected continuation
(:mod:`probes.worldmodel.decoding`); a score is the same function of the same draws.

Sampling follows theirs: compression draws a state among those with at least two distinct
prefixes, then two of its prefixes; distinction draws a prefix length uniformly in 4..59, then
two states of that length and a prefix of each. One deviation: they draw the two states with
replacement; a pair of equal states has no boundary and scores 1 on both distinction figures
whatever the model, so we draw two different states. Each figure is the mean over (state or
state pair, prefix pair) of the trials' mean, with the standard error of that mean (theirs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from othello.common.errors import UserError
from othello.world.squares import MAX_MOVES
from probes.worldmodel.acceptors import Acceptor
from probes.worldmodel.exact import accept_sets, exact_compression, exact_distinction
from probes.worldmodel.rule_acceptors import EngineAcceptor
from probes.worldmodel.states import StatePool

FIRST_LENGTH = 4  # distinction's prefix lengths: 4..59 (theirs)
BOUNDARY = "sampled: suffix_samples continuations per trial, cut at the first rejected move"
EXACT_BOUNDARY = "enumerated: every continuation of one and two moves"


@dataclass
class NerodeSettings:
    """Vafa et al.'s defaults: 1,000 trials of each test, 30 continuations per trial."""

    trials: int = 1000
    suffix_samples: int = 30
    seed: int = 0
    batch_trials: int = 250  # trials sampled and scored together
    exact: bool = True  # also enumerate every continuation of one and two moves (exact.py)
    progress: bool = True


@dataclass
class Trials:
    """Prefix pairs (indices into a StatePool) and what they are grouped by."""

    first: np.ndarray
    second: np.ndarray
    group: np.ndarray  # int64 [n, 2]: the state (compression: twice) or the state pair


def compression_trials(pool: StatePool, n: int, rng: np.random.Generator) -> Trials:
    """A state with at least two distinct prefixes, then two of them, ``n`` times."""
    groups = [g for g in pool.by_state() if len(g) > 1]
    if not groups:
        raise UserError("no state is reached by two different prefixes; sample more games")
    pick = rng.integers(len(groups), size=n)
    first, second = np.empty(n, np.int64), np.empty(n, np.int64)
    for k, g in enumerate(pick):
        i, j = rng.choice(len(groups[g]), 2, replace=False)
        first[k], second[k] = groups[g][i], groups[g][j]
    state = pool.state[first]
    return Trials(first, second, np.stack([state, state], 1))


def distinction_trials(pool: StatePool, n: int, rng: np.random.Generator) -> Trials:
    """A prefix length in 4..59, two different states of that length, a prefix of each."""
    by_state = pool.by_state()
    state_length = np.array([pool.prefix_length[g[0]] for g in by_state])
    lengths = [L for L in range(FIRST_LENGTH, MAX_MOVES) if (state_length == L).sum() > 1]
    if not lengths:
        raise UserError("no prefix length has two different states; sample more games")
    states_of = {L: np.flatnonzero(state_length == L) for L in lengths}
    first, second = np.empty(n, np.int64), np.empty(n, np.int64)
    pairs = np.empty((n, 2), np.int64)
    for k in range(n):
        s1, s2 = rng.choice(states_of[lengths[rng.integers(len(lengths))]], 2, replace=False)
        first[k] = by_state[s1][rng.integers(len(by_state[s1]))]
        second[k] = by_state[s2][rng.integers(len(by_state[s2]))]
        pairs[k] = s1, s2
    return Trials(first, second, pairs)


def boundary(suffixes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Distinct cut continuations, less those that begin another one (theirs)."""
    unique = set(suffixes)
    return [s for s in unique if not any(o != s and o[: len(s)] == s for o in unique)]


class NerodeTest:
    """The three figures for one acceptor over one state pool's trials."""

    def __init__(self, acceptor: Acceptor, pool: StatePool, settings: NerodeSettings):
        self.acceptor, self.pool, self.settings = acceptor, pool, settings
        self.engine = EngineAcceptor()

    def _batches(self, trials: Trials, what: str):
        size = self.settings.batch_trials
        starts = range(0, len(trials.first), size)
        for s in tqdm(starts, desc=what, disable=not self.settings.progress, leave=False):
            yield slice(s, s + size)

    def _judged(self, sampler: Acceptor, trials: Trials, b: slice, rng, whole_trial: bool):
        """Continuations sampled after each trial's first prefix and judged by ``sampler``
        after its second: moves, the prefix length of each, the first rejected move (-1)."""
        first, lengths = self.pool.prefixes(trials.first[b])
        second, second_lengths = self.pool.prefixes(trials.second[b])
        if not np.array_equal(lengths, second_lengths):
            raise ValueError("a trial's two prefixes must have the same length")
        s = self.settings.suffix_samples
        sampled, _, cut = sampler.sample_judged(first, second, lengths, s, rng, whole_trial)
        return sampled, np.repeat(lengths, s), cut

    def compression(self, trials: Trials, rng) -> np.ndarray:
        """float [n]: 1 when every continuation after the first prefix is accepted after the
        second."""
        scores = []
        for b in self._batches(trials, "compression"):
            _, _, cut = self._judged(self.acceptor, trials, b, rng, whole_trial=True)
            scores.append((cut < 0).reshape(-1, self.settings.suffix_samples).all(1))
        return np.concatenate(scores).astype(float)

    def _cut(self, sampler: Acceptor, trials: Trials, b: slice, rng):
        """Each trial's boundary: continuations sampled after the first prefix, cut at their
        first move ``sampler`` rejects after the second."""
        sampled, start, cut = self._judged(sampler, trials, b, rng, whole_trial=False)
        s = self.settings.suffix_samples
        per_trial = []
        for k in range(len(cut) // s):
            span = range(k * s, (k + 1) * s)
            cuts = [tuple(sampled[r, start[r] : cut[r] + 1]) for r in span if cut[r] >= 0]
            per_trial.append(boundary(cuts))
        return per_trial

    def _on(self, index: np.ndarray, suffixes: list[tuple[int, ...]], judge: Acceptor):
        """Whether ``judge`` accepts each continuation in full after prefix ``index[i]``."""
        moves, start = self.pool.prefixes(index)
        for r, s in enumerate(suffixes):
            moves[r, start[r] : start[r] + len(s)] = s
        n = start + np.array([len(s) for s in suffixes], np.int64)
        return judge.first_rejected(moves, n, start) < 0

    def _share(self, trial_boundaries, trials: Trials, b: slice, judge: Acceptor) -> np.ndarray:
        """Per trial, the share of its boundary ``judge`` accepts after the first prefix and
        rejects after the second (1 for an empty boundary)."""
        flat = [s for bound in trial_boundaries for s in bound]
        owner = np.repeat(np.arange(len(trial_boundaries)), [len(x) for x in trial_boundaries])
        if not flat:
            return np.ones(len(trial_boundaries))
        told = self._on(trials.first[b][owner], flat, judge)
        told &= ~self._on(trials.second[b][owner], flat, judge)
        hits = np.bincount(owner, told, minlength=len(trial_boundaries))
        sizes = np.bincount(owner, minlength=len(trial_boundaries))
        return np.where(sizes > 0, hits / np.maximum(sizes, 1), 1.0)

    def distinction(self, trials: Trials, rng) -> tuple[np.ndarray, np.ndarray]:
        """float [n] precision and recall per trial."""
        precision, recall = [], []
        for b in self._batches(trials, "distinction"):
            model_bound = self._cut(self.acceptor, trials, b, rng)
            precision.append(self._share(model_bound, trials, b, self.engine))
            true_bound = self._cut(self.engine, trials, b, rng)
            recall.append(self._share(true_bound, trials, b, self.acceptor))
        return np.concatenate(precision), np.concatenate(recall)


def grouped_mean(scores: np.ndarray, trials: Trials) -> dict:
    """Mean over (state group, prefix pair) of the trials' mean, its standard error (theirs:
    std / sqrt(n)), the trials and the groups."""
    keys = np.column_stack([trials.group, trials.first, trials.second])
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    means = np.bincount(inverse, scores) / np.bincount(inverse)
    return {
        "mean": round(float(means.mean()), 6),
        "stderr": round(float(means.std() / np.sqrt(len(means))), 6),
        "trials": int(len(scores)),
        "groups": int(len(means)),
    }


def exact_scores(acceptor: Acceptor, pool: StatePool, comp: Trials, dist: Trials, size: int):
    """The three figures on the same trials with boundaries of one and two moves enumerated
    (:mod:`probes.worldmodel.exact`)."""
    judges = {"model": acceptor, "engine": EngineAcceptor()}
    comp_scores, precision, recall = [], [], []
    for start in range(0, len(comp.first), size):
        b = slice(start, start + size)
        sets, trial, square = accept_sets({"model": acceptor}, pool, comp.first[b], comp.second[b])
        comp_scores.append(exact_compression(sets["model"], trial, square, len(comp.first[b])))
    for start in range(0, len(dist.first), size):
        b = slice(start, start + size)
        sets, trial, square = accept_sets(judges, pool, dist.first[b], dist.second[b])
        p, r = exact_distinction(sets["model"], sets["engine"], trial, square, len(dist.first[b]))
        precision.append(p)
        recall.append(r)
    return {
        "compression_precision": grouped_mean(np.concatenate(comp_scores), comp),
        "distinction_precision": grouped_mean(np.concatenate(precision), dist),
        "distinction_recall": grouped_mean(np.concatenate(recall), dist),
    }


def nerode_scores(acceptor: Acceptor, pool: StatePool, settings: NerodeSettings) -> dict:
    """Compression precision, distinction precision and recall of ``acceptor`` on ``pool``:
    boundaries sampled as Vafa et al. do and, with ``settings.exact``, the same trials with
    every continuation of one and two moves enumerated (under ``exact_depth_2``)."""
    rng = np.random.default_rng(settings.seed)
    test = NerodeTest(acceptor, pool, settings)
    comp = compression_trials(pool, settings.trials, rng)
    dist = distinction_trials(pool, settings.trials, rng)
    precision, recall = test.distinction(dist, rng)
    result = {
        "compression_precision": grouped_mean(test.compression(comp, rng), comp),
        "distinction_precision": grouped_mean(precision, dist),
        "distinction_recall": grouped_mean(recall, dist),
        "boundary": BOUNDARY,
        "settings": asdict(settings),
    }
    if settings.exact:
        result["exact_depth_2"] = exact_scores(acceptor, pool, comp, dist, settings.batch_trials)
        result["exact_depth_2"]["boundary"] = EXACT_BOUNDARY
    return result
