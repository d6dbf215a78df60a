"""The report's reproduction checks: each passes on a passing summary and fails on a failing
one, and the scale-free figures are worked out by hand."""

from __future__ import annotations

import copy

import pytest

from probes.published import HAZINEH_PROBE_ACCURACY, LI_INTERVENTIONS, NANDA_PROBE_ACCURACY
from probes.report import checks
from probes.report.markdown import _papers_lines as markdown_papers
from probes.report.papers import compare


def best(layer: str, accuracy: float) -> dict:
    return {"layer": layer, "accuracy": accuracy, "val_accuracy": accuracy, "chosen_on": "val"}


def intervention(edited: float, null: float, floor: float) -> dict:
    natural = {
        "errors_vs_edited": edited,
        "null_errors_vs_edited": null,
        "ratio_to_null": edited / null,
        "floor": floor,
        "gap_closed": checks.share_closed(edited, null, floor),
        "setting": "scale 2",
    }
    return {"start_layer": "3", "chosen_on": "tune", "natural": natural, "tune": natural}


def passing() -> dict:
    """A summary that meets every target (the published model's figures, roughly)."""
    return {
        "eval": {"top1_legal_accuracy": 0.9995, "games": 10_000},
        "probes": {
            "accuracy": {
                "mine_theirs": {"linear": {"6": 0.99}},
                "black_white": {"linear": {"6": 0.75}, "mlp": {"6": 0.98}},
            },
            "best": {
                "mine_theirs/linear": best("6", 0.99),
                "black_white/linear": best("4", 0.75),
                "black_white/mlp": best("7", 0.98),
            },
            "control_best": {"mine_theirs/linear": best("2", 0.64)},
            "baselines": {"mine_theirs": {"placed_by": 0.80, "majority_by_move": 0.62}},
        },
        "interventions": {"choice": {"by_method": {"linear": intervention(0.2, 2.7, 0.1)}}},
    }


def failing(edit) -> dict:
    summary = passing()
    edit(summary)
    return summary


def set_path(path: list[str], value):
    def edit(summary: dict) -> None:
        target = summary
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


CASES = {
    checks.legal_moves: [set_path(["eval", "top1_legal_accuracy"], 0.988)],
    checks.board_decodable: [
        set_path(["probes", "best", "mine_theirs/linear"], best("6", 0.90)),  # under 95%
        # 96% clears the bar but is only 3 points over a placed-by rule of 93%
        lambda s: (
            s["probes"]["best"].update({"mine_theirs/linear": best("6", 0.96)}),
            s["probes"]["baselines"]["mine_theirs"].update(placed_by=0.93),
        ),
    ],
    checks.mine_theirs_over_black_white: [
        set_path(["probes", "accuracy", "black_white", "linear", "6"], 0.96)
    ],
    checks.nonlinear_black_white: [
        set_path(["probes", "best", "black_white/mlp"], best("7", 0.78))
    ],
    checks.control_not_decodable: [
        set_path(["probes", "control_best", "mine_theirs/linear"], best("2", 0.80)),  # too high
        set_path(["probes", "control_best", "mine_theirs/linear"], best("2", 0.50)),  # too low
    ],
}


@pytest.mark.parametrize("check", list(CASES), ids=lambda c: c.__name__)
def test_each_check_passes_and_fails(check):
    assert check(passing()).reproduced is True
    for edit in CASES[check]:
        assert check(failing(edit)).reproduced is False


def test_intervention_check_passes_and_fails():
    assert checks.edit_followed(passing(), "linear").reproduced is True
    summary = passing()
    summary["interventions"]["choice"]["by_method"]["linear"] = intervention(1.0, 2.7, 0.1)
    result = checks.edit_followed(summary, "linear")
    assert result.reproduced is False
    # (2.7 - 1.0) / (2.7 - 0.1) = 65% of the gap to the floor; Li et al. (2.68 - 0.12) / 2.68
    li = LI_INTERVENTIONS.values["natural"]
    assert result.scale_free.startswith("closes 65% of the gap")
    assert f"Li et al.: {round(100 * (li['null'] - li['edited']) / li['null'])}%" in (
        result.scale_free
    )


def test_control_check_is_two_sided_at_five_points():
    for accuracy, expected in ((0.62 + 0.049, True), (0.62 - 0.049, True), (0.62 + 0.051, False)):
        summary = passing()
        summary["probes"]["control_best"]["mine_theirs/linear"] = best("1", accuracy)
        assert checks.control_not_decodable(summary).reproduced is expected, accuracy


def test_scale_free_probe_figure_by_hand():
    summary = passing()  # 99% against a placed-by rule of 80%: (0.99 - 0.80) / 0.20 = 95%
    result = checks.board_decodable(summary)
    assert result.scale_free.startswith("closes 95% of the gap")
    nanda = max(NANDA_PROBE_ACCURACY.values["mine_theirs/linear"])  # 99.6: 98% of the gap
    assert f"Nanda et al.: {round(100 * (nanda / 100 - 0.80) / 0.20)}%" in result.scale_free
    assert checks.share_closed(0.9, 0.8, 1.0) == pytest.approx(0.5)
    assert checks.share_closed(1.0, 2.7, 0.1) == pytest.approx(1.7 / 2.6)


