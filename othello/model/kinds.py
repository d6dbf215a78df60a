"""Model kinds: the GPT, an LSTM and a Mamba, each one registry entry (its config dataclass,
how to build it, which parts it has), so training, loading and every stage read a model of any
kind the same way.

A kind's model is a :class:`~othello.model.hooked.HookedModel`: the same residual-stream hook
names per layer (:mod:`othello.model.hooks`), ``run_with_cache`` / ``run_with_hooks``, and the
decoding protocol. What differs is said by ``parts``: a stage that needs attention heads or MLP
neurons asks :func:`require` and refuses any other kind with one line.

>>> register_model_kind(ModelKind("gru", GRUConfig, "my_models.gru:GRU", recurrent=True))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from othello.common.errors import UserError
from othello.common.registry import Registry
from othello.model.config import GPTConfig, LSTMConfig, MambaConfig

HEADS = "heads"  # attention heads (hook_z, hook_pattern, W_O per head)
NEURONS = "neurons"  # MLP neurons (mlp.hook_post)
PART_NAMES = {HEADS: "attention heads", NEURONS: "MLP neurons"}


@dataclass(frozen=True)
class ModelKind:
    """One kind of model. ``model`` is ``"module:Class"`` (imported when first built, so an
    optional dependency is needed only by whoever builds that kind); ``extra`` names the pip
    extra that provides it, for the error when it is missing."""

    name: str
    config: type
    model: str
    parts: frozenset[str] = field(default_factory=frozenset)
    extra: str | None = None
    description: str = ""
    recurrent: bool = False  # a state carries each position to the next (an edit reaches on)

    def __post_init__(self) -> None:
        if getattr(self.config, "kind", None) != self.name:
            raise ValueError(f"model kind {self.name!r}: its config's kind must be {self.name!r}")

    def model_class(self) -> Callable[[Any], Any]:
        module, _, name = self.model.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError as exc:
            hint = f" (pip install -e '.[{self.extra}]')" if self.extra else ""
            raise UserError(f"model kind {self.name!r} needs {exc.name}{hint}") from exc


MODEL_KINDS = Registry("model kind")
register_model_kind = MODEL_KINDS.register


def model_kind(name: str) -> ModelKind:
    """The registered kind of that name (an unknown one is refused, naming the choices)."""
    return MODEL_KINDS.lookup(name)


def config_from_dict(data: dict) -> Any:
    """The config dataclass a saved dict describes (no ``kind``: a GPT's, as before kinds)."""
    data = dict(data)
    kind = model_kind(data.pop("kind", GPTConfig.kind))
    try:
        return kind.config(**data)
    except TypeError as exc:
        raise UserError(f"not a {kind.name} config: {exc}") from exc


def build_model(cfg: Any) -> Any:
    """A freshly initialised model of ``cfg``'s kind."""
    return model_kind(cfg.kind).model_class()(cfg)


def random_init(model: Any, seed: int = 0) -> Any:
    """``model``'s architecture at random initialisation, on its device in eval mode: the
    weights :func:`othello.model.checkpoint.control_model` writes (the same seed), made without
    writing. The control every stage sets beside a trained model."""
    import torch  # the registry itself needs no torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        control = build_model(model.cfg)
    return control.to(next(model.parameters()).device).eval()


def kind_of(model: Any) -> ModelKind:
    """The registered kind of a built model (from its config)."""
    return model_kind(model.cfg.kind)


def missing_part(model: Any, part: str) -> str:
    """Why a part of a stage that needs ``part`` (HEADS or NEURONS) does not run on ``model``."""
    return f"needs {PART_NAMES[part]}; a {kind_of(model).name} model has none"


def not_run_notes(kind_name: str) -> list[str]:
    """What the report says a model of that kind does not run, and how its edits differ."""
    kind = model_kind(kind_name)
    missing = [PART_NAMES[p] for p in (HEADS, NEURONS) if p not in kind.parts]
    notes = []
    if missing:
        notes.append(
            f"a {kind.name} model has no {' or '.join(missing)}: the circuit laboratory (heads, "
            "direct logit attribution, the neuron atlas) is not run on it (the world-model "
            "stage names what it skips); its patching maps (residual layer x position) come "
            "from the world-model stage's attribution patching"
        )
    if kind.recurrent:
        notes.append(
            f"an edit of a {kind.name} model's layer at a position also reaches every later "
            "position through its recurrent state (a GPT's reaches them only through attention "
            "to that position); the flip is read at the edited position, as for the GPT"
        )
    return notes


def require(model: Any, part: str, what: str) -> None:
    """Refuse, in one line, a model without ``part`` for ``what``."""
    if part not in kind_of(model).parts:
        raise UserError(f"{what} {missing_part(model, part)}")


register_model_kind(
    ModelKind(
        GPTConfig.kind,
        GPTConfig,
        "othello.model.gpt:GPT",
        frozenset({HEADS, NEURONS}),
        description="decoder-only transformer (Li et al.; Nanda et al.)",
    )
)
register_model_kind(
    ModelKind(
        LSTMConfig.kind,
        LSTMConfig,
        "othello.model.lstm:LSTM",
        description="PyTorch's LSTM layers on a residual stream",
        recurrent=True,
    )
)
register_model_kind(
    ModelKind(
        MambaConfig.kind,
        MambaConfig,
        "othello.model.mamba:Mamba",
        extra="mamba",
        description="Mamba (S6) blocks from mambapy on a residual stream",
        recurrent=True,
    )
)
