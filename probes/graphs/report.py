"""The report's section "How it computes a move" and the graph script's printed lines."""

from __future__ import annotations

from probes.transcoders.labels import KINDS


def _share(figure: dict) -> str:
    if figure["mean"] is None:
        return "-"
    se = figure["stderr"]
    return f"{100 * figure['mean']:.1f}%" + ("" if se is None else f" ± {100 * se:.1f}")


def headline(metrics: dict) -> str:
    g = metrics["grading"]
    return (
        f"the graph reads the lines that make the move legal: {_share(g['flanking_share'])} of "
        f"the features' influence vs {_share(g['control_share'])} on another legal move's lines, "
        f"{_share(g['shuffled_share'])} with labels shuffled, "
        f"{_share(g['random_init_share'])} in the random-init model "
        f"({g['positions']} held-out positions)"
    )


def layer_table(metrics: dict) -> list[str]:
    g = metrics["grading"]
    rows = ["| layer | on the move's lines | " + " | ".join(KINDS) + " |",
            "|---|---|" + "---|" * len(KINDS)]  # fmt: skip
    for layer, share in g["by_layer"].items():
        kinds = g["by_layer_kind"][layer]
        rows.append(f"| MLP {layer} | {_share(share)} | "
                    + " | ".join(_share(kinds[k]) for k in KINDS) + " |")  # fmt: skip
    return rows


def move_table(metrics: dict) -> list[str]:
    rows = ["| move number | own lines | another move's lines |", "|---|---|---|"]
    for span, figures in metrics["grading"]["by_move_number"].items():
        rows.append(f"| {span} | {_share(figures['flanking_share'])} | "
                    f"{_share(figures['control_share'])} |")  # fmt: skip
    return rows


def scores_line(metrics: dict) -> str:
    g = metrics["grading"]
    return (
        f"replacement score {_share(g['replacement'])}, completeness {_share(g['completeness'])} "
        f"(random init: {_share(g['random_init_replacement'])}, "
        f"{_share(g['random_init_completeness'])}); {metrics['seconds_per_graph']:.2f} s a graph"
    )


def section_lines(metrics: dict) -> list[str]:
    return [
        "## How it computes a move",
        "",
        "Attribution graphs (Ameisen et al. 2025) on the transcoders, one per held-out position "
        "for the model's own top-1 move, graded by the rules: " + headline(metrics) + ".",
        "",
        scores_line(metrics) + ".",
        "",
        "Of the features' influence, the share on the move's squares carried by each layer and "
        "label kind:",
        "",
        *layer_table(metrics),
        "",
        *move_table(metrics),
        "",
    ]
