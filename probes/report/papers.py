"""The report beside the papers, row by row: for a model of the published shape analysed on
synthetic games, every layer's probe accuracy beside Nanda et al.'s Table 1 and the flip
intervention beside Nanda et al.'s and Li et al.'s; each row says whether it reproduces,
within a tolerance stated here. A model of another depth has no layer-by-layer counterpart
(its layer k is not theirs), so it gets the reproduction checks alone."""

from __future__ import annotations

from probes.report.published import LI_INTERVENTIONS, NANDA_INTERVENTIONS, NANDA_PROBE_ACCURACY

LAYER_TOLERANCE = 0.015  # a probe row reproduces within 1.5 points of the published accuracy
ERROR_TOLERANCE = 0.25  # an intervention row within 0.25 mean top-N errors of the published


def corpus_of(summary: dict) -> str:
    """``championship`` for a published model analysed on championship games, else
    ``synthetic``."""
    hub = (summary.get("imported") or {}).get("hub") or {}
    return "championship" if hub.get("corpus") == "championship" else "synthetic"


def layer_by_layer(summary: dict) -> bool:
    """Whether our layer k is the papers' layer k: the published depth, synthetic games."""
    depth = len(next(iter(NANDA_PROBE_ACCURACY.values.values())))
    return summary["config"]["model"]["n_layers"] == depth and corpus_of(summary) == "synthetic"


def probe_rows(summary: dict) -> list[dict]:
    """One row per published probe and layer: ours (test accuracy), theirs, reproduced."""
    rows = []
    accuracy = summary["probes"]["accuracy"]
    for key, values in NANDA_PROBE_ACCURACY.values.items():
        scheme, kind = key.split("/")
        ours = accuracy.get(scheme, {}).get(kind)
        for layer, published in enumerate(values, start=1):
            row = {"probe": key, "layer": layer, "published": published / 100}
            row["ours"] = ours.get(str(layer)) if ours else None
            rows.append(_verdict(row, LAYER_TOLERANCE))
    return rows


def intervention_rows(summary: dict) -> list[dict]:
    """The unedited model's errors and each edit's, on natural (and unnatural) cases, at the
    settings and start layers chosen on the tuning cases, beside the published figures."""
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
    if not layer_by_layer(summary):
        return None
    return {
        "probes": probe_rows(summary),
        "interventions": intervention_rows(summary),
        "tolerance": {"probe_points": 100 * LAYER_TOLERANCE, "errors": ERROR_TOLERANCE},
        "sources": {
            "probes": NANDA_PROBE_ACCURACY.source,
            "nanda": NANDA_INTERVENTIONS.source,
            "li": LI_INTERVENTIONS.source,
        },  # fmt: skip
    }
