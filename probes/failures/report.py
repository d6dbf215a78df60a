"""The report's section "Where it fails" and the soundness script's printed lines."""

from __future__ import annotations

from probes.textcells import percent_se


def search_table(metrics: dict) -> list[str]:
    """Success within each budget, by strategy, beside the random-init model and the engine."""
    s = metrics["search"]
    budgets = [k for k in s["by_strategy"][next(iter(s["by_strategy"]))] if k.isdigit()]
    rows = ["| subject | search | " + " | ".join(f"within {b} calls" for b in budgets)
            + " | errors per 1,000 calls (largest budget) |",
            "|---|---|" + "---|" * (len(budgets) + 1)]  # fmt: skip
    subjects = [("model", s["by_strategy"]), ("random-init", metrics.get("random_init") or {}),
                ("engine", metrics.get("engine") or {})]  # fmt: skip
    for who, strategies in subjects:
        for name, summary in strategies.items():
            cells = [f"{100 * summary[b]['success_rate']:.1f}%" for b in budgets]
            rate = summary[budgets[-1]]["errors_per_1000_calls"]
            rows.append(f"| {who} | {name} | " + " | ".join(cells) + f" | {rate:.2f} |")
    corpus = s["baseline"]["corpus"]
    rows.append(f"| model | held-out corpus | {corpus['errors']} errors in {corpus['positions']:,} "
                f"positions |" + " |" * (len(budgets) - 1)
                + f" {corpus['errors_per_1000_calls']:.2f} |")  # fmt: skip
    return rows


def errors_lines(metrics: dict) -> list[str]:
    e = metrics["errors"]
    lines = [
        f"{e['n']} errors (natural and found): the probe's board makes the proposed move legal "
        f"(wrong board) in {percent_se(e['wrong_board_share'])}; setting the model's board to the "
        f"truth where the probe reads it wrong fixes {percent_se(e['fixed_by_true_board_share'])} "
        f"(as many random other squares: {percent_se(e['fixed_by_control_share'])}); the same edit "
        f"at right answers breaks {percent_se(e['broken_by_true_board_share'])}.",
        "",
        "| errors from | n | wrong board | fixed by the true board | by the control edit | "
        "a missed flip among the wrong squares |",
        "|---|---|---|---|---|---|",
    ]
    for source, part in e.get("by_source", {}).items():
        lines.append(f"| {source} | {part['n']} | {percent_se(part['wrong_board_share'])} | "
                     f"{percent_se(part['fixed_by_true_board_share'])} | "
                     f"{percent_se(part['fixed_by_control_share'])} | "
                     f"{percent_se(part['missed_flip_share'])} |")  # fmt: skip
    return lines


def coherence_line(metrics: dict) -> list[str]:
    c = metrics.get("coherence")
    if not c:
        return []
    return ["", f"Compression trials ({c['trials']}, {c['suffix_samples']} continuations each, "
            f"the accept rule {c['accept_rule']['rule']}): {c['failed']} failed; of those, the "
            f"probe reads the two prefixes' boards differently (two states held) in "
            f"{percent_se(c['two_states_share'])}, alike (one state read two ways) in "
            f"{percent_se(c['one_state_two_readings_share'])}; passed trials read differently: "
            f"{percent_se(c['passed_read_differently_share'])}."]  # fmt: skip


def accept_line(metrics: dict) -> list[str]:
    a = metrics.get("search_accept")
    if not a:
        return []
    budgets = sorted(int(k) for k in next(v for k, v in a.items() if k != "accept_rule")
                     if k.isdigit())  # fmt: skip
    parts = [f"{name} {100 * s[str(budgets[-1])]['success_rate']:.1f}%"
             for name, s in a.items() if name != "accept_rule"]  # fmt: skip
    return ["", f"Second criterion, any illegal move the accept rule ({a['accept_rule']['rule']}, "
            f"cut {a['accept_rule']['cut']}) accepts: within {budgets[-1]} calls "
            + ", ".join(parts) + "."]  # fmt: skip


def summary_lines(metrics: dict) -> list[str]:
    warnings = [f"WARNING: {w}" for w in metrics.get("warnings", [])]
    return [*search_table(metrics), *accept_line(metrics), "", *errors_lines(metrics),
            *coherence_line(metrics), *warnings]  # fmt: skip


def section_lines(metrics: dict) -> list[str]:
    b = metrics["board"]
    return [
        "## Where it fails",
        "",
        "Searches for legal game prefixes after which the model's top move is illegal, each "
        "from a random legal start, within a budget of model calls (one call: one position "
        "scored through the decoding cache), beside random legal games and the held-out "
        "corpus's natural error rate; the engine as a model is the known answer (never "
        f"fails). The board behind each error is the mine/theirs probe at {b['hook']} (chosen "
        f"on {b['chosen_on']}); the edit is {metrics['edit']['method']} from layer "
        f"{metrics['edit']['layer']} (chosen on {metrics['edit']['chosen_on']}).",
        "",
        *summary_lines(metrics),
        "",
    ]
