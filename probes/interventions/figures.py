"""The intervention stage's figures: their data (figures.json), computed from the sweep's
results and the model, and the file each is drawn to (the report reads these names)."""

from __future__ import annotations

import numpy as np

from othello.model.evaluate import top_squares
from othello.model.hooked import HookedModel
from othello.world.squares import bitboard_squares
from probes.interventions import plots
from probes.interventions.cases import Cases, position_cases
from probes.interventions.run import intervene, latent_saliency
from probes.interventions.scoring import topn_errors
from probes.interventions.sweep import TUNE
from probes.published import LI_INTERVENTIONS

# every figure the stage draws: name in figures.json -> (its file, how it is drawn)
FIGURES = {
    "errors_by_layer": ("errors_by_layer.png", plots.errors_by_layer),
    "tuning": ("tuning.png", plots.tuning_sweep),
    "gallery": ("gallery.png", plots.gallery),
    "saliency": ("saliency.png", plots.saliency_maps),
}


def case_title(cases: Cases, k: int) -> str:
    return f"game {int(cases.game[k])}, after move {int(cases.position[k]) + 1}"


def gallery_data(model: HookedModel, cases: Cases, hooks: list[str], edit, count: int) -> dict:
    """Boards before and after the edit with both legal sets and the model's top-N."""
    cases = cases.take(slice(0, count))
    plain = intervene(model, cases, [], None)
    edited = intervene(model, cases, hooks, edit)
    squares = cases.square  # the gallery shows single flips
    errors_before = topn_errors(plain, cases.legal_before)
    errors_after = topn_errors(edited, cases.legal_after)
    items = []
    for k in range(len(cases)):
        before = bitboard_squares(cases.legal_before[k])
        after = bitboard_squares(cases.legal_after[k])
        items.append(
            {
                "board": cases.board[k].tolist(),
                "square": int(squares[k]),
                "legal_before": before,
                "legal_after": after,
                "top_before": top_squares(plain[k], len(before)),
                "top_after": top_squares(edited[k], len(after)),
                "errors_before": int(errors_before[k]),
                "errors_after": int(errors_after[k]),
                "title": case_title(cases, k),
            }
        )
    return {"cases": items}


def saliency_data(model: HookedModel, cases: Cases, hooks: list[str], edit, count: int) -> dict:
    """Li et al.'s latent saliency maps for the first ``count`` cases' positions."""
    maps = []
    for k in range(min(count, len(cases))):
        flips = position_cases(cases.moves[k], int(cases.length[k]), int(cases.position[k]))
        item = latent_saliency(model, flips, hooks, edit)
        item["saliency"] = [None if np.isnan(v) else round(v, 5) for v in item["saliency"]]
        item.update(board=cases.board[k].tolist(), title=case_title(cases, k))
        maps.append(item)
    return {"maps": maps}


def errors_by_layer_data(scores: dict, null: dict) -> dict:
    """Each method's errors vs the edited board by start layer, on every reported set."""
    reported = [name for name in scores if name != TUNE]
    layers = list(next(iter(scores[TUNE].values())))
    published = LI_INTERVENTIONS.values["natural"]
    return {
        "layers": layers,
        "series": {
            f"{m}/{name}": [scores[name][m][x]["errors_vs_edited"] for x in layers]
            for m in scores[TUNE]
            for name in reported
        },
        "null": {name: null[name]["errors_vs_edited"] for name in reported},
        "published": {
            "Li et al. edited (natural)": published["edited"],
            "Li et al. unedited (natural)": published["null"],
        },
    }


def tuning_data(tuning: dict, null: dict) -> dict:
    """Each tuned editor's candidate settings scored on the tuning cases, by start layer."""
    return {
        m: {
            "settings": list(next(iter(by_layer.values()))),
            "series": {f"layer {x}": list(v.values()) for x, v in by_layer.items()},
            "null": null[TUNE]["errors_vs_edited"],
        }
        for m, by_layer in tuning.items()
    }
