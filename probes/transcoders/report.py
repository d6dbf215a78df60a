"""The transcoder stage in words: report.md's section (a row per MLP layer beside its
random-init control, then every MLP replaced at once) and the lines its script prints."""

from __future__ import annotations

from probes.textcells import percent

COLUMNS = ("MLP layer", "L0", "variance explained", "top-1 legal, this MLP replaced",
           "loss recovered", "dead features", "labelled features (test F1 >= 0.5)",
           "labels by kind (F1 >= 0.5)")  # fmt: skip


def _pair(figures: dict, key: str, fmt=percent) -> str:
    """``model (random init)`` for one figure."""
    control = figures.get("random_init", {}).get(key)
    return fmt(figures[key]) + ("" if control is None else f" ({fmt(control)})")


def _number(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def layer_rows(metrics: dict) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for layer, m in metrics["layers"].items():
        kinds = ", ".join(f"{k} {n}" for k, n in m["labels_by_kind"].items() if n)
        good = f"{m['labels_f1_over_0.5']} of {m['labelled_features']}"
        control = m.get("random_init")
        if control is not None:
            good += f" ({control['labels_f1_over_0.5']} of {control['labelled_features']})"
        lines.append(
            f"| {layer} | {m['l0']:.1f} | {_pair(m, 'variance_explained')} | "
            f"{_pair(m, 'spliced_top1_legal')} (clean {percent(m['top1_legal_clean'])}) | "
            f"{_pair(m, 'loss_recovered', _number)} | {_pair(m, 'dead_features')} | {good} | "
            f"{kinds or '-'} |"
        )
    return lines


def all_layers_line(metrics: dict) -> str:
    a = metrics["all_layers"]
    control = a.get("random_init")
    beside = "" if control is None else (
        f" (the random-init model's own transcoders in it: {percent(control['spliced_top1_legal'])}"
        f" of its {percent(control['top1_legal_clean'])})"
    )  # fmt: skip
    return (
        f"Every MLP replaced at once: top-1 legal {percent(a['spliced_top1_legal'])} (clean "
        f"{percent(a['top1_legal_clean'])}, every MLP zeroed {percent(a['top1_legal_zero'])}), "
        f"loss {a['spliced_loss']:.3f} (clean {a['loss_clean']:.3f}, zeroed "
        f"{a['loss_zero']:.3f}; recovered {_number(a['loss_recovered'])}){beside}."
    )


def section_lines(metrics: dict) -> list[str]:
    s = metrics["settings"]["transcoder"]
    return [
        "## Transcoders: each MLP replaced by a sparse stand-in",
        "",
        f"One {s['architecture']} transcoder per MLP layer ({metrics['d_transcoder']} features, "
        "reading the MLP's normalised input `ln2.hook_normalized`, writing `hook_mlp_out`), "
        f"trained on {metrics['games']['train']} games' positions; every figure on "
        f"{metrics['games']['test']} test games, the random-init model's transcoders in "
        "brackets. A feature's label is the board property (square x empty/mine/theirs, "
        "flipped, legal) it predicts best, chosen on training games, its F1 on test games.",
        "",
        *layer_rows(metrics),
        "",
        all_layers_line(metrics),
        "",
    ]
