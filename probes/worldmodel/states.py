"""The states that held-out game prefixes reach, and which prefixes reach each one.

Vafa et al. (``othello_world/utils.py::get_state_samples``) take every prefix of lengths
1..len-1 of 10,000 sampled games, key it by the board it reaches, and keep each distinct prefix
once per state. Othello's state is the board *and* the side to move (after a forced pass the
same board can belong to either side), so the pool is keyed either way:

* ``board_and_mover`` (our default: the true state): black and white discs and who moves next;
* ``board_only`` (Vafa et al.'s definition, for a like-for-like comparison): the discs alone.

Every prefix of a state has the same length (a move adds exactly one disc), so states group by
prefix length too, which the distinction test draws from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from othello.common.errors import UserError
from othello.world.labels import replay
from othello.world.squares import MAX_MOVES

STATE_DEFINITIONS = ("board_and_mover", "board_only")
_HASH_BASE = np.uint64(0x100000001B3)  # FNV prime: a rolling hash of a prefix's moves


@dataclass
class StatePool:
    """Distinct prefixes of the sampled games, each as (game row, length), with its state."""

    moves: np.ndarray  # int8 [G, 60]: the games
    lengths: np.ndarray  # [G]
    prefix_game: np.ndarray  # [P] the game row a distinct prefix is read from
    prefix_length: np.ndarray  # [P]
    state: np.ndarray  # [P] state id (0..n_states-1)
    definition: str

    @property
    def n_states(self) -> int:
        return int(self.state.max()) + 1 if len(self.state) else 0

    def prefixes(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Moves int8 [n, 60] (padded with -1 after each prefix) and lengths of prefixes."""
        length = self.prefix_length[index]
        moves = self.moves[self.prefix_game[index]].copy()
        moves[np.arange(MAX_MOVES)[None, :] >= length[:, None]] = -1
        return moves, length.astype(np.int64)

    def by_state(self) -> list[np.ndarray]:
        """The prefixes of each state."""
        order = np.argsort(self.state, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.state, minlength=self.n_states))[:-1])


def prefix_hashes(moves: np.ndarray) -> np.ndarray:
    """uint64 [G, 60]: column t identifies the prefix of moves 0..t (a rolling hash)."""
    out = np.zeros(moves.shape, np.uint64)
    h = np.zeros(len(moves), np.uint64)
    with np.errstate(over="ignore"):
        for t in range(moves.shape[1]):
            h = h * _HASH_BASE + (moves[:, t].astype(np.int64) + 2).astype(np.uint64)
            out[:, t] = h
    return out


def state_keys(moves: np.ndarray, lengths: np.ndarray, definition: str) -> np.ndarray:
    """uint64 [G, 60, k]: the state after moves 0..t, as the columns the definition keys."""
    if definition not in STATE_DEFINITIONS:
        raise UserError(f"state must be one of {STATE_DEFINITIONS}, got {definition!r}")
    labels = replay(moves, lengths)
    columns = [labels.black, labels.white]
    if definition == "board_and_mover":
        columns.append(labels.next_player.astype(np.int64).astype(np.uint64))
    return np.stack(columns, -1)


def state_pool(moves: np.ndarray, lengths: np.ndarray, definition: str) -> StatePool:
    """Every distinct prefix of lengths 1..len-1 of the games, keyed by the state it reaches."""
    moves = np.ascontiguousarray(moves, np.int8)
    lengths = np.asarray(lengths, np.int8)
    keys = state_keys(moves, lengths, definition)
    ply = np.arange(MAX_MOVES)[None, :]
    game, t = np.nonzero(ply < lengths[:, None].astype(np.int64) - 1)  # prefix length t + 1
    hashes = prefix_hashes(moves)[game, t]
    _, first = np.unique(hashes, return_index=True)
    game, t = game[first], t[first]
    _, state = np.unique(keys[game, t], axis=0, return_inverse=True)
    return StatePool(moves, lengths, game, t + 1, state.reshape(-1), definition)
