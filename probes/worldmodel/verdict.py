"""The verdict: one table that sets every world-model test side by side for the model, its
random-init control, the engine and a model that ignores its input, each beside the published
figure where there is one and with what its one choice was made on.

No single row is a world-model score: an input-ignoring model has compression precision 1 and
a perfect distinction precision by the empty-boundary rule, and only its distinction recall
(0) gives it away; a probe can read a board the moves never use. The rows are read together.
"""

from __future__ import annotations

from probes.probe_metrics import ProbeMetrics
from probes.published import NANDA_PROBE_ACCURACY, VAFA_INDUCTIVE_BIAS

TRUE_STATE = "board_and_mover"
# our model kinds -> the row of Vafa et al.'s Table 2 of the same architecture
VAFA_MODELS = {"gpt": "Transformer", "lstm": "LSTM", "mamba": "Mamba"}
COLUMNS = ("model", "random_init", "engine", "input_ignoring")
NERODE_ROWS = (
    ("compression_precision", "compression precision"),
    ("distinction_precision", "distinction precision"),
    ("distinction_recall", "distinction recall"),
)


def _row(
    figure: str, values: dict, chosen_on: str = "", published=None, source: str = "", **more
) -> dict:
    """One row: the figure for each column (None: not measured), what its choice was made on,
    the published figure and its source; ``more``: e.g. the row's own baseline."""
    row = {"figure": figure, **{c: values.get(c) for c in COLUMNS}}
    row.update(chosen_on=chosen_on, published=published, published_source=source, **more)
    return row


def soundness_rows(metrics: dict | None) -> list[dict]:
    """The soundness stage's figures (when it finished first): the headline search's success
    within its largest budget (the model, its random-init control, the engine) and, of the
    model's errors, the share on a wrong board and the share the true-board edit fixes."""
    if not metrics:
        return []
    search = metrics["search"]
    budget = max(int(k) for k in search if k.isdigit())
    attack = search["attack"]
    rate = lambda part: part.get(attack, {}).get(str(budget), {}).get("success_rate")  # noqa: E731
    errors = metrics["errors"]
    return [
        _row(f"{attack} search: an illegal top move within {budget} calls",
             {"model": search[str(budget)]["success_rate"],
              "random_init": rate(metrics.get("random_init") or {}),
              "engine": rate(metrics.get("engine") or {})},
             baseline=search["baseline"]["corpus"]["error_rate"]),
        _row("errors on a wrong board (the probe's board makes the move legal)",
             {"model": _mean(errors["wrong_board_share"])}, "probe layer on val"),
        _row("errors fixed by the true-board edit",
             {"model": _mean(errors["fixed_by_true_board_share"])}, "edit on tune cases",
             baseline=_mean(errors["fixed_by_control_share"])),
    ]  # fmt: skip


def _mean(entry: dict | None) -> float | None:
    return None if entry is None else entry.get("mean")


def probe_rows(probes: ProbeMetrics | None, control: ProbeMetrics | None) -> list[dict]:
    """Mine/theirs linear probe per square and whole board at the layer chosen on validation."""
    if probes is None:
        return []
    values, boards = {}, {}
    for name, m in (("model", probes), ("random_init", control)):
        if m is None:
            continue
        best = m.raw["best"].get("mine_theirs/linear")
        if best is None:
            continue
        values[name] = best["accuracy"]
        board = (m.whole_board or {}).get("mine_theirs", {}).get("linear", {}).get(best["layer"])
        boards[name] = _mean(board)
    published = max(NANDA_PROBE_ACCURACY.values["mine_theirs/linear"]) / 100
    return [
        _row("probe per square (mine/theirs, linear)", values, "layer on val", published,
             NANDA_PROBE_ACCURACY.source),
        _row("probe whole board (mine/theirs, linear)", boards, "layer on val"),
    ]  # fmt: skip


def _nerode(state: dict, definition: str, variant: str | None) -> dict:
    entry = state.get(definition, {})
    return entry.get(variant, {}) if variant else entry


def nerode_rows(result: dict) -> list[dict]:
    """The three Myhill-Nerode figures under the true state and Vafa et al.'s board-only one,
    with boundaries sampled (theirs) and enumerated to two moves."""
    rows = []
    chosen = result.get("accept_rule", {}).get("model", {}).get("chosen_on", "")
    for definition in result.get("state", {}):
        for variant, how in ((None, "sampled"), ("exact_depth_2", "enumerated, 2 moves")):
            for key, label in NERODE_ROWS:
                own = _nerode(result["state"], definition, variant).get(key)
                if own is None:
                    continue
                values = {"model": _mean(own)}
                for name, control in result.get("controls", {}).items():
                    values[name] = _mean(_nerode(control["state"], definition, variant).get(key))
                if result["subject"]["kind"] == "engine":
                    values = {"engine": values.pop("model"), **values}
                rows.append(_row(f"{label} ({definition}, {how})", values, chosen))
    return rows


def verdict_rows(result: dict, probes: ProbeMetrics | None, extra: dict) -> list[dict]:
    """Every row the result has figures for (see the module docstring)."""
    legal = dict(result.get("top1_legal", {}))
    if result["subject"]["kind"] == "engine":
        legal = {"engine": legal.pop("model", None)}
    else:
        legal["engine"] = 1.0
    rows = [_row("top-1 legal", legal)]
    rows += probe_rows(probes, extra.get("control_probes"))
    if extra.get("edit_gap_closed") is not None:
        rows.append(_row("edit: share of the gap closed", {"model": extra["edit_gap_closed"]},
                         "method and layer on tune cases"))  # fmt: skip
    rows += nerode_rows(result)
    rows += soundness_rows(extra.get("soundness"))
    ib = result.get("inductive_bias", {})
    theirs = VAFA_INDUCTIVE_BIAS.values.get(VAFA_MODELS.get(extra.get("kind")), {})
    pretrained = theirs.get("pretrained", (None,) * 4)
    for label, read, published in (
        ("inductive bias R-IB", lambda v: v.get("r_ib"), pretrained[0]),
        ("inductive bias R-IB, pairs ending on different moves",
         lambda v: v.get("r_ib_pairs", {}).get("other_last_move"), None),
        ("inductive bias D-IB", lambda v: v.get("d_ib"), pretrained[2]),
    ):  # fmt: skip
        values = {n: _mean(read(v)) for n, v in ib.items()}
        if any(x is not None for x in values.values()):
            source = VAFA_INDUCTIVE_BIAS.source if published is not None else ""
            rows.append(_row(label, values, published=published, source=source))
    sim = result.get("neuron_simulation")
    if sim:
        for layer, entry in sim["layers"].items():
            rows.append(_row(
                f"neuron simulation KL, layer {layer}", {"model": _mean(entry["simulated"]["kl"])},
                "explained neurons and tree depths on val",
                baseline={"mean_ablation": _mean(entry["mean_ablation"]["kl"]),
                          "shuffled_trees": _mean(entry["shuffled_trees"]["kl"])},
            ))  # fmt: skip
    return rows
