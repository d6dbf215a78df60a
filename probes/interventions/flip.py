"""Flip one disc in the model's board, or set several squares to a goal board, and see what
it predicts: the one-position edit a notebook, the explorer and a test make, with the logits
and the engine's legal sets before and after as tensors.

The edit is any registered editor (:data:`probes.interventions.editors.EDITORS`) along the
mine/theirs probes at hand, applied at the position from a start layer on (and, by default,
at every later layer), exactly as the intervention sweep applies it.

>>> result = flip_disc(model, probes, Game.from_moves("F5 D6 C3"), ply=2, square=parse_square("D5"))
>>> result.legal_after.nonzero().flatten()  # the engine's legal moves on the edited board
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from othello.common.errors import UserError
from othello.model.evaluate import square_probabilities
from othello.model.hooked import HookedModel
from othello.model.hooks import hooks_by_layer
from othello.world.game import Game
from othello.world.squares import N_SQUARES, bitboard_squares
from probes.common import ProbeKey
from probes.interventions.cases import Cases, case_at, goal_cases
from probes.interventions.editors import EDITORS, EditorSpec
from probes.interventions.edits import Editor
from probes.interventions.run import edit_hooks, intervene
from probes.kinds import KINDS, differentiable_kinds

BOARD = "mine_theirs"  # the probes an edit follows


@dataclass
class FlipResult:
    """Logits [61] and the engine's legal moves (bool [64]) before and after the edit (a
    flip, or any goal board), the boards (int8 [64]: 0 empty, 1 mine, 2 theirs; after: the
    goal board) and the edit that was made;
    ``probabilities(after)`` is the model's next-move distribution by square [64]."""

    logits_before: torch.Tensor
    logits_after: torch.Tensor
    legal_before: torch.Tensor
    legal_after: torch.Tensor
    board_before: torch.Tensor
    board_after: torch.Tensor
    method: str
    layer: int
    setting: str
    case: Cases

    def probabilities(self, after: bool = True) -> torch.Tensor:
        """The model's next-move probabilities by square [64] (0 on the centre squares),
        after the edit or before it."""
        return square_probabilities(self.logits_after if after else self.logits_before)


def mine_theirs_kinds(probes: dict[ProbeKey, nn.Module], hooks: list[str]) -> list[str]:
    """Probe kinds with mine/theirs probes at every hook, in registry order."""
    return [k for k in KINDS if all(ProbeKey(BOARD, k, h) in probes for h in hooks)]


def editor_settings(spec: EditorSpec, kinds: list[str]) -> Any | None:
    """The editor's settings for the probe kinds at hand: its own kind, else (for an editor
    that can follow any differentiable kind) the first such kind there is; None if neither."""
    settings = spec.settings()
    if spec.probe_kind(settings) in kinds:
        return settings
    followable = [k for k in differentiable_kinds() if k in kinds]
    return spec.follow(settings, followable[0]) if spec.follow and followable else None


def build_edit(
    method: str, probes: dict[ProbeKey, nn.Module], hooks: list[str], scale: float | None
) -> tuple[Editor, str]:
    """The edit function of ``method`` along the mine/theirs probes at ``hooks`` and its
    label; ``scale`` sets the editor's scale-like setting (its first candidate's when None)."""
    spec = EDITORS.lookup(method)
    settings = editor_settings(spec, mine_theirs_kinds(probes, hooks))
    if settings is None:
        raise UserError(f"there are no {BOARD} probes the {method} edit can follow at {hooks}")
    candidate = dict(spec.candidates(settings)[0])
    if spec.strength and scale is not None:
        candidate[spec.strength] = float(scale)
    kind = spec.probe_kind(settings)
    edit = spec.build({h: probes[ProbeKey(BOARD, kind, h)] for h in hooks}, candidate)
    return edit, spec.describe(candidate)


def legal_mask(bitboard: int) -> torch.Tensor:
    mask = torch.zeros(N_SQUARES, dtype=torch.bool)
    mask[bitboard_squares(bitboard)] = True
    return mask


def flip_disc(
    model: HookedModel,
    probes: dict[ProbeKey, nn.Module],
    game: Game,
    ply: int,
    square: int,
    method: str = "linear",
    layer: int | None = None,
    scale: float | None = None,
    later_layers: bool = True,
) -> FlipResult:
    """Flip the disc on ``square`` after move ``ply`` of ``game`` in the model's board, from
    residual ``layer`` on (default: the middle layer the probes cover), with ``method``: the
    goal-board edit (:func:`edit_board`) of one square."""
    game.check_position(ply)
    try:
        case = case_at(game.moves[None], np.array([game.length], np.int8), 0, ply, square)
    except ValueError as exc:
        raise UserError(str(exc).replace("game 0", game.label)) from None
    return _edited(model, probes, case, method, layer, scale, later_layers)


def edit_board(
    model: HookedModel,
    probes: dict[ProbeKey, nn.Module],
    game: Game,
    ply: int,
    goal: np.ndarray,
    mask: np.ndarray,
    method: str = "linear",
    layer: int | None = None,
    scale: float | None = None,
    later_layers: bool = True,
) -> FlipResult:
    """Set the ``mask`` squares (bool [64]) of the model's board after move ``ply`` of
    ``game`` to ``goal`` (int8 [64]: 0 empty, 1 mine, 2 theirs for the side to move), keeping
    the others as the model reads them; the legal sets after are the rules applied to the
    edited board, the same side to move (:func:`probes.interventions.cases.goal_cases`)."""
    game.check_position(ply)
    goal, mask = np.asarray(goal), np.asarray(mask)
    if goal.shape != (N_SQUARES,) or mask.shape != (N_SQUARES,):
        raise UserError(
            f"goal and mask are one value a square, [64]: got {goal.shape}, {mask.shape}"
        )
    moves, length = game.moves[None], np.array([game.length], np.int8)
    try:
        case = goal_cases(moves, length, [0], [ply], goal[None], mask[None])
    except ValueError as exc:
        raise UserError(f"{game.label} ply {ply}: {str(exc).split(': ', 1)[-1]}") from None
    return _edited(model, probes, case, method, layer, scale, later_layers)


def _edited(model, probes, case: Cases, method, layer, scale, later_layers) -> FlipResult:
    """One case's logits and legal sets before and after its edit from ``layer`` on."""
    hooks = hooks_by_layer(sorted({k.hook for k in probes if k.scheme == BOARD and k.hook}))
    if not hooks:
        raise UserError(f"no {BOARD} probes: fit them first (probes.fit_probe)")
    layer = list(hooks)[len(hooks) // 2] if layer is None else layer
    if layer not in hooks:
        raise UserError(f"layer {layer} is out of range: the probes cover layers {list(hooks)}")
    touched = edit_hooks(hooks, layer, later_layers)
    edit, setting = build_edit(method, probes, touched, scale)
    before = intervene(model, case, [], None)[0]
    after = intervene(model, case, touched, edit)[0]
    return FlipResult(
        before, after, legal_mask(int(case.legal_before[0])), legal_mask(int(case.legal_after[0])),
        torch.as_tensor(case.board[0]), torch.as_tensor(case.goal[0]), method, layer, setting,
        case,
    )  # fmt: skip
