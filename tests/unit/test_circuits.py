"""The circuit laboratory on hand-built and tiny random models, with known answers: the
attribution's parts sum to the logits, a neuron planted to compute a board feature is found
by its tree and named by its rule, heads planted to read one side's moves are classed so,
patching identities hold, and the lens at the last layer is the model itself."""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import pytest
import torch

from othello.common.files import ABLATION, PATCHING
from othello.common.settings import apply_overrides
from othello.corpora.corpus import GamesFile
from othello.model.config import GPTConfig
from othello.model.evaluate import evaluate_games, square_scores
from othello.model.gpt import GPT
from othello.model.hooks import resid_hooks
from othello.world.labels import replay
from othello.world.squares import parse_square
from probes.circuits.ablation import legality_groups
from probes.circuits.atlas import run_atlas
from probes.circuits.attribution import (
    AttributionSums,
    attribution_hooks,
    logit_parts,
    part_names,
)
from probes.circuits.config import CircuitsConfig, atlas_settings
from probes.circuits.heads import classify
from probes.circuits.lab import shortfalls
from probes.circuits.lens import LensCounts
from probes.circuits.neurons import promoted_and_suppressed
from probes.circuits.passes import atlas_samples, head_classes_pass
from probes.circuits.patching import make_pairs, patch_maps, patch_task, restored
from probes.circuits.positions import N_POSITIONS, choose_rows, feature_index, read_batch
from probes.circuits.results import best_explained
from probes.circuits.trees import TreeData, TreeResult, fit_tree, rule_text
from probes.stages.registry import stage

C3, F6 = parse_square("C3"), parse_square("F6")
ANCHOR = 10.0  # a large +-A pair in every embedding fixes the LayerNorm scale


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    from othello.corpora.generate import generate_corpus

    path = tmp_path_factory.mktemp("circuits") / "games.h5"
    return generate_corpus(path, 3000, seed=3, val_fraction=0.2, test_fraction=0.2,
                           progress=False)  # fmt: skip


def blank_model(n_heads: int = 2, d_mlp: int = 8) -> GPT:
    """One block, d_model 16, every weight zero but the anchors: a board to build on."""
    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=n_heads, d_mlp=d_mlp)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in (model.blocks[0].ln1, model.blocks[0].ln2, model.ln_final):
            ln.weight.fill_(1.0)
        model.embed.weight[:, 0], model.embed.weight[:, 1] = ANCHOR, -ANCHOR
    return model


def token(square: int) -> int:
    from othello.world.tokens import encode

    return int(encode(np.array([square]))[0])


def planted_neuron_model() -> GPT:
    """Neuron 0 fires (about 3) when C3 and F6 are both empty, else about 0: head 0 attends
    to a C3 token if there is one and writes dim 4, head 1 the same for F6 into dim 5, and the
    neuron reads -(dim 4 + dim 5)."""
    model = blank_model()
    d, block = 16, model.blocks[0]
    with torch.no_grad():
        for head, (square, dim) in enumerate(((C3, 2), (F6, 3))):
            model.embed.weight[token(square), dim] = 1.0
            q, k, v = head * 8, d + head * 8, 2 * d + head * 8
            block.attn.qkv.bias[q] = 20.0  # constant query
            block.attn.qkv.weight[k, dim] = 15.0  # keys: "this token is the square"
            block.attn.qkv.weight[v, dim] = 1.0
            block.attn.out.weight[4 + head, head * 8] = 4.0
        block.mlp.fc_in.weight[0, 4] = block.mlp.fc_in.weight[0, 5] = -20.0
        block.mlp.fc_in.bias[0] = 3.0
    return model


def parity_heads_model() -> GPT:
    """Head 0 attends to the positions of the other parity than the query (the moves of the
    side to move next, barring passes), head 1 to its own parity (the other side's)."""
    model = blank_model()
    d, attn = 16, model.blocks[0].attn
    with torch.no_grad():
        model.pos_embed[:, 2] = torch.tensor([(-1.0) ** p for p in range(N_POSITIONS)])
        for head, sign in ((0, -1.0), (1, 1.0)):
            attn.qkv.weight[head * 8, 2] = 20.0 * sign
            attn.qkv.weight[d + head * 8, 2] = 15.0
    return model


