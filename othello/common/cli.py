"""How every command-line script ends on a mistake a user can fix.

A mistake a user can fix (a missing or malformed file, a bad setting, too few games) raises
:class:`othello.common.errors.UserError` (or a subclass naming the format) or ``FileNotFoundError``,
with a message naming the file and, where there is one, the game, ply or key. :func:`main`
turns it into one line, ``error: ...``, and exit status 1, the same in every script. Anything
else is a bug in our code and keeps its traceback. Set ``OTHELLO_TRACEBACK=1`` to see the
traceback of a user error too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from othello.common.errors import UserError

USER_ERRORS = (UserError, FileNotFoundError, IsADirectoryError, NotADirectoryError)


def main(run: Callable[[list[str] | None], object], argv: list[str] | None = None) -> None:
    """Call ``run(argv)``; a user error ends the process with one ``error:`` line. A script
    draws its figures to files, so it takes the headless Agg backend (the library chooses
    none, so a notebook keeps its inline one)."""
    import matplotlib

    matplotlib.use("Agg")
    try:
        run(argv)
    except USER_ERRORS as exc:
        if os.environ.get("OTHELLO_TRACEBACK"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
