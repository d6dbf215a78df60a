"""Soundness measured: every search strategy against a subject, the held-out corpus's natural
errors as the other baseline, every error (natural and found) classified by the board behind
it, the true-board edit against its control, and the same edit on right answers.

``metrics.json``'s content (:func:`measure`): ``search`` (per budget, the headline attack's
``success_rate``, ``searches``, ``errors_per_1000_calls``; ``by_strategy``; ``baseline``:
the random-game search and the corpus), ``errors`` (``n``, ``wrong_board_share``,
``fixed_by_true_board_share``, ``fixed_by_control_share``, ``broken_by_true_board_share``,
each share ``{"mean", "stderr", "n"}``; the same by source)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from othello.corpora.corpus import GamesFile
from othello.world.squares import MAX_MOVES
from probes.circuits.positions import choose_rows, read_batch
from probes.failures.behind import classify, controls, edit_fixes, error_entries
from probes.failures.boards import legal_of, sides_of
from probes.failures.search import SearchConfig, proposes_illegal, search
from probes.stage_spec import fewer_than_asked

HEADLINE = "beam"  # the attack whose success rates head the table, fixed before any search


@dataclass
class SoundnessConfig:
    """The searches (:class:`SearchConfig`), how many held-out games give the natural errors
    and the right answers the edit is tried on, the random draws' seed."""

    search: SearchConfig = field(default_factory=SearchConfig)
    held_out_games: int = 300  # test games whose positions give the natural errors
    correct_positions: int = 300
    coherence_trials: int = 200  # compression trials read through the probe (0: none)
    suffix_samples: int = 10  # continuations a trial (the world-model stage: 30)
    seed: int = 0
    target: str | None = None  # the model's training target (None: the run's)
    progress: bool = True


def share(flags) -> dict:
    """A share with its binomial standard error."""
    flags = np.asarray(flags, bool)
    n = len(flags)
    if not n:
        return {"mean": None, "stderr": None, "n": 0}
    p = float(flags.mean())
    return {"mean": p, "stderr": float(np.sqrt(p * (1 - p) / n)), "n": n}


def corpus_positions(subject, games, n_games: int):
    """Every position with a next move of ``n_games`` test games (fewer when the split holds
    fewer): ``(moves, lengths, illegal, proposed, games read)``, a prefix a row."""
    with GamesFile(games) as g:
        batch = read_batch(g, choose_rows(g, "test", n_games, allow_fewer=True))
    rows = [(i, t + 1) for i, n in enumerate(batch.length) for t in range(int(n) - 1)]
    game, length = (np.array(c) for c in zip(*rows, strict=True))
    moves = np.where(np.arange(MAX_MOVES) < length[:, None], batch.moves[game], -1).astype(np.int8)
    illegal, proposed = np.zeros(len(game), bool), np.zeros(len(game), np.int64)
    for start in range(0, len(game), 512):
        part = slice(start, start + 512)
        me, opp = sides_of(moves[part], length[part])
        scores, _ = subject.start(moves[part], length[part], me, opp)
        illegal[part], proposed[part] = proposes_illegal(scores, legal_of(me, opp))
    return moves, length, illegal, proposed, len(batch)


def measure(subject, games, cfg: SoundnessConfig) -> tuple[dict, list[dict]]:
    """``(metrics, errors)`` of ``subject`` (module docstring)."""
    s = cfg.search
    found = {name: search(subject, name, s) for name in s.strategies}
    moves, lengths, illegal, proposed, read = corpus_positions(subject, games, cfg.held_out_games)
    warnings = fewer_than_asked("held-out test games", read, cfg.held_out_games)
    corpus = {"games": read, "positions": int(len(lengths)), "errors": int(illegal.sum()),
              "error_rate": float(illegal.mean()),
              "errors_per_1000_calls": float(1000 * illegal.mean())}  # fmt: skip
    summaries = {name: f.summary(s.budgets) for name, f in found.items()}
    headline = summaries.get(HEADLINE, next(iter(summaries.values()), {}))
    search_part = {str(b): headline[str(b)] for b in s.budgets if str(b) in headline}
    search_part |= {"attack": HEADLINE, "by_strategy": summaries,
                    "baseline": {"random": summaries.get("random"), "corpus": corpus}}  # fmt: skip
    # every error: the corpus's natural ones, then each strategy's
    rows = [
        (moves[i], int(lengths[i]), int(proposed[i]), "natural") for i in np.flatnonzero(illegal)
    ]
    for name, f in found.items():
        rows += [(e["moves"], e["length"], e["proposed"], name) for e in f.errors]
    rng = np.random.default_rng(cfg.seed)
    errors, entries = _errors_part(subject, rows, rng)
    right = np.flatnonzero(~illegal)
    right = rng.choice(right, min(cfg.correct_positions, len(right)), replace=False)
    warnings += fewer_than_asked("right answers edited", len(right), cfg.correct_positions)
    errors["broken_by_true_board_share"] = _broken(subject, moves[right], lengths[right])
    return {"search": search_part, "errors": errors, "warnings": warnings}, entries


def _errors_part(subject, rows: list, rng) -> tuple[dict, list[dict]]:
    if not rows:
        empty = share([])
        return {"n": 0, "wrong_board_share": empty, "fixed_by_true_board_share": empty,
                "fixed_by_control_share": empty, "by_source": {}}, []  # fmt: skip
    moves = np.stack([np.asarray(r[0], np.int8) for r in rows])
    lengths = np.array([r[1] for r in rows], np.int64)
    proposed = np.array([r[2] for r in rows], np.int64)
    source = [r[3] for r in rows]
    found = classify(subject, moves, lengths, proposed)
    found["fixed"] = edit_fixes(subject, moves, lengths, found["truth"], found["differ"])
    mask = controls(found["differ"], rng)
    found["fixed_control"] = edit_fixes(subject, moves, lengths, found["truth"], mask)
    found["source"] = source

    def part(rows_of: np.ndarray) -> dict:
        board = found["wrong_board"][rows_of]
        return {
            "n": int(len(rows_of)),
            "wrong_board_share": share(board),
            "fixed_by_true_board_share": share(found["fixed"][rows_of]),
            "fixed_by_control_share": share(found["fixed_control"][rows_of]),
            "wrong_board_fixed_share": share(found["fixed"][rows_of][board]),
            "missed_flip_share": share(found["missed_flips"][rows_of].any(1)),
        }

    out = part(np.arange(len(lengths)))
    out["by_source"] = {name: part(np.flatnonzero(np.array(source) == name))
                        for name in dict.fromkeys(source)}  # fmt: skip
    return out, error_entries(moves, lengths, proposed, found)


def _broken(subject, moves, lengths) -> dict:
    """Of right answers whose board the subject reads wrong somewhere, the share whose top
    move turns illegal once those squares are set to the truth."""
    found = classify(subject, moves, lengths, np.zeros(len(lengths), np.int64))
    edited = found["differ"].any(1)
    kept = edit_fixes(subject, moves[edited], lengths[edited], found["truth"][edited],
                      found["differ"][edited])  # fmt: skip
    return share(~kept)
