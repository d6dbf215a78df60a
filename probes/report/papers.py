"""The report beside the papers, row by row: for a model of the published depth, every layer's
probe accuracy beside the published per-layer tables (Nanda et al.'s Table 1, Hazineh et
al.'s report's Table 1 and Li et al.'s Tables 1-2 for the synthetic model; Li et al.'s
championship rows for the championship model, analysed on championship games), its legal-move
error beside Li et al.'s, and on synthetic games the flip intervention beside Nanda et al.'s
and Li et al.'s. Each row says whether it reproduces, within a tolerance stated here. A model
of another depth has no layer-by-layer counterpart (its layer k is not theirs), so it gets
the reproduction checks alone."""

from __future__ import annotations

from probes.published import (
    HAZINEH_PROBE_ACCURACY,
    LI_INTERVENTIONS,
    LI_LEGAL,
    LI_PROBE_TABLES,
    NANDA_INTERVENTIONS,
    NANDA_PROBE_ACCURACY,
)

LAYER_TOLERANCE = 0.015  # a probe row reproduces within 1.5 points of the published accuracy
ERROR_TOLERANCE = 0.25  # an intervention row within 0.25 mean top-N errors of the published
LEGAL_TOLERANCE = 0.01  # the top-1 legal error within 1 point
DEPTH = 8  # the published models' layers


def corpus_of(summary: dict) -> str:
    """``championship`` for a published model analysed on championship games, else
    ``synthetic``."""
    hub = (summary.get("imported") or {}).get("hub") or {}
    return "championship" if hub.get("corpus") == "championship" else "synthetic"


def published_tables(corpus: str) -> list[tuple[str, dict[str, list[float]]]]:
    """(source, {scheme/kind: accuracy per layer 1..8}) of every per-layer table that applies
    to a model trained and analysed on ``corpus``."""
    li = {k: [1 - e / 100 for e in v] for k, v in LI_PROBE_TABLES.values[corpus].items()}
    if corpus == "championship":
        return [("Li et al. (championship model)", li)]
    nanda, hazineh = (
        {k: [a / 100 for a in v] for k, v in table.values.items()}
        for table in (NANDA_PROBE_ACCURACY, HAZINEH_PROBE_ACCURACY)
    )
    return [
        ("Nanda et al.", nanda),
        ("Hazineh et al. (the authors' report)", hazineh),
        ("Li et al. (synthetic model)", li),
    ]


def probe_rows(summary: dict, corpus: str) -> list[dict]:
    """One row per published probe, source and layer: ours (test accuracy), theirs, whether
    it reproduces."""
    rows = []
    accuracy = summary["probes"]["accuracy"]
    for source, table in published_tables(corpus):
        for key, values in table.items():
            scheme, kind = key.split("/")
            ours = accuracy.get(scheme, {}).get(kind)
            for layer, published in enumerate(values, start=1):
                row = {"probe": key, "source": source, "layer": layer, "published": published}
                row["ours"] = ours.get(str(layer)) if ours else None
                rows.append(_verdict(row, LAYER_TOLERANCE))
    return rows


def legal_row(summary: dict, corpus: str) -> dict:
    key = "championship top1_error" if corpus == "championship" else "top1_error"
    row = {"ours": summary["eval"]["top1_error_rate"], "published": LI_LEGAL.values[key] / 100}
    return _verdict(row, LEGAL_TOLERANCE)


def intervention_rows(summary: dict) -> list[dict]:
    """The unedited model's errors and each edit's, on natural (and unnatural) cases, at the
    settings and start layers chosen on the tuning cases, beside the published figures (all
    of them for the synthetic model)."""
    inter = summary["interventions"]
    null, by_method = inter["null"], inter["choice"]["by_method"]
    nanda, li = NANDA_INTERVENTIONS.values, LI_INTERVENTIONS.values
    wanted = [
        ("unedited", "natural", None, nanda["null"], "Nanda et al."),
        ("unedited", "natural", None, li["natural"]["null"], "Li et al."),
        ("unedited", "unnatural", None, li["unnatural"]["null"], "Li et al."),
        ("linear edit", "natural", "linear", nanda["linear"], "Nanda et al."),
        ("gradient edit", "natural", "gradient", nanda["nonlinear"], "Nanda et al."),
        ("gradient edit", "natural", "gradient", li["natural"]["edited"], "Li et al."),
        ("gradient edit", "unnatural", "gradient", li["unnatural"]["edited"], "Li et al."),
    ]
    rows = []
    for what, cases, method, published, source in wanted:
        if method is None:
            ours = null[cases]["errors_vs_edited"] if cases in null else None
            setting = "-"
        else:
            chosen = by_method.get(method, {})
            ours = chosen.get(cases, {}).get("errors_vs_edited")
            found = ours is not None
            setting = f"layer {chosen['start_layer']}, {chosen[cases]['setting']}" if found else "-"
        row = {"what": what, "cases": cases, "setting": setting, "source": source}
        rows.append(_verdict({**row, "ours": ours, "published": published}, ERROR_TOLERANCE))
    return rows


def _verdict(row: dict, tolerance: float) -> dict:
    ours = row["ours"]
    row["reproduced"] = None if ours is None else abs(ours - row["published"]) <= tolerance
    return row


def compare(summary: dict) -> dict | None:
    """The rows the report prints beside the papers (None: no layer-by-layer counterpart)."""
    if summary["config"]["model"]["n_layers"] != DEPTH:
        return None
    corpus = corpus_of(summary)
    return {
        "corpus": corpus,
        "probes": probe_rows(summary, corpus),
        "legal": legal_row(summary, corpus),
        "interventions": intervention_rows(summary) if corpus == "synthetic" else [],
        "tolerance": {
            "probe_points": 100 * LAYER_TOLERANCE,
            "errors": ERROR_TOLERANCE,
            "legal_points": 100 * LEGAL_TOLERANCE,
        },  # fmt: skip
        "sources": {
            "nanda": f"{NANDA_PROBE_ACCURACY.source}; {NANDA_INTERVENTIONS.source}",
            "hazineh": HAZINEH_PROBE_ACCURACY.source,
            "li": f"{LI_PROBE_TABLES.source}; {LI_LEGAL.source}; {LI_INTERVENTIONS.source}",
        },  # fmt: skip
    }
