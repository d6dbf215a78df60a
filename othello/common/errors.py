"""The project's own error for a mistake a user can fix.

A missing or malformed file, a bad setting, too few games, a cache of another model: each is
raised as :class:`UserError` (or a subclass naming the format: ``CorpusError``,
``CacheError``, ...) with a message naming the file and, where there is one, the game, ply or
key. Scripts end such an error with one ``error:`` line (:func:`othello.common.cli.main`); any other
exception is a bug in our code and keeps its traceback. ``UserError`` is a ``ValueError``, so
callers that catch bad values keep working.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in the user's input, files or settings, with a message that says how to fix
    it."""
