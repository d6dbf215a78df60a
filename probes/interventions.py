"""Causal interventions along linear probe directions (Nanda et al.), and their scoring.

A *case* is a position from a held-out game and an occupied square whose disc is flipped
between mine and theirs (from the view of the side to move), chosen so that the flip changes
the legal-move set; the engine gives the legal sets before and after. The intervention edits
the residual stream at the case's position so the square's linear probe reads the flipped
class, and the model's top-N predictions (N = size of a legal set) are compared with both
sets: a model that uses its board representation should follow the edited board.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from othello import engine
from othello.evaluate import illegal_in_top_n, rank_legality
from othello.labels import replay
from othello.model import GPT
from othello.squares import MAX_MOVES, N_SQUARES
from othello.tokens import encode
from probes.models import LinearProbe
from probes.schemes import scheme

MINE, THEIRS = (scheme("mine_theirs").classes.index(c) for c in ("mine", "theirs"))


@dataclass
class Cases:
    moves: np.ndarray  # int8 [K, 60]: the games
    position: np.ndarray  # int64 [K]: sequence position (0..58) to edit and read
    square: np.ndarray  # int64 [K]: square whose disc changes sides
    current: np.ndarray  # int64 [K]: its class now (1 mine, 2 theirs)
    legal_before: np.ndarray  # uint64 [K]: legal moves of the side to move, unedited board
    legal_after: np.ndarray  # uint64 [K]: the same on the edited board

    def __len__(self) -> int:
        return len(self.position)

    @property
    def target(self) -> np.ndarray:
        return np.where(self.current == MINE, THEIRS, MINE)


def flipped_legal_sets(mine: int, theirs: int, square: int) -> tuple[int, int]:
    """Legal moves before and after the disc on ``square`` changes sides (engine truth)."""
    bit = np.uint64(1) << np.uint64(square)
    mine, theirs = np.uint64(mine), np.uint64(theirs)
    before = engine.legal_moves(mine, theirs)
    if mine & bit:
        after = engine.legal_moves(mine & ~bit, theirs | bit)
    elif theirs & bit:
        after = engine.legal_moves(mine | bit, theirs & ~bit)
    else:
        raise ValueError(f"square {square} is empty: only a disc can change sides")
    return int(before), int(after)


def natural_cases(moves: np.ndarray, length: np.ndarray, n_cases: int, seed: int = 0) -> Cases:
    """Up to ``n_cases`` cases from positions reached in play, one per game, seeded."""
    rng = np.random.default_rng(seed)
    plies = replay(moves, length)
    mover_is_white = plies.next_player == 1
    mine_bb = np.where(mover_is_white, plies.white, plies.black)
    theirs_bb = np.where(mover_is_white, plies.black, plies.white)
    rows: list[tuple[int, int, int, int, int, int]] = []
    for game in rng.permutation(len(moves)):
        positions = np.flatnonzero(plies.next_player[game, : MAX_MOVES - 1] >= 0)
        if len(positions) == 0:
            continue
        t = int(rng.choice(positions))
        mine, theirs = int(mine_bb[game, t]), int(theirs_bb[game, t])
        occupied = [s for s in range(N_SQUARES) if (mine | theirs) >> s & 1]
        for square in rng.permutation(occupied):
            before, after = flipped_legal_sets(mine, theirs, int(square))
            if after != before and after != 0:
                current = MINE if mine >> int(square) & 1 else THEIRS
                rows.append((int(game), t, int(square), current, before, after))
                break
        if len(rows) == n_cases:
            break
    if not rows:
        raise ValueError("no position in these games has a disc whose flip changes the legal set")
    columns = list(zip(*rows, strict=True))
    game = np.array(columns[0], dtype=np.int64)
    return Cases(
        moves[game],
        *(np.array(c, dtype=np.int64) for c in columns[1:4]),
        *(np.array(c, dtype=np.uint64) for c in columns[4:]),
    )


def linear_edit(
    x: torch.Tensor,
    probe: LinearProbe,
    square: torch.Tensor,
    target: torch.Tensor,
    current: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Residual vectors x [K, d] moved along each probe's (target - current) direction.

    With margin m = logit(target) - logit(current), the step is scale * (|m| - m) / |d|^2 along
    d: scale 0 changes nothing, scale 1 reflects the margin (the probe now prefers the target
    by as much as it preferred the current class), larger scales push further.
    """
    w, b = probe.raw_weight(), probe.raw_bias()
    d = w[:, square, target].T - w[:, square, current].T  # [K, d_model]
    bias = b[square, target] - b[square, current]
    margin = (x * d).sum(-1) + bias
    step = scale * (margin.abs() - margin) / (d * d).sum(-1).clamp(min=1e-12)
    return x + step[:, None] * d


@torch.no_grad()
def intervene(
    model: GPT,
    cases: Cases,
    probes: dict[str, LinearProbe],
    hooks: list[str],
    scale: float,
) -> torch.Tensor:
    """Logits [K, 61] at each case's position with the edit applied at every hook in
    ``hooks`` (the start layer and, for a multi-layer edit, the ones after it)."""
    device = next(model.parameters()).device
    tokens = torch.as_tensor(encode(cases.moves[:, : MAX_MOVES - 1]), device=device)
    rows = torch.arange(len(cases), device=device)
    pos = torch.as_tensor(cases.position, device=device)
    sq = torch.as_tensor(cases.square, device=device)
    tgt = torch.as_tensor(cases.target, device=device)
    cur = torch.as_tensor(cases.current, device=device)

    def edit_with(probe):
        def edit(x, hook):
            x = x.clone()
            x[rows, pos] = linear_edit(x[rows, pos], probe, sq, tgt, cur, scale)
            return x

        return edit

    fwd_hooks = [(hook, edit_with(probes[hook])) for hook in hooks]
    logits = model.run_with_hooks(tokens, fwd_hooks)
    return logits[rows, pos]


def topn_errors(logits: torch.Tensor, legal: np.ndarray) -> np.ndarray:
    """Li et al.'s error count per case: with N = |legal set|, false positives plus false
    negatives of the model's N best squares against the set."""
    return 2 * illegal_in_top_n(rank_legality(logits.cpu(), legal)).numpy()


def score(logits: torch.Tensor, cases: Cases) -> dict:
    """Mean errors against the edited and the original legal sets, F1 and exact matches."""
    is_legal_after = rank_legality(logits.cpu(), cases.legal_after)
    vs_edited = 2 * illegal_in_top_n(is_legal_after).numpy()
    vs_original = topn_errors(logits, cases.legal_before)
    n_after = is_legal_after.sum(-1).numpy()
    true_pos = n_after - vs_edited // 2
    return {
        "errors_vs_edited": float(vs_edited.mean()),
        "errors_vs_original": float(vs_original.mean()),
        "f1_vs_edited": float((true_pos / np.maximum(n_after, 1)).mean()),
        "success_rate": float((vs_edited == 0).mean()),
        "cases": len(cases),
    }
