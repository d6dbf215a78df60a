"""One registry class for every sort of plugin: probe kinds, intervention editors, SAE
architectures and model kinds (after SAELens's ``registry.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from othello.common.errors import UserError


class Registry(dict):
    """The named plugins of one sort (probe kinds, intervention editors, SAE architectures):
    each registered once, under its ``name``, and looked up by name with an error listing the
    choices. Every stage iterates over the registry, so a plugin declared in any module (a
    test, a notebook) is one ``register`` call. A second plugin under a name already taken is
    an error (as in SAELens's registry): replacing a plugin silently would change what every
    stage runs; ``del registry[name]`` first to replace one on purpose."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, item: Any) -> Any:
        """Add ``item`` under ``item.name`` (a name already taken is an error); returns it."""
        settings = getattr(item, "settings", None)
        if settings is not None and not dataclasses.is_dataclass(settings):
            raise TypeError(f"{self.what} {item.name!r}: settings must be a dataclass")
        if item.name in self:
            raise UserError(f"{self.what} {item.name!r} is already registered; del it first")
        self[item.name] = item
        return item

    def lookup(self, name: str) -> Any:
        if name not in self:
            raise UserError(f"unknown {self.what} {name!r}; choose from {sorted(self)}")
        return self[name]
