"""Sparse autoencoders: a known dictionary is recovered, the board metrics give hand-computed
numbers, an identity SAE spliced in changes nothing (in a GPT, an LSTM and a Mamba), and a
resumed run ends where an uninterrupted one does. Transcoders (an input hook and another
output hook): a planted exact map spliced in changes nothing, a sparse map between two hooks
is learned, and the saved cfg.json carries both hooks as SAELens does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.model.hooks import act_name
from probes.acts.arrays import ArraySource
from probes.sae.architectures import (
    ARCHITECTURES,
    SAEArchitecture,
    register_architecture,
    resample_dead,
    topk_activate,
    topk_penalty,
)
from probes.sae.evaluate import board_metrics, reconstruction, spliced
from probes.sae.model import SAEConfig, SparseAutoencoder, load_sae, sae_hooks, save_sae
from probes.sae.train import train_sae

HOOK = "blocks.0.hook_resid_pre"


def source_of(acts: np.ndarray, labels: dict | None = None, seed: int = 0) -> ArraySource:
    """Games of 59 positions; 80/10/10 split by game."""
    n_games = acts.shape[0]
    split = np.zeros(n_games, np.int8)
    split[int(0.8 * n_games) :] = 1
    split[int(0.9 * n_games) :] = 2
    valid = np.ones(acts.shape[:2], bool)
    return ArraySource({HOOK: acts.astype(np.float32)}, labels or {}, valid, split)


def sparse_codes(rng: np.random.Generator, n: int, atoms: int, active: int) -> np.ndarray:
    """[n, atoms]: ``active`` atoms of each row on, at 0.5 to 2."""
    codes = np.zeros((n, atoms))
    for row in range(len(codes)):
        chosen = rng.choice(atoms, active, replace=False)
        codes[row, chosen] = rng.uniform(0.5, 2.0, active)
    return codes


def sparse_dictionary_data(n_games=400, d=32, atoms=48, active=3, seed=0):
    rng = np.random.default_rng(seed)
    dictionary = rng.normal(size=(atoms, d))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    codes = sparse_codes(rng, n_games * 59, atoms, active)
    return (codes @ dictionary).reshape(n_games, 59, d), dictionary


def test_a_known_sparse_dictionary_is_recovered(tmp_path):
    acts, dictionary = sparse_dictionary_data()
    cfg = SAEConfig(architecture="topk", k=3, expansion=4, epochs=8, lr=3e-3, chunk_games=64,
                    dead_after=20_000)  # fmt: skip
    sae, record = train_sae(source_of(acts), HOOK, cfg, tmp_path, progress=False)
    assert record["finished"] and record["steps"] > 0
    decoder = sae.W_dec.detach().numpy()
    norms = np.linalg.norm(decoder, axis=1)  # unit rows in training; the input scale folded in
    assert np.allclose(norms, 1 / record["input_scale"], rtol=1e-4)
    cosines = dictionary @ (decoder / norms[:, None]).T
    best = np.abs(cosines).max(1)  # each true atom's closest feature
    assert (best > 0.9).mean() >= 0.9, np.sort(best)[:8]
    figures = reconstruction(sae, source_of(acts), HOOK)
    assert figures["explained_variance"] > 0.9 and figures["l0"] <= 3


def test_relu_sae_with_l1_trains_and_resamples(tmp_path):
    acts, _ = sparse_dictionary_data(n_games=200)
    cfg = SAEConfig(architecture="standard", l1_coefficient=3e-3, expansion=4, epochs=12,
                    lr=3e-3, chunk_games=64, resample_every=20, dead_after=2000)  # fmt: skip
    sae, _ = train_sae(source_of(acts), HOOK, cfg, tmp_path, progress=False)
    figures = reconstruction(sae, source_of(acts), HOOK)
    assert figures["explained_variance"] > 0.8 and figures["dead_features"] < 0.5


def identity_sae(d: int, architecture: str = "standard") -> SparseAutoencoder:
    """relu(x) - relu(-x) = x: features are the positive and negative parts of x."""
    sae = SparseAutoencoder(d, 2 * d, architecture, k=2 * d)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def test_board_metrics_by_hand():
    """Activations are the one-hot mine/theirs board (feature s*3+c fires for square s in
    class c), except that square 0's 'mine' feature also fires on 'theirs'."""
    rng = np.random.default_rng(0)
    board = rng.integers(0, 3, (200, 59, 64)).astype(np.int8)
    acts = (board[..., None] == np.arange(3)).reshape(200, 59, 192).astype(np.float32)
    acts[..., 1] = np.maximum(acts[..., 1], acts[..., 2])  # (A1, mine) fires on theirs too
    source = source_of(acts, {"board_relative": board})
    metrics = board_metrics(identity_sae(192), source, HOOK, names=("mine_theirs",))["mine_theirs"]
    test = board[180:, :, 0]  # the test split: games 180..199
    mine, theirs = int((test == 1).sum()), int((test == 2).sum())
    expected_f1 = 2 * mine / (2 * mine + theirs)  # recall 1, precision mine / (mine + theirs)
    assert metrics["test_f1_per_property"][1] == pytest.approx(expected_f1, abs=1e-4)
    assert metrics["coverage"] == pytest.approx((191 + expected_f1) / 192, abs=1e-6)
    assert metrics["properties_scored"] == 192
    # the exact 'theirs' classifier outranks the leaky 'mine' one, so the board is whole
    assert metrics["board_reconstruction"] == 1.0


