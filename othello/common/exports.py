"""A package's public names, loaded on first use (PEP 562): ``import othello`` stays cheap
(no torch, numba or matplotlib until a name is asked for), and ``__all__`` and ``dir()`` still
list the API. ``othello`` and ``probes`` both declare theirs with :func:`lazy_exports`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (public name ->
    the module that defines it; a subpackage exported under its own name, ``"stages":
    "probes.stages"``, is the module itself); a name is imported once, then cached in the
    package."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if exports[name] == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
