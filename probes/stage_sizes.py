"""How many games and cases the analysis stages take from each training preset's corpus
(``make all``, ``make analyze`` and the GPU runbook read them). Each must fit the corpus's
splits, since asking for more than a split holds is refused."""

from __future__ import annotations

from dataclasses import dataclass

from othello.common.errors import UserError


@dataclass(frozen=True)
class StageSizes:
    """The analysis stages' sizes for one preset."""

    probe_games: int  # games cached for probes (the corpus's validation split)
    n_cases: int  # intervention cases per reported set (natural from the test split)
    tune_cases: int  # cases settings, layers and methods are chosen on (validation split)


STAGE_SIZES: dict[str, StageSizes] = {
    "tiny": StageSizes(probe_games=150, n_cases=100, tune_cases=100),  # 20k games: ~200 each
    "cpu": StageSizes(probe_games=3000, n_cases=1000, tune_cases=200),
    "paper": StageSizes(probe_games=3000, n_cases=1000, tune_cases=200),
}


def stage_sizes(preset: str) -> StageSizes:
    if preset not in STAGE_SIZES:
        raise UserError(f"no stage sizes for preset {preset!r}; known: {sorted(STAGE_SIZES)}")
    return STAGE_SIZES[preset]
