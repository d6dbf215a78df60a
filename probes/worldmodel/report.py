"""The world-model stage in words: the verdict table and the report section "Is there a world
model?", from the stage's metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

from othello.common.errors import UserError
from othello.common.files import METRICS
from probes.worldmodel.verdict import COLUMNS

HEADERS = ("figure", "model", "random-init", "engine", "input-ignoring", "published", "chosen on")
READING = (
    "No row is a world-model score alone: a model that ignores its input scores compression "
    "precision 1 and distinction precision 1 (an empty boundary counts as right) and only its "
    "distinction recall (0) gives it away; the engine, the perfect world model, scores 1 on all "
    "three. Read the rows together, each against its controls."
)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def verdict_table(result: dict) -> list[str]:
    """Markdown lines of the verdict table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in result["verdict"]:
        cells = [row["figure"], *(_cell(row[c]) for c in COLUMNS)]
        cells += [_cell(row.get("published")), row.get("chosen_on") or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def load_result(folder: str | os.PathLike) -> dict:
    path = Path(folder) / METRICS
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run scripts/world_model.py first")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from None


def section_lines(result: dict) -> list[str]:
    """The report section: the verdict, how to read it, what was not run and why, sources."""
    subject = result["subject"]
    lines = ["## Is there a world model?", ""]
    lines.append(
        f"Tests of {subject['name']} on {result['games']['test_games']:,} held-out games "
        f"(states from their prefixes); seconds: {result['seconds'].get('total')}."
    )
    lines += ["", *verdict_table(result), "", READING, ""]
    rule = result.get("accept_rule", {}).get("model")
    if rule:
        lines.append(
            f"Accept rule: {rule['rule']}, cut {rule.get('cut')} ({rule.get('chosen_on')})."
        )
    for definition, entry in result.get("state", {}).items():
        if entry.get("same_as"):
            lines.append(
                f"The {definition} state groups these games' prefixes exactly as the "
                f"{entry['same_as']} state does (no board is reached with either side to move), "
                "so its figures are those of the same trials."
            )
    for warning in result.get("warnings", []):
        lines.append(f"WARNING: {warning}.")
    for part, why in result.get("not_run", {}).items():
        lines.append(f"Not run: {part}: {why}.")
    published = result.get("published", {})
    for note in published.get("notes", []):
        lines.append(note)
    return lines + inductive_lines(result) + [""]


def inductive_lines(result: dict) -> list[str]:
    """Vafa et al.'s Othello R-IB and D-IB (their Table 2) beside ours, each setting stated."""
    theirs = result.get("published", {}).get("inductive_bias")
    ours = result.get("inductive_bias", {})
    if not theirs or not ours:
        return []
    lines = ["", f"Inductive bias beside {theirs['source']} ({theirs['meaning']}):", "",
             "| model | R-IB | D-IB |", "|---|---|---|"]  # fmt: skip
    for side, v in ours.items():
        lines.append(f"| ours: {side} | {_pm(v.get('r_ib'))} | {_pm(v.get('d_ib'))} |")
    for model, rows in theirs["values"].items():
        for when, (r, r_se, d, d_se) in rows.items():
            lines.append(
                f"| theirs: {model}, {when} | {r:.3f} ± {r_se:.3f} | {d:.3f} ± {d_se:.3f} |"
            )
    s = result.get("settings", {}).get("inductive", {})
    lines += ["", f"Setting, {theirs['setting']}.", (
        f"Ours: this model, {s.get('n_tasks')} tasks of {s.get('train_examples')} examples, "
        f"{s.get('steps')} AdamW steps at {s.get('lr')}, state {s.get('state')}, prefixes of "
        f"{s.get('min_moves')} to {s.get('max_moves')} moves reordered from {s.get('anchors')} "
        "test anchors; standard errors over tasks."
    )]  # fmt: skip
    return lines


def _pm(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    se = entry.get("stderr")
    return f"{entry['mean']:.3f}" + ("" if se is None else f" ± {se:.3f}")
