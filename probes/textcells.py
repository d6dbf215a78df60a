"""How a figure is written in a report's table cell, the same in every stage's section: a
missing figure is ``-``, a share a percentage, a ratio ``2.5x``."""

from __future__ import annotations


def cell(value: float | None, scale: float = 100, digits: int = 1) -> str:
    """``value * scale`` to ``digits`` places; ``-`` when there is none."""
    return "-" if value is None else f"{scale * value:.{digits}f}"


def percent(value: float | None) -> str:
    """A share as a percentage to one place (``-`` when there is none)."""
    return "-" if value is None else f"{100 * value:.1f}%"


def percent_se(figure: dict | None) -> str:
    """A ``{"mean", "stderr"}`` share as ``19.0% ± 0.7`` (``-`` when there is none)."""
    if not figure or figure.get("mean") is None:
        return "-"
    se = figure.get("stderr")
    return percent(figure["mean"]) + ("" if se is None else f" ± {100 * se:.1f}")


def times(ratio: float | None) -> str:
    """A ratio as ``2.5x`` (``-`` when there is none)."""
    return "-" if ratio is None else f"{ratio:.1f}x"
