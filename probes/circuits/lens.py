"""Logit lens: each residual layer read as if it were the last (through ``ln_final`` and the
unembedding), scored as the model is, by top-1 legality on held-out games.

Beside the mine/theirs probe's accuracy by layer it answers "when does the model know its
move, and when does it know the board": a layer where the probe already reads the board but
the lens plays illegal moves is one where the board is there and the move is not yet computed.
"""

from __future__ import annotations

import numpy as np
import torch

from othello.model.gpt import GPT
from othello.model.hooks import resid_hooks
from othello.model.legality import TOP1, proposes_illegal


class LensCounts:
    """Top-1 legal counts of each layer's lens over the positions seen."""

    def __init__(self, n_layers: int) -> None:
        self.correct = np.zeros(n_layers + 1, np.int64)
        self.positions = 0

    @torch.no_grad()
    def add(self, model: GPT, cache: dict, legal_bits: np.ndarray, scored: np.ndarray) -> None:
        mask = torch.as_tensor(scored)
        for layer, hook in resid_hooks(model.cfg.n_layers).items():
            logits = model.unembed(model.ln_final(cache[hook]))
            top1 = ~proposes_illegal(logits.cpu(), legal_bits, TOP1)
            self.correct[layer] += int((top1 & mask).sum())
        self.positions += int(mask.sum())

    def summary(self) -> dict[str, float]:
        """logit_lens.json: ``{layer: top-1 legal accuracy}``."""
        n = max(self.positions, 1)
        return {str(layer): round(float(c / n), 6) for layer, c in enumerate(self.correct)}
