"""The model's shape: one dataclass, validated when it is made, recorded in every run's
config and checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from othello.common.errors import UserError
from othello.world.squares import N_POSITIONS
from othello.world.tokens import VOCAB_SIZE


@dataclass
class GPTConfig:
    n_layers: int = 8
    d_model: int = 512
    n_heads: int = 8
    d_mlp: int | None = None  # default 4 * d_model
    n_ctx: int = N_POSITIONS  # the model predicts moves 2..60 from the ones before
    vocab_size: int = VOCAB_SIZE
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise UserError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    @property
    def mlp_width(self) -> int:
        return self.d_mlp or 4 * self.d_model

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)
