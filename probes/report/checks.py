"""The report's reproduction checks: each a plain function from the run summary to a
:class:`Check` that can pass or fail, with the figure that lets a small model be compared with
the published one whatever its size.

Every figure a check reads was chosen off the cases it reports: probe layers on the cache's
validation games (test accuracy reported), intervention start layers and methods on the tuning
cases (natural cases reported). Each check says what its figure was chosen on.

The scale-free figures:

* probes: the share of the gap between the placed-by rule (each disc the colour of whoever
  played it: what a model scores that tracks no flips) and 100% that the probe closes;
* interventions: the share of the gap between the unedited model's errors on the edited
  board (null) and the model's own floor (its errors on the true board) that the edit closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from probes.published import (
    LI_INTERVENTIONS,
    LI_LEGAL,
    LI_PROBES,
    NANDA_INTERVENTIONS,
    NANDA_PROBE_ACCURACY,
)

# What "reproduced" means, for any model size (the cpu preset is expected to miss some).
LEGAL_TOP1 = 0.999  # top-1 legal: Li et al. report 99.99%
BEST_MINE_THEIRS = 0.95  # best linear mine/theirs layer (Nanda et al.: 99.5% at layer 8)
OVER_PLACED_BY = 0.05  # ... and this far above the placed-by rule, which tracks no flips
MARGIN_OVER_BLACK_WHITE = 0.05  # mine/theirs linear over black/white linear, same layer
MLP_OVER_LINEAR = 0.05  # black/white MLP over black/white linear (Li et al.)
CONTROL_WITHIN = 0.05  # random-init control within this of majority-by-move, either side
INTERVENTION_RATIO = 1 / 3  # edited errors below this share of the unedited errors


@dataclass
class Check:
    claim: str
    published: str
    ours: str
    target: str
    reproduced: bool
    chosen_on: str
    scale_free: str = ""  # the comparable-across-sizes figure, where one exists

    def to_dict(self) -> dict:
        return asdict(self)


def share_closed(value: float, start: float, end: float) -> float | None:
    """How far ``value`` has gone from ``start`` towards ``end`` (1 = all the way)."""
    return (value - start) / (end - start) if end != start else None


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def legal_moves(summary: dict) -> Check:
    top1 = summary["eval"]["top1_legal_accuracy"]
    return Check(
        claim="the model predicts legal moves",
        published=f"Li et al.: top-1 error {LI_LEGAL.values['top1_error']}% on held-out "
        "synthetic games",
        ours=f"top-1 legal {_pct(top1)} on {summary['eval']['games']:,} held-out games",
        target=f">= {100 * LEGAL_TOP1:.1f}% top-1 legal",
        reproduced=top1 >= LEGAL_TOP1,
        chosen_on="nothing chosen (all held-out test games)",
    )


def _best(summary: dict, key: str, control: bool = False) -> dict:
    probes = summary["probes"]
    return (probes["control_best"] if control else probes["best"])[key]


def board_decodable(summary: dict) -> Check:
    best = _best(summary, "mine_theirs/linear")
    rule = summary["probes"]["baselines"]["mine_theirs"]["placed_by"]
    closed = share_closed(best["accuracy"], rule, 1.0)
    published = NANDA_PROBE_ACCURACY.values["mine_theirs/linear"]
    return Check(
        claim="the board is linearly decodable (mine/theirs)",
        published=f"Nanda et al.: linear mine/theirs probe {max(published)}% at its best layer",
        ours=f"layer {best['layer']}: {_pct(best['accuracy'])} (placed-by rule {_pct(rule)})",
        target=f">= {100 * BEST_MINE_THEIRS:.0f}% and >= {100 * OVER_PLACED_BY:.0f} points "
        "above the placed-by rule",
        reproduced=best["accuracy"] >= BEST_MINE_THEIRS
        and best["accuracy"] - rule >= OVER_PLACED_BY,
        chosen_on="layer chosen on validation games, test accuracy reported",
        scale_free=f"closes {100 * closed:.0f}% of the gap from the placed-by rule to 100% "
        f"(Nanda et al.: {100 * share_closed(max(published) / 100, rule, 1.0):.0f}% against "
        "the same rule)",
    )


def mine_theirs_over_black_white(summary: dict) -> Check:
    probes = summary["probes"]
    layer = probes["best"]["mine_theirs/linear"]["layer"]
    mt = probes["accuracy"]["mine_theirs"]["linear"][layer]
    bw = probes["accuracy"]["black_white"]["linear"][layer]
    nanda_mt = NANDA_PROBE_ACCURACY.values["mine_theirs/linear"]
    nanda_bw = NANDA_PROBE_ACCURACY.values["black_white/linear"]
    gap = max(m - b for m, b in zip(nanda_mt, nanda_bw, strict=True))
    return Check(
        claim="mine/theirs is linear, black/white is not",
        published=f"Nanda et al.: linear mine/theirs beats linear black/white by up to "
        f"{gap:.1f} points",
        ours=f"layer {layer}: mine/theirs {_pct(mt)} vs black/white {_pct(bw)} "
        f"({100 * (mt - bw):.1f} points)",
        target=f">= {100 * MARGIN_OVER_BLACK_WHITE:.0f} points at the same layer",
        reproduced=mt - bw >= MARGIN_OVER_BLACK_WHITE,
        chosen_on="the mine/theirs layer chosen on validation games, test accuracies reported",
    )


def nonlinear_black_white(summary: dict) -> Check:
    mlp, linear = _best(summary, "black_white/mlp"), _best(summary, "black_white/linear")
    return Check(
        claim="a nonlinear probe recovers black/white",
        published=f"Li et al.: MLP black/white probe error "
        f"{LI_PROBES.values['black_white/mlp trained']}% at its best layer",
        ours=f"MLP {_pct(mlp['accuracy'])} (layer {mlp['layer']}) vs linear "
        f"{_pct(linear['accuracy'])} (layer {linear['layer']})",
        target=f"MLP >= {100 * MLP_OVER_LINEAR:.0f} points above linear",
        reproduced=mlp["accuracy"] - linear["accuracy"] >= MLP_OVER_LINEAR,
        chosen_on="layers chosen on validation games, test accuracies reported",
    )


def control_not_decodable(summary: dict) -> Check:
    control = _best(summary, "mine_theirs/linear", control=True)
    majority = summary["probes"]["baselines"]["mine_theirs"]["majority_by_move"]
    return Check(
        claim="a random-init model's board is not decodable",
        published=f"Li et al.: probe error {LI_PROBES.values['black_white/mlp random init']}% "
        "on a randomly initialised model (near the baselines)",
        ours=f"control layer {control['layer']}: {_pct(control['accuracy'])} vs "
        f"majority-by-move {_pct(majority)}",
        target=f"within {100 * CONTROL_WITHIN:.0f} points of majority-by-move, either side",
        reproduced=abs(control["accuracy"] - majority) <= CONTROL_WITHIN,
        chosen_on="control layer chosen on its validation games, test accuracy reported",
    )


def edit_followed(summary: dict, method: str) -> Check:
    chosen = summary["interventions"]["choice"]["by_method"][method]
    natural = chosen["natural"]
    closed = natural["gap_closed"]
    li = LI_INTERVENTIONS.values["natural"]
    nanda = NANDA_INTERVENTIONS.values
    li_floor_free = share_closed(li["edited"], li["null"], 0.0)
    return Check(
        claim=f"editing the board ({method}) changes the predictions accordingly",
        published=f"Li et al.: {li['edited']} errors after a gradient edit vs {li['null']} "
        f"unedited (natural); Nanda et al.: linear {nanda['linear']} vs {nanda['null']}",
        ours=f"start layer {chosen['start_layer']} ({natural['setting']}): "
        f"{natural['errors_vs_edited']:.2f} errors vs edited board, unedited "
        f"{natural['null_errors_vs_edited']:.2f}; the model's own floor (errors on the true "
        f"boards) {natural['floor']:.2f}",
        target=f"below {INTERVENTION_RATIO:.2f} of the unedited errors",
        reproduced=natural["ratio_to_null"] < INTERVENTION_RATIO,
        chosen_on="setting and start layer chosen on the tuning cases (validation games), "
        "natural cases reported",
        scale_free=(
            f"closes {100 * closed:.0f}% of the gap from unedited to the model's floor"
            if closed is not None
            else "no gap: the unedited model is already at its floor"
        )
        + f" (Li et al.: {100 * li_floor_free:.0f}% of the gap to 0 errors)",
    )


# each probe check with the scheme/kind pairs it reads (a run may fit fewer)
PROBE_CHECKS: list[tuple[Callable[[dict], Check], tuple[str, ...]]] = [
    (board_decodable, ("mine_theirs/linear",)),
    (mine_theirs_over_black_white, ("mine_theirs/linear", "black_white/linear")),
    (nonlinear_black_white, ("black_white/linear", "black_white/mlp")),
    (control_not_decodable, ("mine_theirs/linear",)),
]


def run_checks(summary: dict) -> list[Check]:
    """Every check the summary has the figures for."""
    out = [legal_moves(summary)]
    fitted = set(summary["probes"]["best"])
    for check, needs in PROBE_CHECKS:
        if fitted.issuperset(needs):
            out.append(check(summary))
    for method in summary["interventions"]["choice"]["by_method"]:
        out.append(edit_followed(summary, method))
    return out
