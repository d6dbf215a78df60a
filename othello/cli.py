"""What every command-line script shares: how a user mistake ends, and ``key=value``
settings.

A mistake a user can fix (a missing or malformed file, a bad setting, too few games) raises
``ValueError`` (or ``FileNotFoundError``/``KeyError``) with a message naming the file and, where
there is one, the game, ply or key. :func:`main` turns it into one line, ``error: ...``, and
exit status 1, the same in every script, instead of a traceback. Set ``OTHELLO_TRACEBACK=1``
to see the traceback anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, OSError)


def main(run: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Call ``run(argv)``; a user error ends the process with one ``error:`` line."""
    try:
        run(argv)
    except USER_ERRORS as exc:
        if os.environ.get("OTHELLO_TRACEBACK"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