def test_an_identity_sae_spliced_in_leaves_the_model_unchanged(tiny_run, tiny_corpus, tmp_path):
    from othello.model.checkpoint import load_model_file
    from probes.acts.reader import ActsFile
    from probes.acts.writer import write_cache

    acts_path = write_cache(tiny_run, tiny_corpus, tmp_path / "a.h5", n_games=60, progress=False)
    model = load_model_file(tiny_run)
    with ActsFile(acts_path) as acts:
        hook = acts.hooks[1]
        result = spliced(model, identity_sae(acts.width(hook)), acts, hook, "legal_set", games=6)
        figures = reconstruction(identity_sae(acts.width(hook)), acts, hook)
    assert result["loss_sae"] == pytest.approx(result["loss_clean"], abs=1e-5)
    assert result["top1_legal_sae"] == result["top1_legal_clean"]
    assert result["loss_recovered"] == pytest.approx(1.0, abs=1e-4)
    assert result["loss_zero"] > result["loss_clean"]
    assert figures["explained_variance"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "mamba"])
def test_an_identity_sae_spliced_into_a_recurrent_model_leaves_it_unchanged(
    kind, tiny_corpus, tmp_path
):
    from othello.model.checkpoint import save_model
    from othello.model.config import LSTMConfig, MambaConfig
    from othello.model.kinds import build_model
    from probes.acts.reader import ActsFile
    from probes.acts.writer import write_cache

    if kind == "mamba":
        pytest.importorskip("mambapy", reason="the mamba extra (mambapy) is not installed")
    torch.manual_seed(0)
    cfg = {"lstm": LSTMConfig(n_layers=2, d_model=16), "mamba": MambaConfig(n_layers=2, d_model=16)}
    model = build_model(cfg[kind]).eval()
    save_model(model, tmp_path / "model.pt")
    acts_path = write_cache(tmp_path / "model.pt", tiny_corpus, tmp_path / "a.h5", n_games=40,
                            progress=False)  # fmt: skip
    with ActsFile(acts_path) as acts:
        hook = acts.hooks[1]
        result = spliced(model, identity_sae(acts.width(hook)), acts, hook, "legal_set", 4)
    assert result["loss_sae"] == pytest.approx(result["loss_clean"], abs=1e-5)
    assert result["loss_zero"] != pytest.approx(result["loss_clean"], abs=1e-4)


