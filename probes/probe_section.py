"""The probe stage in the report: its part of summary.json, its report.md section and its rows
in ``make compare``'s table."""

from __future__ import annotations

from probes.probe_metrics import ProbeMetrics
from probes.published import TORRES_BOARD_ACCURACY


def probe_summary(probes: ProbeMetrics, control: ProbeMetrics | None) -> dict:
    """The probes' part of the summary: test and validation accuracy by layer, test
    whole-board accuracy by layer (None for probes fitted before it was counted), the layers
    chosen on validation, the baselines and the random-init control."""
    schemes = [
        s for s in ("mine_theirs", "black_white", "flipped", "legal") if s in probes.accuracy
    ]
    return {
        "layers": list(probes.layers),
        "accuracy": {s: probes.accuracy[s] for s in schemes},
        "val_accuracy": {s: probes.val_accuracy[s] for s in schemes},
        "best": {str(k): vars(v) for k, v in probes.best.items()},
        "baselines": probes.baselines,
        "control": {s: control.accuracy[s] for s in schemes if s in control.accuracy}
        if control
        else {},
        "control_best": {str(k): vars(v) for k, v in control.best.items()} if control else {},
        "whole_board": _schemes(probes.whole_board, schemes),
        "control_whole_board": _schemes(control.whole_board, schemes) if control else None,
        "train_games": probes.sizes["train"],
        "val_games": probes.sizes["val"],
        "test_games": probes.sizes["test"],
        "warnings": probes.warnings,
    }


def _schemes(table: dict | None, schemes: list[str]) -> dict | None:
    return None if table is None else {s: table[s] for s in schemes if s in table}


def probe_section(probes: dict) -> list[str]:
    """report.md's probe section: test accuracy per scheme, kind and layer beside the
    control, the baselines and the whole-board table."""
    layers = probes["layers"]
    lines = [
        f"## Probes (test accuracy per square; {probes['train_games']:,} training, "
        f"{probes['val_games']:,} validation and {probes['test_games']:,} test games)",
        "",
        "Each probe's best layer (**bold**) is chosen on the validation games; its test "
        "accuracy is what the checks use.",
        "",
        "| scheme | kind | " + " | ".join(f"layer {x}" for x in layers) + " | control (layer) |",
        "|---|---|" + "---|" * (len(layers) + 1),
    ]
    for scheme, kinds in probes["accuracy"].items():
        for kind, by_layer in kinds.items():
            best = probes["best"][f"{scheme}/{kind}"]["layer"]
            control = probes["control_best"].get(f"{scheme}/{kind}")
            control_text = (
                f"{100 * control['accuracy']:.2f} ({control['layer']})" if control else "-"
            )
            values = " | ".join(
                f"**{100 * by_layer[x]:.2f}**" if x == best else f"{100 * by_layer[x]:.2f}"
                for x in layers
            )
            lines.append(f"| {scheme} | {kind} | {values} | {control_text} |")
    base = probes["baselines"]["mine_theirs"]
    lines += [
        "",
        "Baselines (mine/theirs): chance {:.1f}%, majority {:.2f}%, majority by move "
        "{:.2f}%.".format(*(100 * base[k] for k in ("chance", "majority", "majority_by_move")))
        + (
            " Placed-by rule (each disc the colour of whoever played it, no flips tracked): "
            f"{100 * base['placed_by']:.2f}%."
            if "placed_by" in base
            else ""
        ),
    ]
    return lines + _whole_board_lines(probes) + [f"- WARNING: {w}" for w in probes["warnings"]]


def _percent_se(mean: float | None, se: float | None) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.1f}" + ("" if se is None else f" ± {100 * se:.1f}")


def _whole_board_lines(probes: dict) -> list[str]:
    """Whole-board accuracy by layer beside the per-square table: the share of test
    positions whose 64 squares the probe reads all right, and the control's at its layer."""
    table = probes.get("whole_board")
    if table is None:
        return ["", "Whole-board accuracy: not in these probes' metrics.json (fitted before it "
                "was counted); refit them to see it."]  # fmt: skip
    layers = probes["layers"]
    torres = TORRES_BOARD_ACCURACY.values["Transformer 11M"]
    lines = [
        "",
        "Whole-board accuracy (% of test positions whose 64 squares the probe reads all right; "
        "± standard error over games at the best layer and for the control): per-square "
        "accuracy hides how rarely the whole board is right. For scale, Torres's othello_mamba "
        f"reports {torres['board']}% of whole boards at {torres['cell']}% per cell for an 11M "
        "transformer.",
        "",
        "| scheme | kind | " + " | ".join(f"layer {x}" for x in layers) + " | control (layer) |",
        "|---|---|" + "---|" * (len(layers) + 1),
    ]
    for scheme, kinds in table.items():
        for kind, by_layer in kinds.items():
            best = probes["best"][f"{scheme}/{kind}"]["layer"]
            control = probes["control_best"].get(f"{scheme}/{kind}")
            control_text = (
                f"{_percent_se(control.get('whole_board'), control.get('whole_board_stderr'))} "
                f"({control['layer']})"
                if control
                else "-"
            )
            values = " | ".join(
                f"**{_percent_se(by_layer[x]['mean'], by_layer[x]['stderr'])}**"
                if x == best
                else _percent_se(by_layer[x]["mean"], None)
                for x in layers
            )
            lines.append(f"| {scheme} | {kind} | {values} | {control_text} |")
    return lines


def compare_rows(probes: dict) -> dict[str, dict]:
    """The mine/theirs linear probe at its layer chosen on validation, per square and whole
    board, for the model and its control."""
    sides = {"model": probes["best"], "random_init": probes["control_best"]}
    best = {side: table.get("mine_theirs/linear") or {} for side, table in sides.items()}
    return {
        "probe per square, mine/theirs linear (layer on val)": {
            side: b.get("accuracy") for side, b in best.items()
        },
        "probe whole board, same layer": {side: b.get("whole_board") for side, b in best.items()},
    }


def compare_series(probes: dict) -> dict[str, dict]:
    """The mine/theirs linear probe's test accuracy by layer, per square and whole board,
    for the model and its control."""

    def whole(table: dict | None) -> dict | None:
        by_layer = (table or {}).get("mine_theirs", {}).get("linear")
        return None if by_layer is None else {k: v["mean"] for k, v in by_layer.items()}

    return {
        "mine/theirs linear probe per square": {
            "model": probes["accuracy"]["mine_theirs"]["linear"],
            "random_init": probes["control"].get("mine_theirs", {}).get("linear"),
        },
        "mine/theirs linear probe whole board": {
            "model": whole(probes["whole_board"]),
            "random_init": whole(probes["control_whole_board"]),
        },
    }