def test_run_checks_covers_every_claim_and_says_what_each_was_chosen_on():
    results = checks.run_checks(passing())
    assert len(results) == 6 and all(r.reproduced for r in results)
    assert all(r.chosen_on for r in results)
    summary = copy.deepcopy(passing())
    del summary["probes"]["best"]["black_white/mlp"]  # no MLP probes fitted
    assert len(checks.run_checks(summary)) == 5
    del summary["probes"]["best"]["black_white/linear"]  # mine/theirs probes alone
    assert [c.claim for c in checks.run_checks(summary)][1:3] == [
        "the board is linearly decodable (mine/theirs)",
        "a random-init model's board is not decodable",
    ]


def published_shape(n_layers: int = 8) -> dict:
    """A summary of an 8-layer model: each probe one point under Nanda et al. at every layer,
    but mine/theirs layer 1 three points under; a linear edit close to theirs."""
    summary = passing()
    summary["config"] = {"model": {"n_layers": n_layers}}
    summary["imported"] = None
    summary["eval"]["top1_error_rate"] = 0.0004
    accuracy = summary["probes"]["accuracy"]
    for key, values in NANDA_PROBE_ACCURACY.values.items():
        scheme, kind = key.split("/")
        accuracy[scheme][kind] = {str(k): v / 100 - 0.01 for k, v in enumerate(values, 1)}
    accuracy["mine_theirs"]["linear"]["1"] -= 0.02
    inter = summary["interventions"]
    inter["null"] = {"natural": {"errors_vs_edited": 2.6}}
    inter["choice"]["by_method"]["linear"]["natural"]["errors_vs_edited"] = 0.2
    return summary


def test_rows_beside_the_papers_say_whether_they_reproduce():
    papers = compare(published_shape())
    rows = {(r["probe"], r["layer"]): r for r in papers["probes"] if r["source"] == "Nanda et al."}
    assert len(rows) == 3 * 8 and len(papers["probes"]) == 7 * 8  # Hazineh's two, Li's two
    hazineh = {
        (r["probe"], r["layer"]): r for r in papers["probes"] if r["source"].startswith("Hazineh")
    }
    assert sorted({k for k, _ in hazineh}) == ["black_white/linear", "mine_theirs/linear"]
    assert hazineh["mine_theirs/linear", 1]["published"] == pytest.approx(
        HAZINEH_PROBE_ACCURACY.values["mine_theirs/linear"][0] / 100
    )
    # ours is Nanda's minus one point (89.9 at layer 1, 93.8 at 2); Hazineh's 90.8 and 94.8
    assert hazineh["mine_theirs/linear", 2]["reproduced"] is True
    assert hazineh["mine_theirs/linear", 1]["reproduced"] is False  # 87.9 vs 90.8
    assert papers["legal"]["reproduced"] is True  # 0.04% vs 0.01%
    assert rows["mine_theirs/linear", 2]["reproduced"] is True  # one point under: within 1.5
    assert rows["mine_theirs/linear", 1]["reproduced"] is False  # three points under
    assert rows["mine_theirs/linear", 1]["ours"] == pytest.approx(0.879)
    by_what = {(r["what"], r["cases"], r["source"]): r for r in papers["interventions"]}
    assert by_what["linear edit", "natural", "Nanda et al."]["reproduced"] is True  # 0.2 vs 0.10
    assert by_what["unedited", "natural", "Nanda et al."]["reproduced"] is True  # 2.6 vs 2.723
    gradient = by_what["gradient edit", "natural", "Li et al."]
    assert gradient["ours"] is None and gradient["reproduced"] is None  # not run: not measured
    assert compare(published_shape(n_layers=4)) is None  # another depth: no layer k to match
    championship = published_shape()
    championship["imported"] = {"hub": {"corpus": "championship"}}
    papers = compare(championship)  # Li et al.'s championship rows, no synthetic ones
    assert {r["source"] for r in papers["probes"]} == {"Li et al. (championship model)"}
    assert papers["interventions"] == [] and papers["legal"]["published"] == pytest.approx(0.0517)
    assert papers["legal"]["reproduced"] is False  # ours: 0.04%, far under their 5.17%


def test_the_papers_section_prints_every_layer_and_each_verdict():
    lines = "\n".join(markdown_papers(compare(published_shape())))
    assert "| 1 | 87.9 | 90.9 | **no** (below) |" in lines
    assert "| 2 | 93.8 | 94.8 | yes |" in lines
    assert "| linear edit | natural | layer 3, scale 2 | 0.20 | 0.1 | Nanda et al. | yes |" in lines
    assert "not measured" in lines  # the gradient edit was not run
    assert "**Hazineh et al. (the authors' report)**" in lines
    assert HAZINEH_PROBE_ACCURACY.source in lines  # quoted once, named in the sources line
