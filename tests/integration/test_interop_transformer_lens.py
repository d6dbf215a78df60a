"""Interop checked against the real TransformerLens library, at the published Othello-GPT's
shape (8 layers, d_model 512, 8 heads, d_mlp 2048, 61 tokens, 59 positions, GELU).

Needs TransformerLens 3.x: ``pip install -e ".[tl3]"`` (CI installs it in its TL 3 environment);
skipped without it, and under 4.x (tests/integration/test_tl_bridge.py covers 4.x).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from othello.interop.tl_bridge import tl_major

transformer_lens = pytest.importorskip(
    "transformer_lens",
    reason='TransformerLens is not installed: pip install -e ".[tl3]" to run the interop checks',
)

if tl_major() >= 4:  # its HookedTransformer attribute raises ImportError
    pytest.skip(
        "TransformerLens 4.x has no HookedTransformer: tests/integration/test_tl_bridge.py "
        "checks 4.x; CI runs this file in its TransformerLens 3 environment",
        allow_module_level=True,
    )

from othello.interop.formats import from_transformer_lens, to_transformer_lens  # noqa: E402
from othello.model.gpt import GPT, GPTConfig  # noqa: E402
from othello.model.hooks import FINAL_SCALE, block_hooks  # noqa: E402

OTHELLO_GPT = dict(
    n_layers=8, d_model=512, d_head=64, n_heads=8, d_mlp=2048, d_vocab=61, n_ctx=59,
    act_fn="gelu",
)  # fmt: skip
TOLERANCE = 1e-4
# the residual stream, each LayerNorm's scale and the MLP's input (use_hook_mlp_in on)
NAMES = ("resid_pre", "resid_post", "ln1_scale", "ln2_scale", "mlp_in")
HOOKS = [h for name in NAMES for h in block_hooks(name, 8)] + [FINAL_SCALE]


def hooked_transformer(**cfg):
    with warnings.catch_warnings():  # 3.x announces HookedTransformer's removal in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        config = transformer_lens.HookedTransformerConfig(**cfg, use_hook_mlp_in=True)
        return transformer_lens.HookedTransformer(config)


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Every parameter random (LayerNorm scales near 1), so no weight is tested at its
    initial 0 or 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            is_scale = name.endswith(("ln1.w", "ln2.w", "ln_final.w", ".weight")) and p.ndim == 1
            p.copy_(1 + 0.1 * noise if is_scale else 0.05 * noise)


def tokens() -> torch.Tensor:
    return torch.randint(1, 61, (4, 59), generator=torch.Generator().manual_seed(5))


def compare(theirs, ours: GPT) -> None:
    x = tokens()
    with torch.no_grad():
        their_logits, their_cache = theirs.run_with_cache(x, names_filter=lambda n: n in HOOKS)
        our_logits, our_cache = ours.run_with_cache(x, HOOKS)
    assert (their_logits - our_logits).abs().max() <= TOLERANCE
    for hook in HOOKS:
        assert (their_cache[hook] - our_cache[hook]).abs().max() <= TOLERANCE, hook


@pytest.mark.parametrize("norm", ["LN", "LNPre"])
def test_hooked_transformer_weights_load_into_our_model(norm):
    theirs = hooked_transformer(**OTHELLO_GPT, normalization_type=norm).eval()
    randomise(theirs, seed=1)
    ours = from_transformer_lens(theirs.state_dict())
    assert ours.cfg.n_layers == 8 and ours.cfg.d_model == 512 and ours.cfg.n_heads == 8
    compare(theirs, ours)


def test_our_export_loads_strictly_into_hooked_transformer():
    torch.manual_seed(0)
    ours = GPT(GPTConfig(n_layers=8, d_model=512, n_heads=8)).eval()
    randomise(ours, seed=2)
    state, cfg = to_transformer_lens(ours)
    theirs = hooked_transformer(**cfg).eval()
    theirs.load_state_dict(state, strict=True)
    compare(theirs, ours)
