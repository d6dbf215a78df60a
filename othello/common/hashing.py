"""Content hashes of files, in one place for every stage and the hub client.

A stage records the sha256 of the corpus or model it was handed, and a later stage refuses
inputs whose hash differs; the hub check compares a download against its blob name. This
module imports nothing heavy (no torch), so the hub client can use it too.
"""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """The hex sha256 of a file's bytes, read in ``block``-sized chunks (models are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
