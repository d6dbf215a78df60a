"""Run configuration: plain dataclasses, named presets and ``key=value`` overrides.

A preset names everything a run needs besides its input files; overrides such as
``lr=3e-4`` or ``model.n_layers=6`` change single fields and are type-checked against the
field they replace. The resolved config is saved beside every run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from othello.common import settings
from othello.common.errors import UserError
from othello.model.config import GPTConfig, LSTMConfig, MambaConfig, ModelConfig
from othello.model.kinds import config_from_dict


@dataclass
class TrainConfig:
    # the model's shape, of any kind (othello.model.kinds)
    model: ModelConfig = field(default_factory=GPTConfig)
    n_games: int = 2_000_000  # corpus size the pipeline generates for this preset
    batch_size: int = 256  # games per optimiser step, summed over all processes
    max_steps: int = 10_000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 200
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # "sampled": cross-entropy against the move actually played (Li et al.).
    # "legal": cross-entropy against the uniform distribution over the legal moves, which is the
    # exact next-move distribution of uniformly random games, so the expected loss and gradient
    # are those of "sampled" with the sampling noise removed.
    # "legal_set": binary cross-entropy per square, legal or not: the whole legal set is the
    # target at every position, not a share of one softmax (stronger signal per game).
    target: str = "sampled"
    seed: int = 0
    block_games: int = 1 << 16  # games read at a time; blocks are shuffled and sharded
    log_every: int = 20
    eval_every: int = 500
    eval_games: int = 2000
    checkpoint_every: int = 500
    # also keep the weights every N steps, RUN/snapshots/step-NNNNNN/model.pt, so probes can be
    # fitted along training (when does the board appear?); 0 keeps none
    snapshot_every: int = 0
    # and at about this many steps evenly spaced in log(step), from step 0 (the initialisation)
    # to the last (log_snapshot_steps): what the dynamics stage measures; 0 keeps none
    snapshot_log: int = 0
    amp: bool = True  # bf16 autocast, on CUDA only (unless amp_on_cpu)
    # bf16 autocast on the CPU too: slower on CPUs without bf16 units, so only the GPU
    # runbook's dry run sets it, to take the GPU run's autocast path on a CPU
    amp_on_cpu: bool = False
    compile: bool = False  # torch.compile the model
    # torch.compile's backend: inductor generates kernels (Triton on a GPU); the dry run uses
    # aot_eager, which traces the model and its backward the same way without the codegen
    compile_backend: str = "inductor"
    threads: int = 0  # CPU threads for torch (0: leave torch's default)
    prefetch: int = 0  # batches a thread prepares ahead (0: inline; a GPU wants a few)
    peak_tflops: float = 0.0  # the device's dense peak for MFU (0: from the GPU's name)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise UserError(f"target must be one of {TARGETS}, got {self.target!r}")

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        model = config_from_dict(data.pop("model"))
        return cls(model=model, **data)


TARGETS = ("sampled", "legal", "legal_set")
# log-spaced snapshots of the CPU presets: about 3 MB each for the cpu model (24: 80 MB); the GPU
# presets keep none by default (the paper model's 24 would be 2.4 GB, too much for a lease's
# bundle: docs/gpu.md), snapshot_log=24 asks for them
CPU_SNAPSHOTS = 24


def tokens_seen(config: dict, step: int) -> int | None:
    """Tokens a run had trained on at ``step``: games per step times the positions of each
    (the context); None for a run without a batch size (an imported model)."""
    if "batch_size" not in config:
        return None
    return int(step) * int(config["batch_size"]) * int(config["model"]["n_ctx"])


def log_snapshot_steps(max_steps: int, n: int) -> list[int]:
    """Step 0 (the initialisation) and ``n - 1`` steps evenly spaced in log(step) from 1 to
    ``max_steps``, rounded (fewer where rounding makes early steps coincide)."""
    if n <= 0 or max_steps <= 0:
        return []
    if n == 1:
        return [0]
    spaced = [round(max_steps ** (i / max(n - 2, 1))) for i in range(n - 1)]
    return sorted({0, *spaced, max_steps})


PRESETS: dict[str, TrainConfig] = {
    # seconds on a laptop: for tests and smoke runs
    "tiny": TrainConfig(
        model=GPTConfig(n_layers=2, d_model=64, n_heads=4),
        n_games=20_000,
        batch_size=64,
        max_steps=300,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=20,
        log_every=10,
        eval_every=100,
        eval_games=200,
        checkpoint_every=100,
        snapshot_log=CPU_SNAPSHOTS,
    ),
    # the default main job: about 19 minutes of training on 2 CPU cores. The per-square
    # "legal_set" target and small batches (more steps per second of CPU) are what reach 98.7%
    # in that time (the soft "legal" target: 97.3%; docs/benchmarks.md).
    "cpu": TrainConfig(
        model=GPTConfig(n_layers=4, d_model=128, n_heads=4),
        n_games=2_000_000,
        batch_size=64,
        max_steps=5800,
        lr=3e-3,
        min_lr=1e-4,
        warmup_steps=200,
        target="legal_set",
        eval_every=1000,
        eval_games=1000,
        checkpoint_every=500,
        snapshot_log=CPU_SNAPSHOTS,
    ),
    # Li et al.'s shape (8 layers, d_model 512, 8 heads) sized for the 5 minutes of training a
    # 15-minute GPU lease leaves (docs/gpu.md): 154 MFLOP per token x 1.28 M tokens/s (25% of
    # the 790 TFLOP/s bf16 an H200 here measured) x 300 s = 384 M tokens = 12,700 steps of 512
    # games; scripts/gpu_run.sh's calibrate step fits max_steps to what the card measures. The
    # per-square legal_set target, which learned fastest per step on the CPU.
    "paper": TrainConfig(
        model=GPTConfig(n_layers=8, d_model=512, n_heads=8),
        n_games=20_000_000,
        batch_size=512,
        max_steps=12_700,
        lr=1e-3,
        min_lr=1e-4,
        warmup_steps=1000,
        target="legal_set",
        eval_every=4000,
        eval_games=2000,
        checkpoint_every=2000,
        compile=True,
        prefetch=8,
    ),
}
# The recurrent kinds for make compare, each sized for the cpu preset's training time on the
# same 2 cores and trained on its corpus with its batch, schedule and target; steps scale with
# the trainer's tokens/s measured beside the GPT's (benchmarks/bench_train.py, 2026-12-04:
# GPT 17.4k, LSTM 25.7k, Mamba 8.1k). The LSTM has the GPT's depth and width (4 x 128); the
# Mamba 4 x 64, since at 4 x 128 its scan runs at a fifth of the GPT's tokens/s.
PRESETS["lstm-cpu"] = dataclasses.replace(
    PRESETS["cpu"], model=LSTMConfig(n_layers=4, d_model=128), max_steps=8_600
)
PRESETS["mamba-cpu"] = dataclasses.replace(
    PRESETS["cpu"], model=MambaConfig(n_layers=4, d_model=64), max_steps=2_700
)
# On a GPU, the same tokens as the paper preset (its batch and steps) at its depth and width;
# not compiled (torch.compile of the recurrences' per-position loops is not what was measured)
PRESETS["lstm-paper"] = dataclasses.replace(
    PRESETS["paper"], model=LSTMConfig(n_layers=8, d_model=512), compile=False
)
PRESETS["mamba-paper"] = dataclasses.replace(
    PRESETS["paper"], model=MambaConfig(n_layers=8, d_model=512), compile=False
)
PRESETS["lstm-tiny"] = dataclasses.replace(
    PRESETS["tiny"], model=LSTMConfig(n_layers=2, d_model=64)
)
PRESETS["mamba-tiny"] = dataclasses.replace(
    PRESETS["tiny"], model=MambaConfig(n_layers=2, d_model=32), max_steps=150
)


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """A copy of ``config`` with ``key=value`` (or ``model.key=value``) overrides applied;
    a model field may be named bare (``n_layers=6`` means ``model.n_layers=6``)."""
    aliases = {f.name: f"model.{f.name}" for f in dataclasses.fields(config.model)}
    return settings.apply_overrides(config, overrides, aliases)


def preset(name: str, overrides: list[str] | None = None) -> TrainConfig:
    """The named preset (``tiny``, ``cpu``, ``paper``) with ``key=value`` overrides:
    ``preset("tiny", ["max_steps=150"])``."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return apply_overrides(PRESETS[name], overrides or [])
