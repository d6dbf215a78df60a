"""transformer_lens_bridge against the installed TransformerLens, 3.x or 4.x: our export gives
the same logits and the same activations by hook name; on 4.x, the published checkpoint's
layout in an offline hub cache boots into a bridge equal to our importer's model.

Needs the optional extra (``pip install -e ".[tl]"``); skipped without it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest
import torch

transformer_lens = pytest.importorskip(
    "transformer_lens",
    reason='TransformerLens is not installed: pip install -e ".[tl]" to run the bridge checks',
)

from othello.interop.formats import from_transformer_lens, to_transformer_lens  # noqa: E402
from othello.interop.hub import PUBLISHED  # noqa: E402
from othello.interop.tl_bridge import boot_published_tl, tl_major, to_hooked  # noqa: E402
from othello.model.gpt import GPT, GPTConfig  # noqa: E402
from othello.model.hooks import (  # noqa: E402
    BLOCK_HOOKS,
    EMBED,
    FINAL_SCALE,
    POS_EMBED,
    block_hooks,
)

MAJOR = tl_major()
TOLERANCE = 1e-4
SMALL = dict(n_layers=2, d_model=64, n_heads=4)
PUBLISHED_SHAPE = dict(n_layers=8, d_model=512, n_heads=8)  # d_mlp 2048, 61 tokens, 59 positions
COMMIT = "0123456789abcdef0123456789abcdef01234567"
tl4_only = pytest.mark.skipif(MAJOR is None or MAJOR < 4, reason="TransformerLens 4.x only")


def random_gpt(seed: int, **shape) -> GPT:
    """Every parameter random (LayerNorm scales near 1): no weight is tested at 0 or 1."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**shape)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = name.endswith(".weight") and p.ndim == 1
            p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g) if scale else
                    0.05 * torch.randn(p.shape, generator=g))  # fmt: skip
    return model


def tokens(batch: int = 3) -> torch.Tensor:
    return torch.randint(1, 61, (batch, 59), generator=torch.Generator().manual_seed(5))


def all_hooks(n_layers: int) -> list[str]:
    """Every hook of ours, each LayerNorm's ``hook_scale`` and ``hook_mlp_in`` included."""
    blocks = [h for name in BLOCK_HOOKS for h in block_hooks(name, n_layers)]
    return [EMBED, POS_EMBED, FINAL_SCALE] + blocks


def assert_same(theirs, ours: GPT, hooks: list[str]) -> None:
    x = tokens()
    with torch.no_grad():
        their_logits, their_cache = theirs.run_with_cache(x, names_filter=lambda n: n in hooks)
        our_logits, our_cache = ours.run_with_cache(x, hooks)
    assert (their_logits - our_logits).abs().max() <= TOLERANCE
    for hook in hooks:
        assert hook in their_cache, f"TransformerLens {MAJOR}.x has no hook {hook}"
        # ours caches hook_pos_embed unbatched [pos, d_model]; TransformerLens [batch, ...]
        ours_at = our_cache[hook].expand_as(their_cache[hook])
        assert (their_cache[hook] - ours_at).abs().max() <= TOLERANCE, hook


def published_format(model: GPT) -> dict[str, torch.Tensor]:
    """The published files' format: a HookedTransformer LNPre state dict (no LayerNorm
    weights; the 2023 files hold an [n_ctx, n_ctx] causal mask buffer per block)."""
    state, _ = to_transformer_lens(model, attn_mask="causal")
    norms = (".ln1.w", ".ln1.b", ".ln2.w", ".ln2.b", "ln_final.w", "ln_final.b")
    return {k: v for k, v in state.items() if not k.endswith(norms)}


def hub_cache(root: Path, monkeypatch, repo_id: str, files: dict[str, bytes]) -> None:
    """An offline hub cache in the hub's own layout holding ``files`` of ``repo_id``:
    models--OWNER--NAME/{blobs/SHA256, snapshots/COMMIT/FILE -> blob, refs/main}."""
    repo = root / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        (repo / "snapshots" / COMMIT / name).symlink_to(f"../../blobs/{blob}")
    import huggingface_hub.constants as hub  # read at its import, so patched as well as set

    monkeypatch.setenv("HF_HOME", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(root / "hub"))


def saved(state: dict[str, torch.Tensor], path: Path) -> bytes:
    torch.save(state, path)
    return path.read_bytes()


def test_tl_major_is_the_installed_version():
    assert MAJOR in (3, 4)


