"""The model's shape: one dataclass per model kind, validated when it is made, recorded in
every run's config and checkpoint with its ``kind`` (:mod:`othello.model.kinds` maps a kind to
its dataclass and model; a file without one is a GPT's, as every file was before kinds)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from othello.common.errors import UserError
from othello.world.squares import N_POSITIONS
from othello.world.tokens import VOCAB_SIZE


class _ModelConfig:
    """What every kind's config shares: a kind name, and a dict that records it."""

    kind: ClassVar[str]

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]


@dataclass
class GPTConfig(_ModelConfig):
    kind: ClassVar[str] = "gpt"
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

    def describe(self) -> str:
        return f"GPT, {self.n_layers} layers, d_model {self.d_model}, {self.n_heads} heads"


@dataclass
class LSTMConfig(_ModelConfig):
    """A stack of LSTM layers on a residual stream: block l adds
    ``W_out LSTM_l(LayerNorm(x))`` to its input, so every layer has a residual stream of width
    ``d_model`` to probe and edit, as the GPT's blocks do."""

    kind: ClassVar[str] = "lstm"
    n_layers: int = 2
    d_model: int = 256
    d_hidden: int | None = None  # the LSTM's hidden size; default d_model
    n_ctx: int = N_POSITIONS
    vocab_size: int = VOCAB_SIZE
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if min(self.n_layers, self.d_model, self.hidden) < 1:
            raise UserError("n_layers, d_model and d_hidden must be at least 1")

    @property
    def hidden(self) -> int:
        return self.d_hidden or self.d_model

    def describe(self) -> str:
        return f"LSTM, {self.n_layers} layers, d_model {self.d_model}, hidden {self.hidden}"


@dataclass
class MambaConfig(_ModelConfig):
    """A stack of Mamba (S6) blocks on a residual stream (Gu & Dao 2023, as mambapy builds them:
    block l adds ``Mamba_l(RMSNorm(x))`` to its input)."""

    kind: ClassVar[str] = "mamba"
    n_layers: int = 4
    d_model: int = 128
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    n_ctx: int = N_POSITIONS
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.d_model < 1 or self.expand < 1 or self.d_state < 1:
            raise UserError("n_layers, d_model, expand and d_state must be at least 1")
        if self.d_conv < 2:  # mambapy's step keeps d_conv - 1 inputs: none would be wrong
            raise UserError(f"d_conv must be at least 2, got {self.d_conv}")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    def describe(self) -> str:
        return f"Mamba, {self.n_layers} layers, d_model {self.d_model}, d_state {self.d_state}"


ModelConfig = GPTConfig | LSTMConfig | MambaConfig  # any kind's (othello.model.kinds)
