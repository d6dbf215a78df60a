"""The dynamics in words: the report section "How the world model forms" and, across kinds,
which forms the board first."""

from __future__ import annotations

import numpy as np

PHASE_COLUMNS = ("measure", "step 0", "end", "50% at step [interval]", "90% at step",
                 "largest share between two snapshots", "rise")  # fmt: skip
BOARD = "probe_mine_theirs"  # "the board": the mine/theirs linear probe


def _step(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _interval(pair) -> str:
    return "" if not pair else f" [{pair[0]:,.0f}, {pair[1]:,.0f}]"


def phase_rows(phases: dict) -> list[str]:
    lines = ["| " + " | ".join(PHASE_COLUMNS) + " |", "|" + "---|" * len(PHASE_COLUMNS)]
    for name, p in phases.items():
        share = p.get("sudden_share")
        kind = "-" if share is None else f"{share:.2f} ({'sudden' if p['sudden'] else 'gradual'})"
        lines.append(
            f"| {name} | {p['start']:.3f} | {p['end']:.3f} | {_step(p['half_step'])}"
            f"{_interval(p.get('half_interval'))} | {_step(p['ninety_step'])} | {kind} | "
            f"{p['rise']:+.3f} |"
        )
    return lines


def order_line(order: list[dict]) -> str:
    """The capacities in the order they reach half their rise; ``<`` where the intervals
    tell two neighbours apart, ``~`` where they overlap."""
    if not order:
        return "No measure rose beyond its noise: no order to tell."
    text = order[0]["measure"]
    for prev, item in zip(order, order[1:], strict=False):
        text += (" < " if prev["apart_from_next"] else " ~ ") + item["measure"]
    told = any(o["apart_from_next"] for o in order)
    verdict = "" if told else " No two neighbours can be told apart at this size."
    return f"Order (by the step at 50% of each rise; < told apart, ~ not): {text}.{verdict}"


def section_lines(part: dict) -> list[str]:
    snapshots = part["snapshots"]
    steps = [s["step"] for s in snapshots]
    lines = [
        "## How the world model forms",
        "",
        f"{len(snapshots)} snapshots of {part.get('run')} (steps {steps[0]:,} to {steps[-1]:,};"
        " step 0 is the initialisation, the random-init control), every measure on the same "
        "held-out games at each, every choice on the same validation games. Intervals: 90% "
        "of resamples (of games where each game's figures are kept, else of each snapshot's "
        "standard error).",
        "",
        *(f"WARNING: {w}" for w in part.get("warnings", [])),
        *phase_rows(part["phases"]),
        "",
        order_line(part["order"]),
    ]
    return lines + [""]


def first_board(parts: dict[str, dict]) -> tuple[str, list[str]]:
    """Which kind's board (the mine/theirs probe) reaches half its rise first, in tokens and
    in training seconds, and each kind's figures."""
    lines, reached = [], {}
    for kind, part in parts.items():
        p = part["phases"].get(BOARD, {})
        half = p.get("half_step")
        snap = {s["step"]: s for s in part["snapshots"]}
        steps = sorted(snap)
        if half is None:
            lines.append(f"- {kind}: the board does not rise beyond its noise")
            continue
        tokens = _between(steps, [snap[s].get("tokens") for s in steps], half)
        seconds = _between(steps, [snap[s].get("training_seconds") for s in steps], half)
        reached[kind] = (tokens, seconds)
        lines.append(f"- {kind}: step {half:,.0f}, {_num(tokens)} tokens, {_num(seconds)} s")
    if not reached:
        return "no kind's board rises", lines
    by_tokens = min(reached, key=lambda k: reached[k][0] or float("inf"))
    by_seconds = min(reached, key=lambda k: reached[k][1] or float("inf"))
    return f"first in tokens: {by_tokens}; first in training seconds: {by_seconds}", lines


def _between(steps: list[int], values: list, at: float) -> float | None:
    if any(v is None for v in values):
        return None
    return float(np.interp(at, steps, values))


def _num(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def compare_lines(parts: dict[str, dict]) -> list[str]:
    if not parts:
        return []
    verdict, lines = first_board(parts)
    return ["", f"When the board forms (the mine/theirs probe's 50% step): {verdict}.", "", *lines]
