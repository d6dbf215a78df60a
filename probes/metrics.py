"""Held-out accuracy of probes, and the baselines every figure is read against.

Accuracy is per square and position: the fraction of (valid position, square) pairs whose class
the probe gets right, over the 64 squares. *Whole-board* accuracy is stricter: the fraction of
valid positions whose 64 squares are all right, with its standard error over games. Two
baselines come from the training split's labels alone: *majority* (each square's most common
class) and *majority by move* (each square's most common class at that move number, which
already knows that early boards are mostly empty).
For the two board schemes a third comes from the moves: *placed by*, each disc read as the
colour of whoever played it (``othello.world.labels.placed_by``), which is what a model scores that
never tracks a flip.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import torch

from othello.world.labels import placed_by, replay
from othello.world.squares import N_SQUARES
from probes.acts.format import N_POSITIONS
from probes.acts.reader import flat_positions, move_numbers
from probes.acts.source import ActivationSource
from probes.common import ProbeKey
from probes.fit import Probes
from probes.kinds import LinearProbe
from probes.schemes import scheme


@dataclass
class ProbeCounts:
    """What one probe got right on one split, as sums that add up across chunks and splits.

    Besides the per-square counts, *whole-board* counts: the positions whose 64 squares are
    all right (Torres's othello_mamba "board accuracy"; per-square accuracy hides how rarely
    the whole board is). Positions of one game are correlated, so its standard error is over
    games: ``game_moments`` keeps the sums a ratio estimator needs (games, and over games the
    sums of w², w·n and n², with w a game's whole-board positions and n its positions).
    Every field is a sum, so counts of disjoint games merge by ``+``.
    """

    correct: np.ndarray  # int64 [59, 64]: right answers by move and square
    positions: np.ndarray  # int64 [59]: valid positions by move
    confusion: np.ndarray  # int64 [C, C]: true class x predicted class
    whole_board: np.ndarray  # int64 [59]: positions with all 64 squares right, by move
    game_moments: np.ndarray  # int64 [4]: games, sum w^2, sum w*n, sum n^2

    @classmethod
    def zeros(cls, n_classes: int) -> ProbeCounts:
        return cls(
            np.zeros((N_POSITIONS, N_SQUARES), np.int64),
            np.zeros(N_POSITIONS, np.int64),
            np.zeros((n_classes, n_classes), np.int64),
            np.zeros(N_POSITIONS, np.int64),
            np.zeros(4, np.int64),
        )

    def __add__(self, other: ProbeCounts) -> ProbeCounts:
        """The counts of both sets of games (which must not share a game)."""
        return ProbeCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def add(self, moves: np.ndarray, game: np.ndarray, y: np.ndarray, pred: np.ndarray) -> None:
        """Count one chunk of whole games: ``moves`` and ``game`` (its index in the chunk) of
        each valid position, true and predicted classes [positions, 64]."""
        right = pred == y
        np.add.at(self.correct, moves, right)
        self.positions += np.bincount(moves, minlength=N_POSITIONS)
        whole = right.all(-1)
        self.whole_board += np.bincount(moves, weights=whole, minlength=N_POSITIONS).astype(
            np.int64
        )
        n = np.bincount(game)
        w = np.bincount(game, weights=whole, minlength=len(n)).astype(np.int64)[n > 0]
        n = n[n > 0]
        self.game_moments += np.array([len(n), w @ w, w @ n, n @ n], np.int64)
        n_classes = self.confusion.shape[0]
        self.confusion += np.bincount(
            (y * n_classes + pred).ravel(), minlength=n_classes**2
        ).reshape(n_classes, n_classes)

    def whole_board_stderr(self) -> float | None:
        """Standard error over games of the whole-board accuracy (a ratio of sums over
        games); None under two games."""
        games, w2, wn, n2 = (int(v) for v in self.game_moments)
        total = int(self.positions.sum())
        if games < 2 or total == 0:
            return None
        r = self.whole_board.sum() / total
        spread = max(w2 - 2 * r * wn + r * r * n2, 0.0)  # sum over games of (w - r n)^2
        return float(np.sqrt(games / (games - 1) * spread) / total)

    def whole_board_record(self) -> dict:
        """Whole-board accuracy, its standard error over games, and what it is over."""
        stderr = self.whole_board_stderr()
        return {
            "mean": round(float(self.whole_board.sum() / max(int(self.positions.sum()), 1)), 6),
            "stderr": None if stderr is None else round(stderr, 6),
            "positions": int(self.positions.sum()),
            "games": int(self.game_moments[0]),
        }

    def summary(self) -> dict:
        n = max(int(self.positions.sum()), 1)
        board = self.whole_board_record()
        return {
            "accuracy": float(self.correct.sum() / (n * N_SQUARES)),
            "accuracy_by_square": (self.correct.sum(0) / n).round(6).tolist(),
            "accuracy_by_move": (self.correct.sum(1) / np.maximum(self.positions * N_SQUARES, 1))
            .round(6)
            .tolist(),
            "confusion": self.confusion.tolist(),
            "whole_board_accuracy": board["mean"],
            "whole_board_stderr": board["stderr"],
            "whole_board_by_move": self.whole_board_by_move(),
            "games": board["games"],
        }

    def whole_board_by_move(self) -> list[float]:
        """Share of positions with every square right, at each move number."""
        return (self.whole_board / np.maximum(self.positions, 1)).round(6).tolist()


def game_numbers(chunk: dict[str, np.ndarray]) -> np.ndarray:
    """Game (row of the chunk) of each valid position, in ``flat_positions`` order."""
    valid = chunk["valid"]
    return np.broadcast_to(np.arange(valid.shape[0])[:, None], valid.shape)[valid]


@torch.no_grad()
def evaluate_probes(
    source: ActivationSource,
    probes: Probes,
    split: str = "test",
    chunk_games: int = 256,
    device: str | torch.device = "cpu",
) -> dict[ProbeKey, ProbeCounts]:
    """Counts of every probe on one split of ``source``, computed on ``device`` (the probes
    passed in stay where they are). Sources stream whole games per chunk, so each game's
    whole-board sums (for the standard error over games) are complete within its chunk."""
    if torch.device(device).type != "cpu":
        probes = {key: copy.deepcopy(p).to(device) for key, p in probes.items()}
    hooks = sorted({key.hook for key in probes})
    labels = sorted({scheme(key.scheme).label for key in probes})
    counts = {key: ProbeCounts.zeros(scheme(key.scheme).n_classes) for key in probes}
    for chunk in source.iter_chunks(split, hooks, labels, chunk_games):
        moves = move_numbers(chunk)
        game = game_numbers(chunk)
        xs = {h: torch.from_numpy(flat_positions(chunk, h)).to(device) for h in hooks}
        ys = {n: flat_positions(chunk, n).astype(np.int64) for n in labels}
        for key, probe in probes.items():
            pred = probe(xs[key.hook]).argmax(-1).cpu().numpy()
            counts[key].add(moves, game, ys[scheme(key.scheme).label], pred)
    return counts


def label_counts(source: ActivationSource, split: str, label: str, n_classes: int) -> np.ndarray:
    """int64 [59, 64, C]: how often each square holds each class at each move."""
    counts = np.zeros((N_POSITIONS, N_SQUARES, n_classes), np.int64)
    for chunk in source.iter_chunks(split, [], [label], chunk_games=1024):
        moves = move_numbers(chunk)
        y = flat_positions(chunk, label).astype(np.int64)
        squares = np.broadcast_to(np.arange(N_SQUARES), y.shape)
        np.add.at(counts, (moves[:, None], squares, y), 1)
    return counts


def baselines(train: np.ndarray, test: np.ndarray) -> dict:
    """Chance and majority baselines on ``test`` from class counts [59, 64, C] of ``train``."""
    n_classes = train.shape[-1]
    total = max(int(test.sum()), 1)
    majority = train.sum(0).argmax(-1)  # [64]
    by_move = train.argmax(-1)  # [59, 64]
    hit_majority = np.take_along_axis(test, majority[None, :, None].repeat(N_POSITIONS, 0), -1)
    hit_by_move = np.take_along_axis(test, by_move[..., None], -1)
    per_move_total = np.maximum(test.sum((1, 2)), 1)
    return {
        "chance": 1.0 / n_classes,
        "majority": float(hit_majority.sum() / total),
        "majority_by_move": float(hit_by_move.sum() / total),
        "majority_by_square": (hit_majority[..., 0].sum(0) / (total / N_SQUARES)).round(6).tolist(),
        "majority_by_move_curve": (hit_by_move[..., 0].sum(1) / per_move_total).round(6).tolist(),
    }


# board schemes a placed-by board exists for: label -> relative (mine/theirs) or colours
PLACED_BY = {"board_relative": True, "board_colour": False}


def placed_by_baseline(acts: ActivationSource, split: str, label: str) -> dict:
    """Accuracy of the placed-by board against ``label`` on ``split``, overall and by move."""
    correct = np.zeros(N_POSITIONS, np.int64)
    positions = np.zeros(N_POSITIONS, np.int64)
    for chunk in acts.iter_chunks(split, [], [label], chunk_games=1024):
        moves, lengths = acts.games(chunk["rows"])
        rule = placed_by(moves, replay(moves, lengths), PLACED_BY[label])[:, :N_POSITIONS]
        valid = chunk["valid"]
        correct += ((rule == chunk[label]).sum(-1) * valid).sum(0)
        positions += valid.sum(0)
    return {
        "placed_by": float(correct.sum() / max(positions.sum() * N_SQUARES, 1)),
        "placed_by_curve": (correct / np.maximum(positions * N_SQUARES, 1)).round(6).tolist(),
    }


def scheme_baselines(acts: ActivationSource, scheme_name: str, split: str = "test") -> dict:
    """Every baseline of one scheme on ``split``: chance and majorities learned from the
    training split, and the placed-by rule where the scheme is a board."""
    sch = scheme(scheme_name)
    base = baselines(
        label_counts(acts, "train", sch.label, sch.n_classes),
        label_counts(acts, split, sch.label, sch.n_classes),
    )
    if sch.label in PLACED_BY:
        base.update(placed_by_baseline(acts, split, sch.label))
    return base


def direction_cosines(probes: Probes, hooks: list[str]) -> list[list[float]]:
    """Mean over squares of the cosine between layers' mine-minus-theirs directions."""
    mine, theirs = (scheme("mine_theirs").classes.index(c) for c in ("mine", "theirs"))
    directions = []
    for hook in hooks:
        probe = probes[ProbeKey("mine_theirs", "linear", hook)]
        assert isinstance(probe, LinearProbe)
        w = probe.raw_weight().detach()
        d = w[:, :, mine] - w[:, :, theirs]  # [d_model, 64]
        directions.append(d / d.norm(dim=0, keepdim=True).clamp(min=1e-12))
    stacked = torch.stack(directions)  # [layers, d_model, 64]
    cos = torch.einsum("ads,bds->abs", stacked, stacked).mean(-1)
    return cos.round(decimals=6).tolist()