def test_a_resumed_run_ends_with_the_same_weights(tmp_path):
    acts, _ = sparse_dictionary_data(n_games=120)
    cfg = SAEConfig(k=3, expansion=2, epochs=2, chunk_games=16, checkpoint_every=1)
    straight, _ = train_sae(source_of(acts), HOOK, cfg, tmp_path / "a", progress=False)
    _, first = train_sae(source_of(acts), HOOK, cfg, tmp_path / "b", False, stop_after_steps=9)
    assert not first["finished"]
    resumed, record = train_sae(source_of(acts), HOOK, cfg, tmp_path / "b", progress=False)
    assert record["finished"]
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_saelens_layout_round_trips(tmp_path):
    sae = identity_sae(8, "topk")
    sae.k = 5
    save_sae(sae, tmp_path, {"hook": HOOK, "layer": 0})
    loaded, cfg = load_sae(tmp_path)
    assert cfg["architecture"] == "topk" and cfg["k"] == 5 and cfg["d_in"] == 8
    assert cfg["d_sae"] == 16 and cfg["metadata"]["hook_name"] == HOOK
    x = torch.randn(10, 8)
    torch.testing.assert_close(loaded(x), sae(x))
    with pytest.raises(ValueError, match="k=40 is larger than the SAE's width 32"):
        SAEConfig(k=40, expansion=4).check_width(8)


@pytest.fixture
def transcoder() -> str:
    """A TopK architecture that, like SAELens's transcoders, does not subtract ``b_dec``
    from its input (registered for one test, as a plugin would be)."""
    name = "test-transcoder"
    register_architecture(
        SAEArchitecture(name=name, activate=topk_activate, penalty=topk_penalty,
                        cfg_keys=lambda sae: {"k": sae.k}, apply_b_dec_to_input=False)
    )  # fmt: skip
    yield name
    del ARCHITECTURES[name]


def linear_map(layer: torch.nn.Linear, architecture: str) -> SparseAutoencoder:
    """A transcoder computing ``layer`` exactly: features are the positive and negative
    parts of its input, decoded through the layer's weight, ``b_dec`` its bias."""
    d_out, d_in = layer.weight.shape
    sae = SparseAutoencoder(d_in, 2 * d_in, architecture, k=2 * d_in, d_out=d_out)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([torch.eye(d_in), -torch.eye(d_in)], 1))
        sae.W_dec.copy_(torch.cat([layer.weight.T, -layer.weight.T], 0))
        sae.b_enc.zero_()
        sae.b_dec.copy_(layer.bias)
    return sae.eval()


def test_a_planted_transcoder_spliced_in_leaves_the_model_unchanged(
    tiny_run, tiny_corpus, transcoder
):
    """Block 0's attention output is W_O of its per-head outputs (hook_z) plus a bias: the
    transcoder from hook_z to hook_attn_out that computes it reproduces the output hook, so
    the loss is the clean one, while zeroing that hook changes it. Block 0's output and block
    1's input are the same vector: an identity SAE from one to the other changes nothing."""
    from othello.model.checkpoint import load_model_file
    from probes.acts.memory import cache_activations

    model = load_model_file(tiny_run)
    z, attn_out = act_name("z", 0), act_name("attn_out", 0)
    post, pre = act_name("resid_post", 0), act_name("resid_pre", 1)
    hooks = [z, attn_out, post, pre]
    source = cache_activations(model, tiny_corpus, n_games=40, hooks=hooks, progress=False)
    sae = linear_map(model.blocks[0].attn.out, transcoder)
    result = spliced(model, sae, source, z, "legal_set", games=6, hook_out=attn_out)
    assert result["loss_sae"] == pytest.approx(result["loss_clean"], abs=1e-5)
    assert result["top1_legal_sae"] == result["top1_legal_clean"]
    assert result["loss_zero"] != pytest.approx(result["loss_clean"], abs=1e-3)
    figures = reconstruction(sae, source, z, hook_out=attn_out)
    assert figures["explained_variance"] == pytest.approx(1.0, abs=1e-5)
    d = model.cfg.d_model
    across = spliced(model, identity_sae(d), source, post, "legal_set", 6, hook_out=pre)
    assert across["loss_sae"] == pytest.approx(across["loss_clean"], abs=1e-5)
    assert across["loss_zero"] != pytest.approx(across["loss_clean"], abs=1e-3)
    with pytest.raises(ValueError, match="runs before"):  # the output must come downstream
        spliced(model, identity_sae(d), source, pre, "legal_set", 6, hook_out=post)


