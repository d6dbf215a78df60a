"""Does the model play legal moves? Top-1 legality and Li et al.'s top-N set metric.

At sequence position t the model has read moves 0..t and predicts move t + 1; the truth is
the legal-move set of the side that moves next after move t, from the rules engine (passes
included). Positions after a game's last move are not scored. What counts as an illegal
proposal is :mod:`othello.model.legality`'s, read here under two of its criteria:

* top-1 legal accuracy: the share of positions where the highest-scoring square is legal
  (no :data:`~othello.model.legality.TOP1` illegal proposal);
* top-N set errors (Li et al., :data:`~othello.model.legality.TOPN`): false positives plus
  false negatives of the model's N best squares against the legal set, twice the number of
  illegal squares among them; an exact match is a position with none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from othello.common.atomic import write_text
from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.files import EVAL_FIGURE, EVAL_JSON
from othello.common.plotting import accuracy_by_move
from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import load_model_file
from othello.model.hooked import HookedModel
from othello.model.legality import rank_legality, square_scores, top1_illegal, topn_illegal
from othello.world.labels import replay
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode

DEFAULT_GAMES = 10_000  # games scored when no number is asked


@dataclass
class LegalityCounts:
    """Running sums over scored positions, per position index (0..58)."""

    positions: np.ndarray
    top1_legal: np.ndarray
    set_errors: np.ndarray
    exact_sets: np.ndarray

    @classmethod
    def zeros(cls) -> LegalityCounts:
        return cls(*(np.zeros(N_POSITIONS, dtype=np.int64) for _ in range(4)))

    def add(self, other: LegalityCounts) -> None:
        for name in ("positions", "top1_legal", "set_errors", "exact_sets"):
            getattr(self, name).__iadd__(getattr(other, name))

    def summary(self) -> dict:
        n = max(int(self.positions.sum()), 1)
        per_ply = self.top1_legal / np.maximum(self.positions, 1)
        return {
            "positions": int(self.positions.sum()),
            "top1_legal_accuracy": float(self.top1_legal.sum() / n),
            "top1_error_rate": float(1 - self.top1_legal.sum() / n),
            "topn_set_errors": float(self.set_errors.sum() / n),
            "topn_exact_match": float(self.exact_sets.sum() / n),
            # index i: accuracy predicting move i + 2 (moves numbered from 1)
            "top1_legal_accuracy_by_move": [round(float(a), 6) for a in per_ply],
        }


def square_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """[..., 64] next-move probabilities (softmax over the 61 tokens; 0 on the centre)."""
    return square_scores(logits.float().softmax(-1), 0.0)


def top_squares(logits: torch.Tensor, n: int) -> list[int]:
    """The squares of the model's ``n`` best moves, best first (logits [61])."""
    return [int(s) for s in square_scores(logits.float(), -torch.inf).argsort(descending=True)[:n]]


def score_logits(logits: torch.Tensor, legal: np.ndarray, scored: np.ndarray) -> LegalityCounts:
    """Count metrics for logits [B, 59, 61], legal bitboards uint64 [B, 59] and a bool mask
    [B, 59] of the positions to score."""
    is_legal = rank_legality(logits, legal)  # [B, 59, 60] by rank
    top1 = ~top1_illegal(is_legal)
    illegal_in_top = topn_illegal(is_legal)
    mask = torch.as_tensor(scored)
    counts = LegalityCounts.zeros()
    counts.positions += mask.sum(0).numpy()
    counts.top1_legal += (top1 & mask).sum(0).numpy()
    counts.set_errors += (2 * illegal_in_top * mask).sum(0).numpy()
    counts.exact_sets += ((illegal_in_top == 0) & mask).sum(0).numpy()
    return counts


@torch.no_grad()
def evaluate_games(
    model: HookedModel, moves: np.ndarray, length: np.ndarray, batch_size: int = 256
) -> LegalityCounts:
    """Legality counts of ``model`` on the given games (int8 [N, 60], lengths [N])."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    counts = LegalityCounts.zeros()
    for start in range(0, len(moves), batch_size):
        m, n = moves[start : start + batch_size], length[start : start + batch_size]
        labels = replay(m, n)
        if not labels.valid.all():
            bad = start + int(np.flatnonzero(~labels.valid)[0])
            raise UserError(f"game {bad} contains an illegal move")
        tokens = torch.as_tensor(encode(m[:, :N_POSITIONS]), device=device)
        logits = model(tokens)
        scored = np.arange(N_POSITIONS)[None, :] < (n.astype(np.int64)[:, None] - 1)
        counts.add(score_logits(logits, labels.legal[:, :N_POSITIONS], scored))
    model.train(was_training)
    return counts


def evaluate_run(
    run: str | os.PathLike,
    games_path: str | os.PathLike,
    out: str | os.PathLike,
    n_games: int | None = None,
    split: str = "test",
    allow_fewer: bool = False,
    batch_size: int = 256,
) -> dict:
    """Score a run's model on ``n_games`` games of ``split`` (None: every game, at most
    :data:`DEFAULT_GAMES`); write ``out/eval.json`` and a plot of accuracy by move number."""
    model = load_model_file(run, pick_device())
    counts = LegalityCounts.zeros()
    with GamesFile(games_path) as games:
        index = games.select(split, n_games, allow_fewer)
        if n_games is None:
            index = index[:DEFAULT_GAMES]
        for start in range(0, len(index), 4096):
            part = index[start : start + 4096]
            counts.add(evaluate_games(model, games.moves[part], games.length[part], batch_size))
    summary = {"games": int(len(index)), "split": split, **counts.summary()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / EVAL_JSON, json.dumps(summary, indent=2) + "\n")
    accuracy_by_move(
        summary["top1_legal_accuracy_by_move"],
        out / EVAL_FIGURE,
        f"{Path(run).name}: top-1 legal {100 * summary['top1_legal_accuracy']:.2f}%",
    )
    return summary
