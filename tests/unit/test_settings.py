"""key=value settings typed by the dataclass fields (othello.common.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from othello.common.settings import apply_overrides, parse_value
from probes.fit import FitConfig


@dataclass(frozen=True)
class Inner:
    width: int = 4


@dataclass(frozen=True)
class Outer:
    rate: float = 0.1
    flag: bool = False
    names: tuple[str, ...] = ("a",)
    layers: list[int] | None = None
    inner: Inner = field(default_factory=Inner)


def test_overrides_are_typed_by_the_fields():
    cfg = apply_overrides(
        Outer(), ["rate=3e-4", "flag=yes", "names=x,y", "layers=1,2", "inner.width=8"]
    )
    assert cfg == Outer(3e-4, True, ("x", "y"), [1, 2], Inner(8))
    assert apply_overrides(cfg, ["layers=none", "names="]).layers is None
    assert apply_overrides(Outer(), ["names="]).names == ()
    assert apply_overrides(Outer(), ["w=8"], aliases={"w": "inner.width"}).inner.width == 8
    assert parse_value("1e4", int, "k") == 10_000


@pytest.mark.parametrize(
    "override, message",
    [
        ("rate=abc", "rate='abc': expected float"),
        ("flag=maybe", "flag='maybe': expected bool"),
        ("layers=1,x", "layers='x': expected int"),
        ("nope=1", "unknown setting 'nope'"),
        ("inner.depth=2", "unknown setting 'inner.depth'"),
        ("rate", "setting 'rate' is not key=value"),
    ],
)
def test_bad_overrides_say_which_key(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(Outer(), [override])


def test_a_settings_dataclass_validates_its_overrides():
    with pytest.raises(ValueError, match="unknown probe scheme 'board'"):
        apply_overrides(FitConfig(), ["probes=board/linear"])
    with pytest.raises(ValueError, match="unknown probe kind 'deep'"):
        apply_overrides(FitConfig(), ["probes=mine_theirs/deep"])
