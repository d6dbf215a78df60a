"""The code's version, recorded in every file the pipeline writes (``code_version``).

It lives in this leaf module, not in ``othello/__init__.py``: the modules that record it
(run directories, games files, activation caches) would otherwise import the ``othello``
package, whose lazy exports import them back. ``othello.__version__`` re-exports it.
"""

from __future__ import annotations

__version__ = "0.1.0"
