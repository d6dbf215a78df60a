"""The board behind every error: the subject's own board (its probe's reading) at the error's
position, the error classified, and the causal check.

* *wrong board*: on the subject's board the proposed move is legal (the squares where that
  board differs from the truth are named, and which of them the last move flipped: a flip the
  model missed);
* *wrong reading*: the subject's board makes the proposed move illegal too (right on the
  squares that decide it, or wrong elsewhere), yet the subject proposes it.

Then the subject's board is set to the true board at the squares where it differs (the
intervention machinery's goal-board edit), and an error is *fixed* when the top move after
the edit is legal; against editing as many random other squares to their (already read)
true values, and the same true-board edit at positions where the subject was right (how often
the edit breaks a right answer)."""

from __future__ import annotations

import numpy as np

from othello.world.labels import replay
from othello.world.squares import CENTRE_SQUARES, square_name
from probes.failures.boards import boards_of, legal_of, pack, padded, sides_of
from probes.failures.search import proposes_illegal


def classify(subject, moves: np.ndarray, lengths: np.ndarray, proposed: np.ndarray) -> dict:
    """Per error: ``kind`` (wrong_board / wrong_reading), the true and the subject's boards,
    the squares where they differ and which of those the last move flipped."""
    truth, probed = boards_of(moves, lengths), subject.board(moves, lengths)
    legal_there = legal_of(pack(probed == 1), pack(probed == 2))
    wrong_board = ((legal_there >> proposed.astype(np.uint64)) & np.uint64(1)).astype(bool)
    labels = replay(padded(moves, lengths), lengths.astype(np.int8))
    rows = np.arange(len(lengths))
    flipped = np.unpackbits(labels.flipped[rows, lengths - 1].view(np.uint8).reshape(-1, 8),
                            axis=1, bitorder="little").astype(bool)  # fmt: skip
    differ = probed != truth
    return {"wrong_board": wrong_board, "truth": truth, "probed": probed, "differ": differ,
            "missed_flips": differ & flipped}  # fmt: skip


def controls(differ: np.ndarray, rng) -> np.ndarray:
    """bool [n, 64]: as many random squares as each row's ``differ``, among the others (never
    a centre square)."""
    out = np.zeros_like(differ)
    allowed = ~differ
    allowed[:, list(CENTRE_SQUARES)] = False
    for i in range(len(differ)):
        k = int(differ[i].sum())
        choices = np.flatnonzero(allowed[i])
        out[i, rng.choice(choices, min(k, len(choices)), replace=False)] = True
    return out


def edit_fixes(subject, moves, lengths, truth, mask) -> np.ndarray:
    """bool [n]: whether the top move is legal once the ``mask`` squares of the subject's
    board are set to the truth (rows with an empty mask: False, nothing was edited)."""
    out = np.zeros(len(lengths), bool)
    rows = np.flatnonzero(mask.any(1))
    if len(rows):
        scores = subject.edited(moves[rows], lengths[rows], truth[rows], mask[rows])
        me, opp = sides_of(moves[rows], lengths[rows])
        illegal, _ = proposes_illegal(scores, legal_of(me, opp))
        out[rows] = ~illegal
    return out


def error_entries(moves, lengths, proposed, found: dict) -> list[dict]:
    """errors.json's entries (boards as 0 empty, 1 mine, 2 theirs from the side to move)."""
    out = []
    for i in range(len(lengths)):
        n = int(lengths[i])
        out.append({
            "moves": [square_name(int(m)) for m in moves[i, :n]],
            "ply": n - 1,
            "proposed": square_name(int(proposed[i])),
            "kind": "wrong_board" if found["wrong_board"][i] else "wrong_reading",
            "true_board": found["truth"][i].tolist(),
            "probed_board": found["probed"][i].tolist(),
            "differs_at": [square_name(int(s)) for s in np.flatnonzero(found["differ"][i])],
            "missed_flips": [square_name(int(s)) for s in np.flatnonzero(found["missed_flips"][i])],
            "fixed_by_true_board": bool(found["fixed"][i]),
            "fixed_by_control": bool(found["fixed_control"][i]),
            "source": found["source"][i],
        })  # fmt: skip
    return out
