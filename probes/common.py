"""What every room of the analysis package shares: how a probe is named, how residual layers
are numbered, and the registries that plugins (probe kinds, editors, SAE architectures) join.

A probe is named by a :class:`ProbeKey`: the label scheme it reads, its kind and the hook it
reads from, written ``scheme/kind/hook`` in files (``mine_theirs/linear/blocks.3.hook_resid_pre``)
and ``scheme/kind`` for a probe fitted at every layer (metrics.json's ``best`` entries). Layers
are numbered by :func:`othello.model.gpt.resid_layer` everywhere ("0" is the embeddings, "L" the
last block's output), never by a hook's position in a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from othello.common.errors import UserError


@dataclass(frozen=True, order=True)
class ProbeKey:
    """One probe: the scheme it reads, its kind, and the hook it reads (None: the probe as
    fitted at every layer)."""

    scheme: str
    kind: str
    hook: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.scheme, self.kind, self.hook) if p is not None)

    @classmethod
    def parse(cls, text: str) -> ProbeKey:
        """``scheme/kind`` or ``scheme/kind/hook``; ``str(ProbeKey.parse(t)) == t``."""
        parts = str(text).split("/", 2)
        if len(parts) < 2 or not all(parts):
            raise UserError(f"probe {text!r} is not scheme/kind, e.g. mine_theirs/linear")
        return cls(*parts)

    def at(self, hook: str) -> ProbeKey:
        """The same probe at ``hook``."""
        return ProbeKey(self.scheme, self.kind, hook)

    @property
    def fitted(self) -> ProbeKey:
        """The probe without its hook: what is fitted at every layer."""
        return ProbeKey(self.scheme, self.kind)
