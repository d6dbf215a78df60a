"""What a probe can be asked to read off the residual stream: label schemes over 64 squares."""

from __future__ import annotations

from dataclasses import dataclass

from othello.common.errors import UserError


@dataclass(frozen=True)
class Scheme:
    label: str  # the cache's label dataset it reads
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)


SCHEMES: dict[str, Scheme] = {
    # the board from the view of the side to move next (Nanda et al.): linear
    "mine_theirs": Scheme("board_relative", ("empty", "mine", "theirs")),
    # the board in absolute colours (Li et al.): needs a nonlinear probe
    "black_white": Scheme("board_colour", ("empty", "black", "white")),
    "flipped": Scheme("flipped", ("kept", "flipped")),
    "legal": Scheme("legal", ("illegal", "legal")),
}


def scheme(name: str) -> Scheme:
    if name not in SCHEMES:
        raise UserError(f"unknown probe scheme {name!r}; choose from {sorted(SCHEMES)}")
    return SCHEMES[name]
