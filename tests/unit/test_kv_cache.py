"""Incremental decoding: prefill + step through a KVCache gives the full forward's logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.model.gpt import GPT, GPTConfig
from othello.model.hooks import act_name
from othello.model.kv_cache import KVCache

CFG = GPTConfig(n_layers=3, d_model=48, n_heads=4, n_ctx=16)
ATOL = 1e-5


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(CFG).eval()


def random_tokens(batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(1, 61, (batch, CFG.n_ctx), generator=torch.Generator().manual_seed(seed))


def padded_prefix(full: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The first ``lengths[b]`` tokens of each row, right-padded with other random tokens."""
    width = int(lengths.max())
    junk = torch.randint(1, 61, (full.shape[0], width), generator=torch.Generator().manual_seed(9))
    keep = torch.arange(width) < lengths[:, None]
    return torch.where(keep, full[:, :width], junk)


@torch.no_grad()
def test_prefill_then_steps_equal_the_full_forward(model):
    full = random_tokens(6)
    lengths = torch.tensor([1, 3, 7, 10, 15, 4])
    expected = model(full)
    cache = KVCache(CFG, 6)
    prefill = model.prefill(padded_prefix(full, lengths), cache)
    for b, length in enumerate(lengths.tolist()):  # prefill is the forward on the real tokens
        assert torch.allclose(prefill[b, :length], expected[b, :length], atol=ATOL)
    rows = torch.arange(6)
    for t in range(CFG.n_ctx - 1):  # every row steps each call, each at its own position
        positions = torch.clamp(lengths + t, max=CFG.n_ctx - 1)
        logits = model.step(full[rows, positions], positions, cache)
        assert logits.shape == (6, CFG.vocab_size)
        assert torch.allclose(logits, expected[rows, positions], atol=ATOL)


@torch.no_grad()
def test_a_step_mixing_positions_matches_each_row_alone(model):
    full = random_tokens(4, seed=2)
    lengths = torch.tensor([0, 1, 8, 15])  # row 0 has no real prefix: it starts at position 0
    cache = KVCache(CFG, 4)
    model.prefill(padded_prefix(full, lengths), cache)
    rows = torch.arange(4)
    together = model.step(full[rows, lengths], lengths, cache.select(rows))
    for b in range(4):
        alone = model.step(full[b : b + 1, lengths[b]], lengths[b : b + 1], cache.select([b]))
        assert torch.allclose(together[b], alone[0], atol=ATOL)
        assert torch.allclose(alone[0], model(full[b : b + 1, : lengths[b] + 1])[0, -1], atol=ATOL)


@torch.no_grad()
def test_select_repeats_rows_that_then_go_their_own_way(model):
    prefixes, length, repeats = random_tokens(2, seed=3)[:, :5], 5, 3
    cache = KVCache(CFG, 2)
    model.prefill(prefixes, cache)
    samples = cache.select(np.arange(2).repeat(repeats))  # numpy rows work too
    assert samples.batch == 6 and cache.batch == 2
    tails = torch.randint(1, 61, (6, 4), generator=torch.Generator().manual_seed(4))
    full = torch.cat([prefixes.repeat_interleave(repeats, 0), tails], dim=1)
    expected = model(full)
    for t in range(4):
        positions = torch.full((6,), length + t)
        logits = model.step(full[:, length + t], positions, samples)
        assert torch.allclose(logits, expected[:, length + t], atol=ATOL)
    # the selected cache is a copy: the original still continues its own prefixes
    original = model.step(tails[::repeats, 0], torch.full((2,), length), cache)
    assert torch.allclose(original, expected[::repeats, length], atol=ATOL)


@torch.no_grad()
def test_positions_outside_the_context_are_refused(model):
    cache = KVCache(CFG, 2)
    model.prefill(random_tokens(2)[:, :4], cache)
    token = torch.tensor([5, 6])
    with pytest.raises(ValueError, match="context window"):
        model.step(token, torch.tensor([4, CFG.n_ctx]), cache)
    with pytest.raises(ValueError, match="context window"):
        model.step(token, torch.tensor([-1, 4]), cache)
    with pytest.raises(ValueError, match="n_ctx"):
        model.prefill(torch.ones(2, CFG.n_ctx + 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="rows"):
        model.prefill(random_tokens(3), cache)


@torch.no_grad()
def test_hooks_run_and_edit_during_prefill_and_step(model):
    full, length = random_tokens(3, seed=5), 6
    shapes, patterns = [], []
    ablate = [(act_name("attn_out", 1), lambda x, hook: torch.zeros_like(x))]
    record = [
        (act_name("resid_post", 0), lambda x, hook: shapes.append(tuple(x.shape))),
        (act_name("pattern", 2), lambda x, hook: patterns.append(x)),  # forces the pattern path
    ]
    expected = model.run_with_hooks(full, ablate)
    cache = KVCache(CFG, 3)
    with model.hooks(ablate + record):
        model.prefill(full[:, :length], cache)
        logits = model.step(full[:, length], torch.full((3,), length), cache)
    assert shapes == [(3, length, CFG.d_model), (3, 1, CFG.d_model)]
    step_pattern = patterns[-1]
    assert step_pattern.shape == (3, CFG.n_heads, 1, CFG.n_ctx)
    assert torch.allclose(step_pattern.sum(-1), torch.ones(3, CFG.n_heads, 1))
    assert (step_pattern[..., length + 1 :] == 0).all()
    assert torch.allclose(logits, expected[:, length], atol=ATOL)  # the ablation took effect
    assert not torch.allclose(logits, model(full)[:, length], atol=1e-3)


@torch.no_grad()
def test_a_step_again_at_the_same_position_replaces_the_first(model):
    """What the intervention resume relies on: a step writes its own key and value over
    whatever the cache held at its position, so many edits can step from one unedited run."""
    full, length = random_tokens(3, seed=6), 5
    positions = torch.full((3,), length)
    cache = KVCache(CFG, 3)
    model.prefill(full[:, : length + 1], cache)  # holds the real key at ``length`` too
    other = model.step(torch.tensor([7, 8, 9]), positions, cache)
    logits = model.step(full[:, length], positions, cache)
    assert torch.allclose(logits, model(full[:, : length + 1])[:, -1], atol=ATOL)
    assert not torch.allclose(other, logits, atol=1e-3)
