"""Boards for the soundness search: the rules on many positions at once (legal sets, every
legal child of every position, true boards of prefixes), and a model's own board (read by its
mine/theirs probe) and edited board (the intervention machinery's goal-board edit).

Bitboards are uint64 from the side to move's view (``me``, ``opp``); a child is the position
after one legal move, the pair swapped to its side to move (a forced pass swaps back)."""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from othello.world.engine import ONE, U64, ZERO, legal_moves, play, side_to_move
from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import MAX_MOVES


@njit(cache=True)
def _legal(me, opp, out):
    for i in range(len(me)):
        out[i] = legal_moves(me[i], opp[i])


def legal_of(me, opp) -> np.ndarray:
    """uint64 [n]: the legal moves of the side owning ``me``."""
    me, opp = np.asarray(me, np.uint64), np.asarray(opp, np.uint64)
    out = np.zeros(len(me), np.uint64)
    _legal(me, opp, out)
    return out


@njit(cache=True)
def _count(bits):
    n = 0
    while bits != ZERO:
        bits &= bits - ONE
        n += 1
    return n


@njit(cache=True)
def _children(me, opp, parent_out, square_out, me_out, opp_out, legal_out):
    k = 0
    for i in range(len(me)):
        moves = legal_moves(me[i], opp[i])
        for s in range(64):
            if moves & (ONE << U64(s)):
                a, b = play(me[i], opp[i], s)
                a, b, legal = side_to_move(a, b)
                parent_out[k], square_out[k] = i, s
                me_out[k], opp_out[k], legal_out[k] = a, b, legal
                k += 1


@njit(cache=True)
def _counts(me, opp, out):
    for i in range(len(me)):
        out[i] = _count(legal_moves(me[i], opp[i]))


def children(me: np.ndarray, opp: np.ndarray):
    """Every legal move of every position: ``(parent, square, me, opp, legal)`` per child,
    grouped by parent in square order."""
    counts = np.zeros(len(me), np.int64)
    _counts(me, opp, counts)
    n = int(counts.sum())
    parent, square = np.zeros(n, np.int64), np.zeros(n, np.int64)
    a, b, legal = (np.zeros(n, np.uint64) for _ in range(3))
    _children(me, opp, parent, square, a, b, legal)
    return parent, square, a, b, legal


def sides_of(moves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(me, opp)`` after each prefix, from the view of its side to move."""
    labels = replay(padded(moves, lengths), lengths.astype(np.int8))
    rows, ply = np.arange(len(lengths)), lengths.astype(np.int64) - 1
    white = labels.perspective()[rows, ply] == 1
    black, whites = labels.black[rows, ply], labels.white[rows, ply]
    return np.where(white, whites, black), np.where(white, black, whites)


def board_of(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """int [n, 64]: the boards of bitboard pairs (0 empty, 1 ``me``'s, 2 ``opp``'s)."""
    return unpack_bitboards(me).astype(np.int64) + 2 * unpack_bitboards(opp)


def boards_of(moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """int [n, 64]: the true board after each prefix (0 empty, 1 mine, 2 theirs)."""
    return board_of(*sides_of(moves, lengths))


def padded(moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """int8 [n, 60]: each prefix's moves, -1 after its length."""
    out = np.full((len(lengths), MAX_MOVES), -1, np.int8)
    for i, n in enumerate(lengths):
        out[i, :n] = moves[i, :n]
    return out


def pack(mask: np.ndarray) -> np.ndarray:
    """uint64 [n] bitboards of bool [n, 64] squares."""
    return np.packbits(mask, axis=1, bitorder="little").view(np.uint64)[:, 0]


def probe_reader(model, probes, hook: str):
    """A function ``(moves, lengths) -> board [n, 64]``: the mine/theirs probe at ``hook`` read
    at each prefix's last position (one forward pass a batch)."""
    from othello.world.tokens import encode
    from probes.read import read_board

    @torch.no_grad()
    def read(moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = np.zeros((len(lengths), 64), np.int64)
        for start in range(0, len(lengths), 512):
            rows = slice(start, start + 512)
            n = lengths[rows]
            tokens = torch.as_tensor(encode(padded(moves[rows], n)[:, : int(n.max())]))
            _, cache = model.run_with_cache(tokens, [hook])
            acts = cache[hook][torch.arange(len(n)), torch.as_tensor(n - 1)]
            out[rows] = read_board(probes, acts, hook).numpy()
        return out

    return read


def model_edit(model, probes, setting: dict):
    """A function ``(moves, lengths, goal, mask) -> logits [n, 61]``: each prefix's last
    position with its board's ``mask`` squares set to ``goal`` by the edit ``setting``
    (``method``, start ``layer``, ``scale``: the intervention sweep's choice)."""
    from othello.model.hooks import hooks_by_layer
    from probes.interventions.cases import goal_cases
    from probes.interventions.flip import BOARD, build_edit
    from probes.interventions.run import edit_hooks, intervene

    hooks = hooks_by_layer(sorted({k.hook for k in probes if k.scheme == BOARD and k.hook}))
    touched = edit_hooks(hooks, int(setting["layer"]), True)
    edit, _ = build_edit(setting["method"], probes, touched, setting.get("scale"))

    def edited(moves, lengths, goal, mask) -> torch.Tensor:
        rows = padded(moves, lengths)
        cases = goal_cases(rows, lengths.astype(np.int8), np.arange(len(lengths)),
                           lengths.astype(np.int64) - 1, goal.astype(np.int8), mask)  # fmt: skip
        return intervene(model, cases, touched, edit)

    return edited