def test_export_gives_equal_logits_and_activations():
    ours = random_gpt(1, **SMALL)
    theirs = to_hooked(ours)
    expected = "HookedTransformer" if MAJOR < 4 else "TransformerBridge"
    assert type(theirs).__name__ == expected
    assert_same(theirs, ours, all_hooks(SMALL["n_layers"]))


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("resid_pre", torch.zeros_like),
        ("mlp_in", torch.zeros_like),  # the MLP's input alone
        ("ln2_scale", lambda s: 2 * s),  # a replaced scale divides the centred input
    ],
)
def test_hook_edits_change_both_models_alike(name, edit):
    ours = random_gpt(2, **SMALL)
    theirs = to_hooked(ours)
    hook = block_hooks(name, 2)[1]

    def edited(x, hook):
        return edit(x)

    with torch.no_grad():
        their_logits = theirs.run_with_hooks(tokens(), fwd_hooks=[(hook, edited)])
        our_logits = ours.run_with_hooks(tokens(), [(hook, edited)])
        assert (our_logits - ours(tokens())).abs().max() > 100 * TOLERANCE  # a real edit
    assert (their_logits - our_logits).abs().max() <= TOLERANCE


def test_export_at_the_published_shape():
    ours = random_gpt(3, **PUBLISHED_SHAPE)
    hooks = [h for name in ("resid_pre", "resid_post", "pattern") for h in block_hooks(name, 8)]
    assert_same(to_hooked(ours), ours, hooks)


@tl4_only
def test_boot_tl_legacy_cannot_load_the_published_repo(tmp_path, monkeypatch):
    """4.x's legacy loader lists the repo online and wants ``*final.pth``: the published repo
    (``synthetic_model.pth``) fails either way, even with a config.json beside it."""
    import huggingface_hub
    from transformer_lens.model_bridge import TransformerBridge

    ours = random_gpt(4, **SMALL)
    config = {**to_transformer_lens(ours)[1], "attn_only": False, "normalization": "LNPre"}
    published = PUBLISHED["synthetic"]
    weights = saved(published_format(ours), tmp_path / "w.pth")
    files = {"config.json": json.dumps(config).encode(), published.filename: weights}
    hub_cache(tmp_path, monkeypatch, published.repo_id, files)
    with pytest.raises(huggingface_hub.errors.OfflineModeIsEnabled):
        TransformerBridge.boot_tl_legacy(published.repo_id)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo: list(files))
    with pytest.raises(FileNotFoundError, match=r"final\.pth"):
        TransformerBridge.boot_tl_legacy(published.repo_id)


@tl4_only
def test_boot_tl_legacy_loads_a_legacy_layout_as_our_importer_does(tmp_path, monkeypatch):
    """The layout boot_tl_legacy does take (config.json and ``*_final.pth``), offline once the
    repo listing is served from the cache: same logits and activations as our importer."""
    import huggingface_hub
    from transformer_lens.model_bridge import TransformerBridge

    model = random_gpt(5, **SMALL)
    state = published_format(model)
    config = {**to_transformer_lens(model)[1], "attn_only": False, "normalization": "LNPre"}
    files = {"config.json": json.dumps(config).encode(),
             "model_final.pth": saved(state, tmp_path / "w.pth")}  # fmt: skip
    hub_cache(tmp_path, monkeypatch, PUBLISHED["synthetic"].repo_id, files)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo: list(files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the route is quiet; a new warning is news
        theirs = TransformerBridge.boot_tl_legacy(PUBLISHED["synthetic"].repo_id)
    assert theirs.cfg.normalization_type == "LNPre"
    theirs.set_use_hook_mlp_in(True)  # off by default, as in HookedTransformer
    ours = from_transformer_lens(state)
    assert_same(theirs, ours, all_hooks(SMALL["n_layers"]))


@tl4_only
def test_boot_published_tl_offline_equals_our_importer(tmp_path, monkeypatch):
    """The published repo's layout (synthetic_model.pth alone), at the published shape."""
    state = published_format(random_gpt(6, **PUBLISHED_SHAPE))
    published = PUBLISHED["synthetic"]
    files = {published.filename: saved(state, tmp_path / "w.pth")}
    hub_cache(tmp_path, monkeypatch, published.repo_id, files)
    theirs = boot_published_tl("synthetic")
    assert theirs.cfg.normalization_type == "LNPre" and theirs.cfg.n_layers == 8
    hooks = [h for name in ("resid_pre", "resid_post", "pattern") for h in block_hooks(name, 8)]
    assert_same(theirs, from_transformer_lens(state), hooks)
