"""The phase detector on planted curves: a rise at a known step is found there, a flat series
has no phase, a jump between two snapshots is sudden, and resampling games gives an interval
around the planted step that narrows with more games."""

from __future__ import annotations

import numpy as np
import pytest

from othello.training.config import log_snapshot_steps
from probes.formation.phases import PhaseSettings, crossing, order, phase, sudden_share

STEPS = np.array(log_snapshot_steps(5800, 24), float)


def logistic(steps: np.ndarray, midpoint: float, width: float = 0.15) -> np.ndarray:
    """A rise from 0.3 to 0.9 centred at ``midpoint`` in log10(step + 1)."""
    x = np.log10(steps + 1)
    return 0.3 + 0.6 / (1 + np.exp(-(x - np.log10(midpoint + 1)) / width))


def planted_games(curve: np.ndarray, games: int, seed: int = 0) -> dict:
    """Each game's squares read right out of 100, with the planted mean at every snapshot."""
    rng = np.random.default_rng(seed)
    den = np.full((len(curve), games), 100.0)
    num = rng.binomial(100, np.clip(curve[:, None], 0, 1), size=den.shape).astype(float)
    means = num.sum(1) / den.sum(1)
    stderrs = np.full(len(curve), 0.5 / np.sqrt(games * 100))
    return {"steps": STEPS, "means": means, "stderrs": stderrs, "num": num, "den": den}


def test_a_planted_rise_is_found_at_its_step():
    for midpoint in (30, 300, 2000):
        p = phase({"steps": STEPS, "means": logistic(STEPS, midpoint), "stderrs": 0 * STEPS})
        assert p["half_step"] == pytest.approx(midpoint, rel=0.15)  # within a snapshot's gap
        assert p["ninety_step"] > p["half_step"] and p["rise"] > 0.5
        assert p["sudden"] is False  # spread over many snapshots


def test_a_flat_series_has_no_phase():
    flat = np.full(len(STEPS), 0.62)
    p = phase({"steps": STEPS, "means": flat, "stderrs": np.full(len(STEPS), 0.01)})
    assert p["half_step"] is None and p["ninety_step"] is None and p["sudden"] is False
    noisy = flat + np.random.default_rng(0).normal(0, 0.001, len(STEPS))
    assert (
        phase({"steps": STEPS, "means": noisy, "stderrs": np.full(len(STEPS), 0.002)})["half_step"]
        is None
    )  # a rise within its noise is no rise


def test_a_jump_between_two_snapshots_is_sudden():
    jump = np.where(STEPS >= 546, 0.9, 0.2)
    p = phase({"steps": STEPS, "means": jump, "stderrs": 0 * STEPS})
    assert p["sudden"] and sudden_share(jump) == pytest.approx(1.0)
    i = int(np.flatnonzero(STEPS >= 546)[0])
    assert STEPS[i - 1] < p["half_step"] <= STEPS[i]  # between the two snapshots


def test_falling_curves_count_their_fall_as_the_rise():
    errors = 2.0 - 2 * (logistic(STEPS, 300) - 0.3)
    assert crossing(STEPS, errors, 0.5) == pytest.approx(crossing(STEPS, logistic(STEPS, 300), 0.5))
    drop = np.where(STEPS >= 546, 0.2, 0.9)  # a sudden fall is as sudden as the same rise
    assert (
        sudden_share(drop) == pytest.approx(1.0)
        and phase({"steps": STEPS, "means": drop, "stderrs": 0 * STEPS})["sudden"]
    )


def test_resampling_games_brackets_the_planted_step_and_narrows_with_more_games():
    curve = logistic(STEPS, 300)
    few = phase(planted_games(curve, 30), PhaseSettings(draws=300))
    many = phase(planted_games(curve, 1000), PhaseSettings(draws=300))
    for p in (few, many):
        lo, hi = p["half_interval"]
        assert lo <= 300 * 1.2 and hi >= 300 / 1.2 and p["interval_from"] == "games"
    width = lambda p: np.log(p["half_interval"][1] / p["half_interval"][0])  # noqa: E731
    assert width(many) < width(few)


def test_the_order_tells_apart_only_what_the_intervals_separate():
    early = planted_games(logistic(STEPS, 30), 20)
    late = planted_games(logistic(STEPS, 2000), 20, seed=1)
    twin = planted_games(logistic(STEPS, 2000), 20, seed=11)  # the same step, other games
    phases = {n: phase(c, PhaseSettings(draws=300)) for n, c in
              (("late", late), ("early", early), ("twin", twin))}  # fmt: skip
    found = order(phases)
    assert [o["measure"] for o in found][0] == "early"
    assert found[0]["apart_from_next"] is True
    assert found[1]["apart_from_next"] is False  # late and twin: the same planted step


def test_a_resample_that_leaves_a_ratio_undefined_has_no_crossing():
    """A ratio over units whose denominators can cancel (the edit's gap: each case's errors
    without the edit less its floor) is undefined in some resamples: those draws give no
    crossing, and the interval comes from the others."""
    steps = np.array([0, 10, 100, 1000])
    num = np.array([[0, 0, 0, 0], [1, 0, 1, 0], [2, 1, 2, 1], [3, 1, 3, 1]], float)
    den = np.array([[1, -1, 1, -1], [2, 0, 2, 0], [2, 1, 2, 1], [3, 1, 3, 1]], float)
    assert crossing(steps, np.array([0.0, np.nan, 0.6, 1.0]), 0.5) is None
    means = np.array([0.0, 0.5, 1.0, 1.0])  # the start's own sum of denominators is zero
    curve = {"steps": steps, "means": means, "stderrs": np.zeros(4), "num": num, "den": den}
    p = phase(curve, PhaseSettings(draws=200))
    assert p["half_interval"] is None or np.isfinite(p["half_interval"]).all()


def test_fewer_games_or_cases_than_asked_are_said():
    from probes.formation.results import shortfalls

    units = {0: {"top1_legal.num": np.ones(40), "edit_gap_closed.num": np.ones(30)}}
    said = shortfalls(units, {"games": 100, "cases": 30})
    assert said == ["only 40 held-out games of the 100 asked (games=100)"]
    assert shortfalls(units, {"games": 40, "cases": 30}) == []
