"""Adversarial search for legal game prefixes after which a subject proposes an illegal move
(its top-1), within a budget of model calls (Balogh & Jelasity, ICLR 2026, searched chess
models this way). Every search starts from a random legal prefix and extends it one legal move
at a time; each child position scored is one call (one step through the decoding cache), and
a search ends at its first error or when its budget is spent.

Strategies, each with the same starts:

* ``random``: one random legal child a step (a random legal game from the start, ending
  with the game): the baseline;
* ``greedy``: every legal child scored, the one with the most mass on illegal moves kept
  (the softmax of the subject's scores over the squares, summed over the illegal ones);
* ``beam``: the same, the ``beam`` best children of all the kept positions kept;
* ``probe``: every legal child scored, the one whose board as the subject reads it (its probe)
  differs from the true board on the most squares kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from othello.common.errors import UserError
from othello.world import engine
from othello.world.labels import unpack_bitboards
from othello.world.squares import MAX_MOVES
from probes.failures.boards import board_of, children, legal_of, sides_of

STRATEGIES = ("random", "greedy", "beam", "probe")
CRITERIA = ("top1", "accept")  # an illegal top move; an illegal move the accept rule accepts


@dataclass
class SearchConfig:
    """How many searches of each strategy, their budgets in model calls (every search runs
    to the largest; success within a smaller one is read off the call of its first error),
    the beam's width, the starts' lengths and how many searches step together."""

    searches: int = 1000
    budgets: tuple[int, ...] = (50, 100, 200, 500)
    strategies: tuple[str, ...] = STRATEGIES
    beam: int = 4
    start_moves: tuple[int, int] = (4, 20)  # a start's moves, drawn uniformly in this range
    criterion: str = "top1"  # or "accept": any illegal move the subject's accept rule accepts
    chunk: int = 32  # searches stepped together (their children's cache rows in memory)
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.budgets or min(self.budgets) <= 0:
            raise UserError(f"budgets {self.budgets}: each must be 1 model call or more")
        if self.searches < 1 or self.beam < 1:
            raise UserError("searches and beam must be 1 or more")
        if self.criterion not in CRITERIA:
            raise UserError(f"criterion {self.criterion!r}: choose from {CRITERIA}")
        unknown = set(self.strategies) - set(STRATEGIES)
        if unknown:
            raise UserError(f"strategies {sorted(unknown)}: choose from {STRATEGIES}")


@dataclass
class Found:
    """One strategy's searches: the call of each one's first error (0: none), its calls
    spent, and the errors (``moves`` int8 [60] with ``length``, the ``proposed`` square)."""

    first: np.ndarray
    spent: np.ndarray
    errors: list[dict] = field(default_factory=list)

    def summary(self, budgets: tuple[int, ...]) -> dict:
        """Per budget: the share of searches that found an error within it, and errors per
        1,000 calls spent (each search stopping at its first error or at the budget)."""
        out = {}
        for b in budgets:
            hit = (self.first > 0) & (self.first <= b)
            calls = np.where(hit, self.first, np.minimum(self.spent, b)).sum()
            out[str(b)] = {
                "success_rate": float(hit.mean()),
                "searches": int(len(self.first)),
                "errors_per_1000_calls": float(1000 * hit.sum() / max(calls, 1)),
            }
        found = self.first[self.first > 0]
        out["shortest_prefix"] = min((e["length"] for e in self.errors), default=None)
        out["median_calls_to_error"] = float(np.median(found)) if len(found) else None
        return out


def starts(n: int, span: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random legal prefixes (int8 [n, 60], lengths), each cut from a random game."""
    moves, lengths = np.empty((n, MAX_MOVES), np.int8), np.empty(n, np.int8)
    engine.generate_games(seed + 7919, 0, moves, lengths)
    rng = np.random.default_rng(seed)
    cut = rng.integers(span[0], span[1] + 1, n)
    cut = np.minimum(cut, lengths.astype(np.int64) - 1)
    moves[np.arange(MAX_MOVES)[None, :] >= cut[:, None]] = -1
    return moves, cut.astype(np.int8)


