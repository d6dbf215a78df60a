"""Attention heads: whose moves each head reads, and what it writes onto the board.

*Whose moves.* At position t the model predicts a move of the side to move next (found by the
rules, so passes are handled). Every earlier move k <= t was played by that side ("mine") or
by the other ("theirs"). Nanda et al. found heads that attend almost only to one of the two;
each head's attention mass on mine and on theirs keys is summed over positions t >= 1 (where
both kinds exist), and a head is classed ``mine`` when its share of mass on mine keys is at
least ``threshold``, ``theirs`` when at most 1 - threshold, else ``mixed``. The class is
taken on validation games and the shares reported on test games.

*What it writes.* Each head's output (its z through its slice of W_O) dotted with each
square's mine-minus-theirs probe direction at the stream it writes to (residual layer l + 1)
is how far it moves the probe's mine-vs-theirs logit difference. Signed by the truth (+1 when
the square is mine, -1 theirs, empty squares left out) and averaged, a positive value means
the head pushes the board reading towards the true board: a heads x squares map.
"""

from __future__ import annotations

import numpy as np
import torch

from othello.model.gpt import GPT
from othello.model.hooks import act_name
from othello.world.squares import N_SQUARES
from probes.circuits.attribution import head_outputs


def mine_keys(mover: np.ndarray, perspective: np.ndarray, n_pos: int) -> np.ndarray:
    """bool [G, q, k]: key k <= q was played by the side that moves next at query q."""
    mine = mover[:, None, :n_pos] == perspective[:, :n_pos, None]
    return mine & np.tri(n_pos, dtype=bool)[None]


class HeadSums:
    """Attention mass on mine / theirs keys and signed board writes, summed per head."""

    def __init__(self, n_layers: int, n_heads: int) -> None:
        self.mine = np.zeros((n_layers, n_heads))
        self.theirs = np.zeros((n_layers, n_heads))
        self.queries = 0
        self.writes = np.zeros((n_layers, n_heads, N_SQUARES))
        self.occupied = np.zeros(N_SQUARES)

    def add_attention(self, patterns: list[torch.Tensor], mine: np.ndarray, scored) -> None:
        """patterns: per layer [G, head, q, k]; mine from :func:`mine_keys`; scored [G, q]."""
        queries = torch.as_tensor(scored.copy())
        queries[:, 0] = False
        mine_t = torch.as_tensor(mine, device=patterns[0].device)
        q = queries.to(patterns[0].device)[:, None, :]
        for layer, pattern in enumerate(patterns):
            on_mine = (pattern * mine_t[:, None]).sum(-1)  # [G, head, q]
            on_all = pattern.sum(-1)
            self.mine[layer] += (on_mine * q).sum((0, 2)).double().cpu().numpy()
            self.theirs[layer] += ((on_all - on_mine) * q).sum((0, 2)).double().cpu().numpy()
        self.queries += int(queries.sum())

    def add_writes(self, model: GPT, cache: dict, directions: dict, board, scored) -> None:
        """directions: ``{residual layer: [d_model, 64]}`` mine-minus-theirs; board int8
        [G, P, 64] (0 empty, 1 mine, 2 theirs); scored [G, P]."""
        sign = np.where(board == 1, 1.0, np.where(board == 2, -1.0, 0.0)) * scored[..., None]
        sign_t = torch.as_tensor(sign, dtype=torch.float32)
        self.occupied += np.abs(sign).sum((0, 1))
        for layer in range(model.cfg.n_layers):
            z = cache[act_name("z", layer)]
            out = head_outputs(model, layer, z)  # [G, P, head, d]
            moved = out @ directions[layer + 1].to(out.device)  # [G, P, head, 64]
            signed = moved.cpu() * sign_t[:, :, None, :]
            self.writes[layer] += signed.sum((0, 1)).double().numpy()

    def shares(self) -> np.ndarray:
        """[layers, heads]: share of attention mass on mine keys."""
        return self.mine / np.maximum(self.mine + self.theirs, 1e-12)

    def board_map(self) -> np.ndarray:
        """[layers, heads, 64]: mean signed write along each square's direction."""
        return self.writes / np.maximum(self.occupied, 1)


def classify(shares: np.ndarray, threshold: float) -> list[list[str]]:
    """``mine`` / ``theirs`` / ``mixed`` per head from its share of mass on mine keys."""
    return [
        ["mine" if s >= threshold else "theirs" if s <= 1 - threshold else "mixed" for s in row]
        for row in shares
    ]


def heads_summary(val: HeadSums, test: HeadSums, threshold: float) -> dict:
    """heads.json: the classes (validation games), the shares and the board map (test)."""
    return {
        "threshold": threshold,
        "classes": classify(val.shares(), threshold),
        "mine_share_val": val.shares().round(5).tolist(),
        "mine_share": test.shares().round(5).tolist(),
        "board_writes": test.board_map().round(5).tolist(),
        "queries": test.queries,
    }
