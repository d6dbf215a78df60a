"""How an intervention is scored, after Li et al.: with N the size of a legal set, the errors
of the model's N best squares against it (false positives plus false negatives: twice the
top-N illegal count of :mod:`othello.model.legality`), against the edited board's legal set
and, as the null baseline, the original one."""

from __future__ import annotations

import numpy as np
import torch

from othello.model.legality import rank_legality, topn_illegal
from probes.interventions.cases import Cases


def topn_errors(logits: torch.Tensor, legal: np.ndarray) -> np.ndarray:
    """Li et al.'s error count per case: with N = |legal set|, false positives plus false
    negatives of the model's N best squares against the set."""
    return 2 * topn_illegal(rank_legality(logits.cpu(), legal)).numpy()


def score(logits: torch.Tensor, cases: Cases) -> dict:
    """Mean errors against the edited and the original legal sets, F1 and exact matches."""
    is_legal_after = rank_legality(logits.cpu(), cases.legal_after)
    vs_edited = 2 * topn_illegal(is_legal_after).numpy()
    vs_original = topn_errors(logits, cases.legal_before)
    n_after = is_legal_after.sum(-1).numpy()
    true_pos = n_after - vs_edited // 2
    return {
        "errors_vs_edited": float(vs_edited.mean()),
        "errors_vs_original": float(vs_original.mean()),
        "f1_vs_edited": float((true_pos / np.maximum(n_after, 1)).mean()),
        "success_rate": float((vs_edited == 0).mean()),
        "cases": len(cases),
    }


def gap_closed(edited: float, null: float, floor: float) -> float | None:
    """Share of the way from the unedited model's errors (``null``) to the model's own floor
    (its errors on real boards) that an edit covers: 1 is as good as the model gets."""
    return (null - edited) / (null - floor) if null > floor else None
