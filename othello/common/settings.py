"""``key=value`` overrides for any settings dataclass, typed by its fields.

Every stage's settings are one dataclass (``TrainConfig``, ``FitConfig``, ``SweepConfig``, ...)
whose defaults live in the dataclass alone. Scripts take ``key=value`` words and this module
turns each into a field of the right type: ``lr=3e-4``, ``later_layers=false``,
``probes=mine_theirs/linear,legal/linear`` (a tuple or list: comma-separated, empty for none),
``hooks=none`` (an optional field), ``model.n_layers=6`` (a nested dataclass).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from othello.common.errors import UserError

T = TypeVar("T")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_value(text: str, kind: Any, key: str) -> Any:
    """``text`` as a value of type ``kind`` (a resolved annotation)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return parse_value(text, inner, key)
    if origin in (tuple, list):
        item = args[0] if args else str
        values = [parse_value(part.strip(), item, key) for part in text.split(",") if part.strip()]
        return tuple(values) if origin is tuple else values
    try:
        if kind is bool:
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if kind is int:
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        if kind is float:
            return float(text)
    except ValueError:
        raise UserError(f"{key}={text!r}: expected {kind.__name__}") from None
    return kind(text)


def field_types(config: object) -> dict[str, Any]:
    return typing.get_type_hints(type(config))


def apply_overrides(
    config: T, overrides: Iterable[str], aliases: dict[str, str] | None = None, prefix: str = ""
) -> T:
    """A copy of ``config`` with ``key=value`` overrides applied (``a.b=v`` for nested
    dataclasses; ``aliases`` maps a bare key to its dotted path). Unknown keys, values of the
    wrong type and anything the dataclass's own validation refuses raise ValueError; ``prefix``
    is how the user wrote the keys' common start (``gradient.``), for the messages."""
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"setting {item!r} is not key=value")
        path = (aliases or {}).get(key, key).split(".")
        changes[".".join(path)] = text
    return _replace(config, changes, prefix=prefix)


def apply_with_plugins(
    config: T, overrides: Iterable[str], plugins: dict[str, Callable[[], Any]]
) -> tuple[T, dict[str, Any]]:
    """A stage's settings and each registered plugin's (a probe kind, an editor) from one list
    of ``key=value`` words: ``NAME.key=value`` goes to plugin NAME's settings (made by
    ``plugins[NAME]()``), everything else to ``config``."""
    own: list[str] = []
    per_plugin: dict[str, list[str]] = {name: [] for name in plugins}
    for item in overrides:
        head, dot, rest = item.partition(".")
        if dot and head in plugins:
            per_plugin[head].append(rest)
        else:
            own.append(item)
    settings = {
        name: apply_overrides(plugins[name](), words, prefix=f"{name}.")
        for name, words in per_plugin.items()
    }
    return apply_overrides(config, own), settings


def _replace(config: T, changes: dict[str, str], prefix: str) -> T:
    names = {f.name for f in dataclasses.fields(config) if f.init}
    types_ = field_types(config)
    updates: dict[str, Any] = {}
    nested: dict[str, dict[str, str]] = {}
    for path, text in changes.items():
        head, _, rest = path.partition(".")
        if head not in names:
            raise UserError(f"unknown setting {prefix + path!r}; known: {sorted(names)}")
        if rest:
            if not dataclasses.is_dataclass(getattr(config, head)):
                raise UserError(f"unknown setting {prefix + path!r}")
            nested.setdefault(head, {})[rest] = text
        else:
            updates[head] = parse_value(text, types_[head], prefix + path)
    for head, sub in nested.items():
        updates[head] = _replace(getattr(config, head), sub, f"{prefix}{head}.")
    try:
        return dataclasses.replace(config, **updates)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None


def describe(config: object) -> str:
    """One ``key=default`` per line, for a script's --help."""
    return "\n".join(
        f"  {f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config) if f.init
    )
