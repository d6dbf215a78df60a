"""The one owner of hook names: names equal the model's hook points, residual layers round
trip, and registries refuse a second plugin of the same name."""

from __future__ import annotations

import pytest

from othello.common.errors import UserError
from othello.common.registry import Registry
from othello.model.config import GPTConfig
from othello.model.gpt import GPT
from othello.model.hooks import (
    BLOCK_HOOKS,
    EMBED,
    FINAL_SCALE,
    POS_EMBED,
    act_name,
    block_hooks,
    frozen_hooks,
    hooks_by_layer,
    layer_name,
    resid_hooks,
    resid_layer,
)
from probes.kinds import KINDS


def test_every_name_is_a_hook_point_of_the_model():
    model = GPT(GPTConfig(n_layers=3, d_model=32, n_heads=4))
    names = [EMBED, POS_EMBED] + [act_name(n, 2) for n in BLOCK_HOOKS]
    assert set(names) <= set(model.hook_points)
    assert block_hooks("pattern", 3) == [f"blocks.{i}.attn.hook_pattern" for i in range(3)]
    assert act_name("ln2_scale", 1) == "blocks.1.ln2.hook_scale"  # TransformerLens's names
    assert act_name("mlp_in", 1) == "blocks.1.hook_mlp_in"
    frozen = frozen_hooks(3)
    assert set(frozen) <= set(model.hook_points) and len(frozen) == 3 * 3 + 1
    assert frozen[:3] == ["blocks.0.ln1.hook_scale", "blocks.0.attn.hook_pattern",
                          "blocks.0.ln2.hook_scale"] and frozen[-1] == FINAL_SCALE  # fmt: skip


def test_residual_layers_round_trip():
    hooks = resid_hooks(4)
    assert hooks[0] == "blocks.0.hook_resid_pre" and hooks[4] == "blocks.3.hook_resid_post"
    assert {resid_layer(h) for h in hooks.values()} == set(range(5))
    assert hooks_by_layer(list(reversed(hooks.values()))) == hooks
    assert (
        layer_name(hooks[2]) == "2"
        and layer_name("blocks.1.mlp.hook_post") == "blocks.1.mlp.hook_post"
    )
    with pytest.raises(UserError, match="not a residual-stream hook"):
        resid_layer("blocks.x.hook_resid_pre")
    with pytest.raises(UserError, match="needs a block number"):
        act_name("resid_pre")


def test_a_registry_refuses_a_duplicate_name():
    with pytest.raises(UserError, match="'linear' is already registered"):
        KINDS.register(KINDS["linear"])
    registry = Registry("toy")
    item = type("Item", (), {"name": "a"})()
    registry.register(item)
    del registry["a"]
    assert registry.register(item) is item
