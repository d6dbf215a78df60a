"""The report's section "How it computes a move" and the graph script's printed lines."""

from __future__ import annotations

from probes.textcells import percent_se
from probes.transcoders.labels import KINDS


def _cells(grading: dict) -> dict:
    """The grading's shares as text cells (``19.0% ± 0.7``), its counts as they are."""
    return {k: percent_se(v) if isinstance(v, dict) else v for k, v in grading.items()}


def headline(metrics: dict) -> str:
    g = _cells(metrics["grading"])
    return (
        f"the graph reads the lines that make the move legal: {g['flanking_share']} of the "
        f"features' influence vs {g['control_share']} on another legal move's lines, "
        f"{g['shuffled_share']} with labels shuffled, {g['random_init_share']} in the "
        f"random-init model ({g['positions']} held-out positions)"
    )


def layer_table(metrics: dict) -> list[str]:
    g = metrics["grading"]
    rows = ["| layer | on the move's lines | " + " | ".join(KINDS) + " |",
            "|---|---|" + "---|" * len(KINDS)]  # fmt: skip
    for layer, share in g["by_layer"].items():
        kinds = g["by_layer_kind"][layer]
        rows.append(f"| MLP {layer} | {percent_se(share)} | "
                    + " | ".join(percent_se(kinds[k]) for k in KINDS) + " |")  # fmt: skip
    return rows


def move_table(metrics: dict) -> list[str]:
    rows = ["| move number | own lines | another move's lines |", "|---|---|---|"]
    for span, figures in metrics["grading"]["by_move_number"].items():
        rows.append(f"| {span} | {percent_se(figures['flanking_share'])} | "
                    f"{percent_se(figures['control_share'])} |")  # fmt: skip
    return rows


def scores_line(metrics: dict) -> str:
    g = _cells(metrics["grading"])
    return (
        f"replacement score {g['replacement']}, completeness {g['completeness']} (random init: "
        f"{g['random_init_replacement']}, {g['random_init_completeness']}); "
        f"{metrics['seconds_per_graph']:.2f} s a graph"
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
        *[f"- WARNING: {w}" for w in metrics.get("warnings", [])],
    ]
