"""The transcoder stage as a registered :class:`probes.stage_spec.Stage`: one transcoder per MLP
layer of the model and of its random-init control, scored as the SAEs are, written in
SAELens's and circuit-tracer's formats."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

from othello.common.hashing import file_sha256
from probes.sae.model import SAEConfig
from probes.stage_spec import Stage, model_sha256
from probes.transcoders.fit import fit_transcoders
from probes.transcoders.report import all_layers_line, layer_rows, section_lines
from probes.transcoders.result import TranscoderResult


def default_transcoder() -> SAEConfig:
    """The cpu preset's transcoder (chosen on the cpu model's validation games:
    docs/benchmarks.md)."""
    return SAEConfig(architecture="jumprelu_transcoder", expansion=4, epochs=10,
                     chunk_games=512)  # fmt: skip


@dataclass
class TranscoderStageConfig:
    """How many games' activations the transcoders read (as the probes': the corpus's
    validation split, 80/10/10 into training, validation and test games), on how many test
    games the model runs with them spliced in, the control, and each transcoder's settings
    (:class:`probes.sae.model.SAEConfig`: ``transcoder.architecture=topk_transcoder``,
    ``transcoder.k=16``, ``transcoder.sparsity_coefficient=0.1``, ...)."""

    games: int = 3000
    spliced_games: int = 300
    control: bool = True
    acts: str | None = None  # an activation cache with the transcoder hooks (else in memory)
    control_acts: str | None = None  # the random-init model's (else in memory)
    progress: bool = True
    target: str | None = None  # the model's training target (None: the run's; in memory sampled)
    transcoder: SAEConfig = field(default_factory=default_transcoder)


TINY = {"games": 150, "spliced_games": 15, "transcoder.epochs": 2, "transcoder.chunk_games": 64}


class TranscoderStage(Stage):
    name = "transcoders"
    question = "Can sparse transcoders stand in for the MLPs, and what board features do they use?"
    config = TranscoderStageConfig
    presets = {"tiny": TINY}
    order = 45

    def measure(self, model, games, inputs: dict, cfg: TranscoderStageConfig) -> TranscoderResult:
        """Every MLP layer's transcoder on ``cfg.games`` games' activations held in memory,
        and the control's; a model without MLPs (an LSTM, a Mamba) is refused in one line;
        nothing is written."""
        began = time.perf_counter()
        fitted, baseline = fit_transcoders(
            model, games, None, cfg.transcoder, cfg.games, cfg.target or "sampled",
            cfg.spliced_games, cfg.control, cfg.progress, cfg.acts, cfg.control_acts,
        )  # fmt: skip
        about = {
            "architecture": cfg.transcoder.architecture,
            "d_transcoder": next(iter(fitted.transcoders.values())).d_sae,
            "games": fitted.games,
            "settings": asdict(cfg),
            "model_sha256": model_sha256(model),
            "games_sha256": file_sha256(games),
            "seconds": round(time.perf_counter() - began, 1),
        }
        return TranscoderResult.assemble(fitted, baseline, about)

    def load(self, folder: str | os.PathLike) -> TranscoderResult:
        return TranscoderResult.load(folder)

    def section(self, part: dict) -> list[str]:
        return section_lines(part)

    def printed(self, result: TranscoderResult) -> list[str]:
        m = result.metrics
        return [*layer_rows(m), all_layers_line(m), f"{m['seconds']:.0f} s"]
