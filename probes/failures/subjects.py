"""What a soundness search asks of the model it attacks, and nothing more: a
:class:`Subject` scores the next move of many game prefixes, extends them one move at a time
(a step through the decoding cache, not a forward pass), reads its own board and proposes again
with that board edited. Three subjects:

* :class:`ModelSubject`: a trained model (any kind with a decoding cache), its board read by
  the mine/theirs probe at one residual layer and edited by the intervention machinery;
* :class:`EngineSubject`: the rules as a model (scores 1 on every legal move): never proposes
  an illegal move, the search's known answer;
* :class:`BlindSubject`: the rules played on a board where one square always reads empty (the
  planted model of the tests): every error it makes is a wrong board at that square, and the
  true-board edit of that square fixes it.

Boards are int [n, 64] of 0 empty, 1 mine, 2 theirs from the side to move's view; scores float
[n, 64] by square (the highest is the proposal; centre squares never win).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from othello.model.legality import square_scores
from othello.world.labels import unpack_bitboards
from othello.world.squares import CENTRE_SQUARES, MAX_MOVES
from othello.world.tokens import encode
from probes.failures.boards import board_of, boards_of, legal_of, pack, probe_reader
from probes.read import read_board


class Subject(Protocol):
    name: str

    def start(self, moves: np.ndarray, lengths: np.ndarray, me, opp) -> tuple[np.ndarray, Any]:
        """Scores [n, 64] after each prefix ``moves[i, :lengths[i]]`` and a state to extend."""

    def extend(self, state, parents: np.ndarray, squares: np.ndarray, me, opp):
        """Scores and state of each parent row extended by one move (``me``/``opp``: the
        children's bitboards from their side to move's view)."""

    def take(self, state, rows: np.ndarray):
        """The state of the rows kept (a search keeps its best children)."""

    def board(self, moves: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The subject's own board [n, 64] after each prefix."""

    def edited(self, moves, lengths, goal: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Scores [n, 64] after each prefix with its board's ``mask`` squares set to ``goal``."""


def _centre_last(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float32, copy=True)
    scores[:, list(CENTRE_SQUARES)] = -np.inf
    return scores


class EngineSubject:
    """The rules as a model: every legal move scores 1, every other square 0."""

    name = "engine"
    last_board: np.ndarray | None = None  # its board at the rows last scored
    last_accepted: np.ndarray | None = None  # what it accepts there: its legal moves

    def _scores(self, me, opp) -> np.ndarray:
        me, opp = np.asarray(me, np.uint64), np.asarray(opp, np.uint64)
        self.last_board = board_of(me, opp)
        self.last_accepted = unpack_bitboards(legal_of(me, opp))
        return _centre_last(self.last_accepted.astype(np.float32))

    def start(self, moves, lengths, me, opp):
        return self._scores(me, opp), None

    def extend(self, state, parents, squares, me, opp):
        return self._scores(me, opp), None

    def take(self, state, rows):
        return None

    def board(self, moves, lengths):
        return boards_of(moves, lengths)

    def edited(self, moves, lengths, goal, mask):
        board = np.where(mask, goal, self.board(moves, lengths))
        return self._scores(pack(board == 1), pack(board == 2))


@dataclass
class BlindSubject(EngineSubject):
    """The rules on a board where ``square`` always reads empty (a planted model)."""

    square: int
    name = "blind"

    def _blind(self, me, opp):
        keep = ~np.uint64(1 << self.square)
        return np.asarray(me, np.uint64) & keep, np.asarray(opp, np.uint64) & keep

    def start(self, moves, lengths, me, opp):
        return self._scores(*self._blind(me, opp)), None

    def extend(self, state, parents, squares, me, opp):
        return self._scores(*self._blind(me, opp)), None

    def board(self, moves, lengths):
        board = boards_of(moves, lengths)
        board[:, self.square] = 0
        return board


class ModelSubject:
    """A trained model: prefixes read through its decoding cache, its board read by the
    mine/theirs probe at ``hook`` and edited by ``edit`` (an intervention editor from
    ``layer`` on: :func:`probes.failures.boards.model_edit`)."""

    name = "model"

    def __init__(self, model, probes, hook: str, edit=None, weigh=None) -> None:
        self.model, self.probes, self.hook, self.edit, self.weigh = model, probes, hook, edit, weigh
        self.read = probe_reader(model, probes, hook)
        self.device = next(model.parameters()).device
        self.last_board: np.ndarray | None = None  # the probe's board at the rows last scored
        self.last_accepted: np.ndarray | None = None  # what its accept rule accepts there

    @torch.no_grad()
    def start(self, moves, lengths, me, opp):
        n = len(lengths)
        width = int(lengths.max())
        tokens = torch.as_tensor(encode(np.where(np.arange(MAX_MOVES) < lengths[:, None], moves,
                                                 -1)[:, :width]), device=self.device)  # fmt: skip
        cache = self.model.new_cache(n, self.device)
        logits = self.model.prefill(tokens, cache, torch.as_tensor(lengths))
        last = logits[torch.arange(n), torch.as_tensor(lengths - 1)]
        return self._scores(last), (cache, np.asarray(lengths, np.int64))

    @torch.no_grad()
    def extend(self, state, parents, squares, me, opp):
        cache, lengths = state
        cache = cache.select(torch.as_tensor(parents))
        lengths = lengths[parents]
        tokens = torch.as_tensor(encode(squares), device=self.device)
        positions = torch.as_tensor(lengths, device=self.device)
        kept = {}

        def keep(x, hook):
            kept["x"] = x
            return x

        with self.model.hooks([(self.hook, keep)]):
            logits = self.model.step(tokens, positions, cache)
        self.last_board = read_board(self.probes, kept["x"][:, -1], self.hook).cpu().numpy()
        return self._scores(logits), (cache, lengths + 1)

    def take(self, state, rows):
        cache, lengths = state
        return cache.select(torch.as_tensor(rows)), lengths[rows]

    def _scores(self, logits: torch.Tensor) -> np.ndarray:
        if self.weigh is not None:  # the accept rule (an acceptor's weights_from_logits)
            self.last_accepted = (self.weigh(logits) > 0).cpu().numpy()
        return square_scores(logits.float(), -torch.inf).cpu().numpy()

    def board(self, moves, lengths):
        return self.read(moves, lengths)

    def edited(self, moves, lengths, goal, mask):
        return self._scores(self.edit(moves, lengths, goal, mask))