def random_model(seed: int = 0, scale: float = 1.0) -> GPT:
    """A small random GPT with every bias and LayerNorm parameter non-trivial."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if "ln" in name else 0.05)).mul_(scale)
    return model


def test_attribution_parts_sum_to_the_logits(games):
    model = random_model()
    with GamesFile(games) as g:
        batch = read_batch(g, choose_rows(g, "test", 8))
    logits, cache = model.run_with_cache(batch.tokens(), attribution_hooks(model))
    assert torch.equal(logits, model(batch.tokens()))  # the final scale is read, not recomputed
    parts = logit_parts(model, cache)
    assert parts.shape == (8, N_POSITIONS, len(part_names(model)), 61)
    torch.testing.assert_close(parts.sum(2), logits, atol=1e-4, rtol=0)
    sums = AttributionSums(len(part_names(model)))
    sums.add(parts, logits, batch.legal(), batch.scored())
    summary = sums.summary(part_names(model))
    top = square_scores(logits.detach(), -torch.inf).max(-1).values[batch.scored()]
    assert sum(summary["predicted"]["mean"]) == pytest.approx(float(top.mean()), abs=1e-3)
    assert summary["positions"] == int(batch.scored().sum()) and summary["max_abs_sum_error"] < 1e-4

    # a head's part is its own: zeroing that head's z removes exactly that part
    def kill(z, hook):
        z = z.clone()
        z[:, :, 1] = 0
        return z

    with model.hooks([("blocks.1.attn.hook_z", kill)]):
        _, cache2 = model.run_with_cache(batch.tokens(), attribution_hooks(model))
    i = part_names(model).index("L1H1")
    assert float(logit_parts(model, cache2)[:, :, i].abs().max()) == 0.0


def test_a_planted_neuron_is_found_and_its_rule_names_the_squares(games):
    model = planted_neuron_model()
    with GamesFile(games) as g:
        rows = {"train": choose_rows(g, "train", 200, seed=0), "val": choose_rows(g, "val", 100),
                "test": choose_rows(g, "test", 100)}  # fmt: skip
        sizes = {"train": 2000, "val": 1000, "test": 1000}
        samples = atlas_samples((model, model), g, rows, sizes, [0], 4, 0, 64, False)
    acts = samples[0].acts[0][0][:, 0].astype(float)
    assert acts.max() > 2.5 and np.median(np.abs(acts)) < 0.5  # the neuron does fire
    directions = {0: {"mine_theirs": torch.randn(16, 64)}}
    cfg = atlas_settings(CircuitsConfig(max_depth=4, control_neurons=4, workers=1))
    result = run_atlas(model, directions, samples, [0], cfg, progress=False)
    record = result.records[0]
    assert record["r2_test"] > 0.95
    assert "C3 empty" in record["rule"] and "F6 empty" in record["rule"], record["rule"]
    assert {c[0].split()[0] for c in record["conditions"]} == {"C3", "F6"}
    assert record["rule_mean"] > 2.5, record
    assert all(r["r2_test"] is None for r in result.records[1:])  # the dead neurons
    assert set(record["controls"]) >= {"share_r2_above_0.7", "random_init", "shuffled_labels"}
    assert result.layers["0"]["shuffled_labels"] < 0.5  # the planted one does not survive


def test_heads_that_read_one_sides_moves_are_classed_so(games):
    model = parity_heads_model()
    with GamesFile(games) as g:
        sums = head_classes_pass(model, g, choose_rows(g, "val", 50), 64)
    shares = sums.shares()
    assert shares[0, 0] > 0.95 and shares[0, 1] < 0.05
    assert classify(shares, 0.8) == [["mine", "theirs"]]


def test_patching_identities_and_the_single_differing_token(games):
    model = random_model(1, scale=20.0)  # large weights: top moves differ between the games
    with GamesFile(games) as g:
        batch = read_batch(g, choose_rows(g, "test", 200))
    pairs = make_pairs(batch, follow=2, seed=0)
    assert len(pairs) > 50
    differ = pairs.clean != pairs.corrupt
    assert (differ.sum(1) == 1).all() and (np.argmax(differ, 1) == pairs.ply).all()
    assert replay(pairs.corrupt, pairs.end + 1).valid.all()
    task, keep = patch_task(model, pairs, limit=30)
    assert 0 < len(task.end) <= 30
    hook = "blocks.1.hook_resid_mid"
    assert restored(model, task, hook, source="clean", target="clean") == pytest.approx(1.0)
    assert restored(model, task, hook, source="corrupt", target="corrupt") == pytest.approx(0.0)
    # the differing token, patched at the embeddings, restores everything; so does the whole
    # residual stream at the last position after the last block
    maps = patch_maps(model, task, follow=2)
    assert maps["resid"][0] == pytest.approx([1.0, 0.0, 0.0], abs=1e-4)
    assert maps["resid"][-1] == pytest.approx([0.0, 0.0, 1.0], abs=1e-4)
    assert np.array(maps["heads"]).shape == (2, 4)


def test_the_lens_at_the_last_layer_is_the_model(games):
    model = random_model(2, scale=5.0)
    with GamesFile(games) as g:
        rows = choose_rows(g, "test", 64)
        batch = read_batch(g, rows)
        expected = evaluate_games(model, g.moves[rows], g.length[rows]).summary()
    _, cache = model.run_with_cache(batch.tokens(), list(resid_hooks(model.cfg.n_layers).values()))
    lens = LensCounts(model.cfg.n_layers)
    lens.add(model, cache, batch.legal_bits(), batch.scored())
    summary = lens.summary()
    assert list(summary) == ["0", "1", "2"]
    assert summary["2"] == pytest.approx(expected["top1_legal_accuracy"], abs=1e-6)


def test_trees_cut_by_depth_and_rules_in_words():
    rng = np.random.default_rng(0)
    x = (rng.random((3000, 320)) < 0.3).astype(np.uint8)
    legal_e6 = feature_index("legal", parse_square("E6"))
    y = 2.0 * x[:, [legal_e6]] + rng.normal(0, 0.01, (3000, 1))
    data = TreeData.of(x[:2000], y[:2000], x[2000:2500], y[2000:2500], x[2500:], y[2500:])
    fit = fit_tree(data, 0, atlas_settings(CircuitsConfig(max_depth=5)).trees)
    assert fit.depth == 1 and fit.rule == "E6 legal" and fit.r2_test > 0.99
    mine, theirs = (feature_index(k, C3) for k in ("mine", "theirs"))
    assert rule_text([(mine, False), (theirs, False)]) == "C3 empty"
    assert rule_text([(theirs, False), (legal_e6, False)]) == "C3 not theirs and E6 not legal"
    assert rule_text([]) == "always"


def test_legality_groups_are_chosen_on_validation_r2():
    legal_c3 = feature_index("legal", C3)
    cases = [(0.9, [(legal_c3, True)]), (0.5, [(legal_c3, True)]), (0.9, [(legal_c3, False)]),
             (0.8, [(5, True), (legal_c3, True)])]  # fmt: skip
    fits = {1: [TreeResult(2, r2, 0.0, conditions, "", 1.0, 10) for r2, conditions in cases]}
    (group,) = legality_groups(fits, 0.7, 10)
    assert (group.layer, group.square, group.neurons) == (1, C3, [0, 3])


def test_best_explained_neurons_are_ranked_on_validation_not_test():
    records = [
        {"layer": 0, "neuron": 0, "r2_val": 0.60, "r2_test": 0.95},  # best on test only
        {"layer": 0, "neuron": 1, "r2_val": 0.90, "r2_test": 0.80},
        {"layer": 0, "neuron": 2, "r2_val": 0.80, "r2_test": 0.85},
        {"layer": 0, "neuron": 3, "r2_val": None, "r2_test": None},  # constant: not ranked
    ]
    assert [r["neuron"] for r in best_explained(records, 3)] == [1, 2, 0]


def test_promoted_and_suppressed_moves_and_a_neuron_that_writes_nothing():
    effects = np.full(64, np.nan)
    effects[[parse_square(s) for s in ("A1", "B1", "C1", "D1", "E1")]] = [3, -2, 1, 0, -1]
    assert promoted_and_suppressed(effects) == (["A1", "C1", "D1"], ["B1", "E1", "D1"])
    flat = np.where(np.isnan(effects), np.nan, 0.5)
    assert promoted_and_suppressed(flat) == ([], [])


def test_shortfalls_name_what_got_less_than_asked():
    cfg = CircuitsConfig(tree_positions=4000, patch_pairs=100, ablation_groups=16)
    patching = {"pairs": 91, "candidate_pairs": 180, "pairs_with_different_top_moves": 91}
    outputs = {PATCHING: patching, ABLATION: {"groups": [{}] * 16}}
    said = shortfalls(cfg, outputs, {"train": 570, "val": 2000, "test": 4000})
    assert said == [
        "only 570 train positions for the trees, tree_positions=4,000 asked: the train games "
        "hold no more",
        "patching: 91 pairs, patch_pairs=100 asked (180 valid one-move-different games, 91 "
        "with different top moves)",
    ]
    full = {PATCHING: {**patching, "pairs": 100}, ABLATION: {"groups": [{}] * 16}}
    assert shortfalls(cfg, full, {"train": 4000, "val": 2000, "test": 4000}) == []


def test_the_atlas_and_trees_take_the_labs_settings_and_the_presets_sizes():
    cfg = apply_overrides(CircuitsConfig(), ["max_depth=4", "workers=3", "control_margin=0.05"])
    atlas = atlas_settings(cfg)
    assert (atlas.trees.max_depth, atlas.trees.min_samples_leaf, atlas.trees.seed) == (4, 20, 0)
    assert (atlas.workers, atlas.margin, atlas.control_neurons) == (3, 0.05, 128)
    assert atlas_settings(CircuitsConfig()).workers == (os.cpu_count() or 1)  # 0: every core
    # the lab's sizes are the default preset's (cpu); tiny's are the stage's preset
    assert stage("circuits").configure("cpu") == CircuitsConfig()
    small = stage("circuits").configure("tiny")
    assert (small.test_games, small.patch_pairs, small.max_depth) == (100, 20, 8)
    assert asdict(stage("circuits").configure("tiny", ["patch_pairs=5"]))["patch_pairs"] == 5
