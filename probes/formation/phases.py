"""When does a capacity appear along training? For one measure's curve over the snapshots: the
step at which it first covers 50% and 90% of its rise from step 0 to the end, whether the rise
is sudden (most of it between two neighbouring snapshots) or gradual, and an interval for each
step from resampling: the same resampled held-out games at every snapshot where the measure
keeps each game's figures, otherwise each snapshot's mean drawn from its standard error.
Capacities are then ordered by their 50% step, and two neighbours are told apart only when
their intervals do not overlap.

Crossings are interpolated linearly in log(1 + step) between the two snapshots around them, as
the snapshots are spaced in log(step). A curve whose rise is within noise (``min_rise``, or
under two standard errors of the end-to-start difference) has no phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PhaseSettings:
    """How a phase is read from a curve; chosen before any curve was looked at."""

    min_rise: float = 0.01  # a rise smaller than this is no rise
    sudden: float = 0.5  # a rise is sudden when this share of it lies between two snapshots
    draws: int = 1000  # resamples for the intervals
    level: float = 0.9  # the intervals' coverage
    seed: int = 0


def crossing(steps: np.ndarray, values: np.ndarray, share: float) -> float | None:
    """The first step at which ``values`` covers ``share`` of its rise from the first value to
    the last (interpolated in log(1 + step)); None when it never rises, or when a resample
    left a figure undefined (a ratio over games whose denominators sum to zero)."""
    rise = values[-1] - values[0]
    if rise == 0 or not np.isfinite(values).all():
        return None
    progress = (values - values[0]) / rise
    above = np.flatnonzero(progress >= share)
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(steps[0])
    x0, x1 = np.log1p(steps[i - 1]), np.log1p(steps[i])
    p0, p1 = progress[i - 1], progress[i]
    t = 0.0 if p1 == p0 else (share - p0) / (p1 - p0)
    return float(np.expm1(x0 + t * (x1 - x0)))


def sudden_share(values: np.ndarray) -> float | None:
    """The largest share of the total rise (a fall, for a falling curve) made between two
    neighbouring snapshots; above 1 where the curve overshoots its end."""
    rise = values[-1] - values[0]
    if rise == 0 or len(values) < 2:
        return None
    return float(np.max(np.diff(values) / rise))


def _interval(samples: list[float | None], level: float) -> list[float] | None:
    found = np.array([s for s in samples if s is not None])
    if len(found) < 0.5 * len(samples):  # the resamples mostly see no rise
        return None
    tail = (1 - level) / 2
    return [float(np.quantile(found, tail)), float(np.quantile(found, 1 - tail))]


def resampled_curves(curve: dict, cfg: PhaseSettings) -> np.ndarray:
    """``cfg.draws`` resampled curves [draws, snapshots]: the games resampled with the same
    draws at every snapshot where the curve keeps them (``num`` and ``den``: [snapshots,
    games], the figure ``sum(num) / sum(den)``), else each mean drawn from its standard
    error."""
    rng = np.random.default_rng(cfg.seed)
    means = np.asarray(curve["means"], float)
    if curve.get("num") is not None:
        num, den = np.asarray(curve["num"], float), np.asarray(curve["den"], float)
        picks = rng.integers(0, num.shape[1], size=(cfg.draws, num.shape[1]))
        with np.errstate(divide="ignore", invalid="ignore"):  # undefined draws: no crossing
            return np.stack([num[:, p].sum(1) / den[:, p].sum(1) for p in picks])
    stderr = np.nan_to_num(np.asarray(curve["stderrs"], float))
    return means[None, :] + rng.standard_normal((cfg.draws, len(means))) * stderr[None, :]


def phase(curve: dict, cfg: PhaseSettings = PhaseSettings()) -> dict:
    """One measure's phase: ``curve`` holds ``steps``, ``means``, ``stderrs`` and optionally
    each game's ``num`` and ``den`` (:func:`resampled_curves`)."""
    steps = np.asarray(curve["steps"], float)
    means = np.asarray(curve["means"], float)
    stderrs = np.nan_to_num(np.asarray(curve["stderrs"], float))
    rise = float(means[-1] - means[0])
    noise = 2 * float(np.hypot(stderrs[0], stderrs[-1]))
    out = {"start": float(means[0]), "end": float(means[-1]), "rise": rise}
    if abs(rise) < max(cfg.min_rise, noise):
        empty = {"half_step": None, "ninety_step": None, "sudden_share": None, "sudden": False}
        return {**out, **empty, "half_interval": None, "ninety_interval": None}
    draws = resampled_curves(curve, cfg)
    share = sudden_share(means)
    return {
        **out,
        "half_step": crossing(steps, means, 0.5),
        "ninety_step": crossing(steps, means, 0.9),
        "half_interval": _interval([crossing(steps, d, 0.5) for d in draws], cfg.level),
        "ninety_interval": _interval([crossing(steps, d, 0.9) for d in draws], cfg.level),
        "sudden_share": share,
        "sudden": share is not None and share >= cfg.sudden,
        "interval_from": "games" if curve.get("num") is not None else "stderr",
    }


def order(phases: dict[str, dict]) -> list[dict]:
    """The capacities with a phase, by their 50% step; each says whether it can be told apart
    from the next (their 50% intervals do not overlap)."""
    timed = sorted(
        ((name, p) for name, p in phases.items() if p.get("half_step") is not None),
        key=lambda item: item[1]["half_step"],
    )
    out = []
    for i, (name, p) in enumerate(timed):
        nxt = timed[i + 1][1] if i + 1 < len(timed) else None
        apart = None
        if nxt is not None and p["half_interval"] and nxt["half_interval"]:
            apart = p["half_interval"][1] < nxt["half_interval"][0]
        out.append({"measure": name, "half_step": p["half_step"], "apart_from_next": apart})
    return out