def illegal_mass(scores: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The softmax of ``scores`` [n, 64] summed over the squares not in ``legal`` (uint64)."""
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    p = np.exp(finite - finite.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return (p * ~unpack_bitboards(legal)).sum(1)


def proposes_illegal(
    scores: np.ndarray, legal: np.ndarray, accepted: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(illegal, proposed)``: whether each row's top square is not legal, and that square;
    with ``accepted`` (bool [n, 64], the accept rule's), whether any accepted square is not
    legal, and the highest-scoring such square."""
    if accepted is None:
        top = scores.argmax(1)
        return ~((legal >> top.astype(np.uint64)) & np.uint64(1)).astype(bool), top
    wrong = accepted & ~unpack_bitboards(legal)
    return wrong.any(1), np.where(wrong, scores, -np.inf).argmax(1)


def search(subject, strategy: str, cfg: SearchConfig) -> Found:
    """``cfg.searches`` searches of ``strategy`` against ``subject`` (module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r}: one of {STRATEGIES}")
    moves, lengths = starts(cfg.searches, cfg.start_moves, cfg.seed)
    found = Found(np.zeros(cfg.searches, np.int64), np.zeros(cfg.searches, np.int64))
    rng = np.random.default_rng([cfg.seed, STRATEGIES.index(strategy)])
    bar = tqdm(total=cfg.searches, desc=f"search: {strategy}", disable=not cfg.progress)
    for first in range(0, cfg.searches, cfg.chunk):
        rows = np.arange(first, min(first + cfg.chunk, cfg.searches))
        _chunk(subject, strategy, cfg, moves[rows], lengths[rows], rows, found, rng)
        bar.update(len(rows))
    bar.close()
    return found


def _chunk(subject, strategy, cfg, moves, lengths, ids, found: Found, rng) -> None:
    """Step one chunk of searches (their ids ``ids``) until each errs or spends its budget."""
    budget = max(cfg.budgets)
    width = 1 if strategy in ("random", "greedy", "probe") else cfg.beam
    owner = np.arange(len(ids))  # each frontier row's search, within the chunk
    rows, n = moves.astype(np.int8).copy(), lengths.astype(np.int64).copy()
    me, opp = sides_of(rows, n)
    legal = legal_of(me, opp)
    scores, state = subject.start(rows, n, me, opp)
    spent = np.ones(len(ids), np.int64)
    accepted = subject.last_accepted if cfg.criterion == "accept" else None
    done = _record(found, ids, owner, spent, rows, n, scores, legal, accepted)
    while True:
        live = ~done[owner] & (legal != 0)
        if not live.any():
            break
        parent, square, kme, kopp, klegal = children(me[live], opp[live])
        parent = np.flatnonzero(live)[parent]
        keep = klegal != 0  # a child where the game has ended is not a question
        parent, square, kme, kopp, klegal = (a[keep] for a in (parent, square, kme, kopp, klegal))
        if strategy == "random":
            pick = _one_each(owner[parent], rng)
            parent, square, kme, kopp, klegal = (
                a[pick] for a in (parent, square, kme, kopp, klegal)
            )
        left = budget - spent[owner[parent]]
        order = _rank_within(owner[parent])
        keep = order < left  # a search scores no more children than its budget has left
        parent, square, kme, kopp, klegal = (a[keep] for a in (parent, square, kme, kopp, klegal))
        if not len(parent):
            break
        scores, state = subject.extend(state, parent, square, kme, kopp)
        child_rows = rows[parent].copy()
        child_rows[np.arange(len(parent)), n[parent]] = square
        child_n = n[parent] + 1
        who = owner[parent]
        call = spent[who] + _rank_within(who) + 1
        np.add.at(spent, who, 1)
        accepted = subject.last_accepted if cfg.criterion == "accept" else None
        done |= _record(found, ids, who, call, child_rows, child_n, scores, klegal, accepted)
        value = _value(strategy, subject, scores, klegal, board_of(kme, kopp), rng)
        best = _best_within(who, value, width)
        owner, rows, n, me, opp = who[best], child_rows[best], child_n[best], kme[best], kopp[best]
        legal = klegal[best]
        state = subject.take(state, best)
    found.spent[ids] = spent


def _record(found, ids, who, call, rows, n, scores, legal, accepted) -> np.ndarray:
    """Note each search's first error among these rows; returns which searches have one."""
    illegal, proposed = proposes_illegal(scores, legal, accepted)
    for i in np.flatnonzero(illegal):
        search = ids[who[i]]
        if found.first[search] == 0 or call[i] < found.first[search]:
            found.first[search] = call[i]
            found.errors = [e for e in found.errors if e["search"] != search]
            found.errors.append({"search": int(search), "moves": rows[i].copy(),
                                 "length": int(n[i]), "proposed": int(proposed[i])})  # fmt: skip
    return found.first[ids] > 0


def _value(strategy, subject, scores, legal, truth, rng) -> np.ndarray:
    """How much a search wants each child (``truth``: the children's true boards)."""
    if strategy == "probe":
        return (subject.last_board != truth).sum(1) + rng.random(len(truth)) * 1e-3
    if strategy == "random":
        return rng.random(len(truth))
    return illegal_mass(scores, legal)


def _rank_within(owner: np.ndarray) -> np.ndarray:
    """Each row's rank among the rows of its owner, in order (owners may interleave)."""
    order = np.argsort(owner, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]
    rank = np.empty(len(owner), np.int64)
    rank[order] = np.arange(len(owner)) - np.repeat(starts, np.diff(np.r_[starts, len(owner)]))
    return rank


def _one_each(owner: np.ndarray, rng) -> np.ndarray:
    """One random row of each owner."""
    shuffled = rng.permutation(len(owner))
    return np.sort(shuffled[_rank_within(owner[shuffled]) == 0])


def _best_within(owner: np.ndarray, value: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` rows of highest ``value`` of each owner."""
    order = np.lexsort((-value, owner))
    return np.sort(order[_rank_within(owner[order]) < width])
