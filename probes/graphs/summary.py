"""The survey's records (:mod:`probes.graphs.survey`) summed up: each share and score as a
mean with its standard error over positions, the paired difference between the move's own
lines and another legal move's, and the shares by layer, by label kind and by move number."""

from __future__ import annotations

import numpy as np

from probes.transcoders.labels import KINDS

SHARES = ("flanking_share", "control_share", "shuffled_share", "random_init_share")
MOVE_BINS = ((0, 15), (15, 30), (30, 45), (45, 60))  # move numbers (plies), half-open


def mean_se(values) -> dict:
    """``{"mean", "stderr", "n"}`` of the finite values (None when there are none)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": None, "stderr": None, "n": 0}
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None
    return {"mean": float(v.mean()), "stderr": se, "n": int(len(v))}


def _column(records: list[dict], key: str) -> list:
    return [r.get(key) for r in records]


def _paired(records: list[dict], a: str, b: str) -> dict:
    return mean_se([r[a] - r[b] for r in records if r.get(a) is not None and r.get(b) is not None])


def summarise(records: list[dict], n_layers: int) -> dict:
    """metrics.json's ``grading`` part (module docstring)."""
    out = {key: mean_se(_column(records, key)) for key in SHARES}
    out["own_minus_other_move"] = _paired(records, "flanking_share", "control_share")
    out["own_minus_random_init"] = _paired(records, "flanking_share", "random_init_share")
    out["replacement"] = mean_se(_column(records, "replacement"))
    out["completeness"] = mean_se(_column(records, "completeness"))
    control = [r["random_init_scores"] for r in records if "random_init_scores" in r]
    out["random_init_replacement"] = mean_se([s["replacement"] for s in control])
    out["random_init_completeness"] = mean_se([s["completeness"] for s in control])
    out["by_layer"] = {
        str(layer): mean_se([sum(r["by_layer_kind"][str(layer)].values()) for r in records])
        for layer in range(n_layers)
    }
    out["by_layer_kind"] = {
        str(layer): {
            kind: mean_se([r["by_layer_kind"][str(layer)][kind] for r in records]) for kind in KINDS
        }
        for layer in range(n_layers)
    }
    out["by_move_number"] = {
        f"{lo}-{hi - 1}": {
            key: mean_se([r.get(key) for r in records if lo <= r["ply"] < hi])
            for key in ("flanking_share", "control_share")
        }
        for lo, hi in MOVE_BINS
    }
    out["positions"] = len(records)
    out["illegal_targets"] = sum(not r["legal"] for r in records)
    out["features_per_graph"] = mean_se(_column(records, "features"))
    return out