def test_a_transcoder_learns_a_sparse_map_between_hooks_and_saves_both(tmp_path, transcoder):
    """The input (32 wide) and the target (24 wide, offset) are two views of one sparse code."""
    rng = np.random.default_rng(0)
    codes = sparse_codes(rng, 400 * 59, atoms=48, active=3)
    reads = rng.normal(size=(48, 32))
    reads /= np.linalg.norm(reads, axis=1, keepdims=True)
    x = (codes @ reads).reshape(400, 59, 32)
    target = (codes @ rng.normal(size=(48, 24)) + 0.5).reshape(400, 59, 24)
    hook_in, hook_out = act_name("resid_mid", 0), act_name("mlp_out", 0)
    planted = source_of(x)
    source = ArraySource({hook_in: planted.acts[HOOK], hook_out: target.astype(np.float32)}, {},
                         planted.valid_mask, planted.split)  # fmt: skip
    cfg = SAEConfig(architecture=transcoder, k=3, expansion=4, epochs=8, lr=1e-2,
                    chunk_games=64, dead_after=20_000)  # fmt: skip
    sae, record = train_sae(source, hook_in, cfg, tmp_path, progress=False, hook_out=hook_out)
    assert (sae.d_in, sae.d_sae, sae.d_out) == (32, 128, 24)
    norms = np.linalg.norm(sae.W_dec.detach().numpy(), axis=1)
    assert np.allclose(norms, 1 / record["output_scale"], rtol=1e-4)
    assert record["output_scale"] != pytest.approx(record["input_scale"], rel=0.05)
    figures = reconstruction(sae, source, hook_in, hook_out=hook_out)
    assert figures["explained_variance"] > 0.9 and figures["l0"] <= 3
    save_sae(sae, tmp_path / "saved", {"hook": hook_in, "hook_out": hook_out, "layer": 0})
    loaded, cfg_json = load_sae(tmp_path / "saved")
    assert sae_hooks(cfg_json) == (hook_in, hook_out)
    assert cfg_json["metadata"]["hook_name_out"] == hook_out and cfg_json["d_out"] == 24
    assert cfg_json["apply_b_dec_to_input"] is False
    x = torch.randn(10, 32)
    torch.testing.assert_close(loaded(x), sae(x))


def test_resampling_points_a_transcoders_dead_features_at_its_worst_positions(transcoder):
    torch.manual_seed(0)
    sae = SparseAutoencoder(6, 8, transcoder, k=8, d_out=4)
    sae.initialise(torch.Generator().manual_seed(0), torch.zeros(4))
    x, target = torch.randn(16, 6), torch.randn(16, 4) * 5
    dead = torch.arange(8) < 3
    optimizer = torch.optim.Adam(sae.parameters())
    worst = (sae(x) - target).pow(2).sum(-1).topk(3).indices
    assert resample_dead(sae, optimizer, x, target, dead) == 3
    unit = torch.nn.functional.normalize
    torch.testing.assert_close(sae.W_dec[:3].detach(), unit(target[worst] - sae.b_dec.detach()))
    cosine = unit(sae.W_enc[:, :3].detach().T) @ unit(x[worst]).T
    torch.testing.assert_close(cosine.diagonal(), torch.ones(3))
