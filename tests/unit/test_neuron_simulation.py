"""Neuron simulation (probes.worldmodel.simulation) with known answers: replacing a layer by
its own activations changes nothing, the game-clustered standard error matches a hand count,
a neuron planted to compute a board rule is explained, and simulating it by its tree keeps the
model while mean-ablating it or using a shuffled-label tree does not; the explained neurons
are chosen without the test games."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.config import GPTConfig
from othello.model.evaluate import evaluate_games
from othello.model.gpt import GPT
from othello.model.hooks import act_name
from othello.world.squares import parse_square
from othello.world.tokens import encode
from probes.circuits.positions import choose_rows, read_batch
from probes.circuits.trees import TreeData, TreeSettings, fit_tree, grow_tree, r2_score
from probes.worldmodel.simulation import (
    VARIANTS,
    SimulationSettings,
    game_mean,
    game_sums,
    neuron_simulation,
    replace_hook,
)

C3, F6 = parse_square("C3"), parse_square("F6")
SMALL = dict(train_games=40, val_games=20, test_games=8, tree_positions=800,
             val_positions=300, max_depth=4, workers=1, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    from othello.corpora.generate import generate_corpus

    path = tmp_path_factory.mktemp("simulation") / "games.h5"
    return generate_corpus(path, 300, seed=5, val_fraction=0.2, test_fraction=0.2,
                           progress=False)  # fmt: skip


def token(square: int) -> int:
    return int(encode(np.array([square]))[0])


def planted_model() -> GPT:
    """One block (d_model 16, 8 neurons, all weights zero but these): neuron 0 is about 3
    when C3 and F6 are both empty, else about 0 (heads 0 and 1 attend to a C3 / F6 token if
    there is one and write dims 4 / 5, which the neuron reads negatively), and it writes dim 6,
    which raises the logit of A1. The other seven neurons are constant (0)."""
    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_mlp=8)).eval()
    d, block = 16, model.blocks[0]
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in (block.ln1, block.ln2, model.ln_final):
            ln.weight.fill_(1.0)
        model.embed.weight[:, 0], model.embed.weight[:, 1] = 10.0, -10.0  # fixes the LN scale
        for head, (square, dim) in enumerate(((C3, 2), (F6, 3))):
            model.embed.weight[token(square), dim] = 1.0
            q, k, v = head * 8, d + head * 8, 2 * d + head * 8
            block.attn.qkv.bias[q] = 20.0
            block.attn.qkv.weight[k, dim] = 15.0
            block.attn.qkv.weight[v, dim] = 1.0
            block.attn.out.weight[4 + head, head * 8] = 4.0
        block.mlp.fc_in.weight[0, 4] = block.mlp.fc_in.weight[0, 5] = -20.0
        block.mlp.fc_in.bias[0] = 3.0
        block.mlp.fc_out.weight[6, 0] = 1.0
        model.unembed.weight[token(parse_square("A1")), 6] = 6.0
    return model


def random_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4)).eval()


def test_replacing_a_layer_by_its_own_activations_is_the_identity(games):
    model = random_model()
    with GamesFile(games) as g:
        batch = read_batch(g, choose_rows(g, "test", 10))
        counts = evaluate_games(model, g.moves[batch.rows], g.length[batch.rows])
    tokens, legal, scored = batch.tokens(), batch.legal_bits(), batch.scored()
    name = act_name("post", 1)
    clean, cache = model.run_with_cache(tokens, [name])
    true, width = cache[name], cache[name].shape[-1]
    hook = replace_hook(1, np.arange(width), true, np.full(width, 5.0))
    same = game_sums(clean, model.run_with_hooks(tokens, [hook]), legal, scored)
    original = game_sums(clean, clean, legal, scored)
    assert np.all(same["kl"] == 0.0)
    assert np.array_equal(same["top1_legal"], original["top1_legal"])
    assert original["top1_legal"].sum() == counts.top1_legal.sum()  # evaluate.py's top-1
    assert original["positions"].sum() == counts.positions.sum()
    # no neurons replaced: the whole layer at its means; some neurons: the rest at theirs
    means = np.arange(width, dtype=np.float32)
    fn = replace_hook(1, np.arange(0), None, means)[1]
    assert torch.equal(fn(true, None), torch.as_tensor(means).expand_as(true))
    out = replace_hook(1, np.array([2, 5]), true[..., [2, 5]], means)[1](true, None)
    assert torch.equal(out[..., [2, 5]], true[..., [2, 5]]) and torch.equal(
        out[..., 3], torch.full_like(true[..., 3], 3.0)
    )
    mean_ablated = model.run_with_hooks(tokens, [replace_hook(1, np.arange(0), None, means)])
    assert game_sums(clean, mean_ablated, legal, scored)["kl"].sum() > 0


def test_the_standard_error_is_over_games():
    # equal counts: the standard error of the per-game means
    sums, counts = np.array([1.0, 3.0, 2.0]), np.array([2.0, 2.0, 2.0])
    got = game_mean(sums, counts)
    per_game = sums / counts
    assert got["mean"] == pytest.approx(per_game.mean())
    assert got["stderr"] == pytest.approx(per_game.std(ddof=1) / np.sqrt(3))
    # unequal counts: the pooled mean (positions weighted), one game gives no error
    assert game_mean(np.array([1.0, 9.0]), np.array([1.0, 9.0]))["mean"] == 1.0
    assert game_mean(np.array([1.0, 9.0]), np.array([1.0, 9.0]))["stderr"] == 0.0
    assert game_mean(np.array([3.0]), np.array([4.0]))["stderr"] is None


def test_grow_tree_predicts_what_fit_tree_scores():
    rng = np.random.default_rng(1)
    x = (rng.random((1500, 320)) < 0.3).astype(np.uint8)
    y = 2.0 * x[:, [7]] - x[:, [70]] * x[:, [7]] + rng.normal(0, 0.05, (1500, 1))
    data = TreeData.of(x[:900], y[:900], x[900:1200], y[900:1200], x[1200:], y[1200:])
    cfg = TreeSettings(max_depth=5, min_samples_leaf=5, seed=0)
    cut, fit = grow_tree(data, 0, cfg), fit_tree(data, 0, cfg)
    assert cut.depth == fit.depth == 2 and cut.r2_val == fit.r2_val
    assert r2_score(data.y_test[:, 0], cut.predict(data.x_test)) == fit.r2_test > 0.99


def test_a_planted_neuron_is_simulated_and_mean_ablating_or_shuffling_it_is_not(games):
    model = planted_model()
    with GamesFile(games) as g:
        result = neuron_simulation(model, g, SimulationSettings(**SMALL))
        other = neuron_simulation(model, g, SimulationSettings(**{**SMALL, "test_games": 12}))
    layer = result["layers"]["0"]
    assert layer["neurons"] == [0] and layer["explained"] == 1 and layer["share"] == 1 / 8
    assert layer["mean_r2_val_explained"] > 0.95
    kl = {v: layer[v]["kl"]["mean"] for v in VARIANTS}
    assert kl["mean_ablation"] > 0.05, kl  # the neuron matters to the output
    assert kl["simulated"] < 0.05 * kl["mean_ablation"], kl  # and its tree is the neuron
    assert kl["shuffled_trees"] > 10 * kl["simulated"], kl  # a tree of noise is not
    assert layer["simulated"]["kl"]["stderr"] < kl["mean_ablation"]
    # structure, JSON, and the choice made without the test games
    assert set(result) == {"layers", "original_top1_legal", "original_topn_legal",
                           "test_games", "settings", "chosen_on"}  # fmt: skip
    assert result["chosen_on"] == "val" and result["test_games"] == 8
    assert set(layer[VARIANTS[0]]) == {"kl", "top1_legal", "topn_legal"}
    assert layer["simulated"]["kl"]["games"] == 8 and other["test_games"] == 12
    json.dumps(result, allow_nan=False)
    assert other["layers"]["0"]["neurons"] == layer["neurons"]
    assert other["layers"]["0"]["mean_r2_val_explained"] == layer["mean_r2_val_explained"]
    assert other["layers"]["0"]["simulated"] != layer["simulated"]  # other test games


def test_layers_outside_the_model_are_refused(games):
    with GamesFile(games) as g, pytest.raises(UserError, match="layers=3"):
        neuron_simulation(random_model(), g, SimulationSettings(**SMALL, layers=(3,)))
