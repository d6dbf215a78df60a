"""Neuron simulation (Karvonen, adamkarvonen/OthelloUnderstanding,
``neuron_simulation/simulate_activations_with_dts.py``): replace each MLP neuron that a
depth-limited tree over the true board explains by that tree, mean-ablate the rest, and
measure what the model loses. If the trees' rules are what the neurons compute, the simulated
model should stay close to the original and far ahead of mean-ablating the whole layer.

Per layer, one layer replaced at a time (his ``intervention_layers = [[0], ..., [7]]``), the
layer's ``mlp.hook_post`` is rewritten three ways on held-out test games:

* ``simulated``: explained neurons (validation R^2 > ``r2_threshold``, 0.7 as his) take their
  tree's prediction from the true board at that position; every other neuron its mean
  training activation (his ``ablate_not_selected=True``);
* ``mean_ablation``: every neuron of the layer at its mean (his ``ablation_method="mean"``
  baseline, all neurons selected), so simulated minus this is what the trees add;
* ``shuffled_trees`` (ours, not his): as simulated, but each explained neuron's tree is grown
  on activations shuffled across positions and cut at the real tree's depth (a depth chosen
  on shuffled validation labels is almost always 0, the mean, which would only repeat
  ``mean_ablation``): a tree of the same size that knows nothing about the board.

Figures, each a mean over the test games' scored positions with a standard error over games
(:func:`game_mean`): ``kl``, KL(original || modified) of the next-move distribution (his
direction; softmax over the 60 move logits, token 0 being padding here and his "pass" there;
the ``legal_set`` models, trained with a sigmoid per square, are read through the same
softmax), ``top1_legal`` (the argmax move is legal: no top-1 illegal proposal,
:mod:`othello.model.legality`) and ``topn_legal``, his "legal move accuracy": the share of
legal moves among the model's N best, N the size of the legal set, pooled over legal moves
(the legal set less the top-N illegal count). ``original_top1_legal`` and
``original_topn_legal`` are the unmodified model's.

Where we deviate from his code, and why:

* trees read the laboratory's 320 true-board features (:mod:`probes.circuits.positions`:
  empty/mine/theirs, flipped, legal) where his read 389 (board, flipped, the move just played,
  squares occupied before it, and the move number, row and parity); "legal" makes
  late-layer neurons that write the answer easier to explain;
* trees are the laboratory's (:func:`probes.circuits.trees.grow_tree`): grown to
  ``max_depth`` (8, his) with ``min_samples_leaf`` 20 (his: 1) and cut at the depth that
  predicts validation best; his are used at depth 8 and scored on a random 20% of the
  *same games'* positions, ours on separate validation games, so "explained" is held out;
* means are over the training positions, his over the evaluation batch itself: no test
  activation enters a replacement;
* his KL and accuracy average every position; ours only scored positions (a next move exists).
* sizes: his trees see every position of 60 training games and are evaluated on 60 test
  games; ours are the laboratory's (cpu preset: 4,000 positions of 300 training games,
  2,000 of 100 validation games, 200 test games).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
from tqdm import tqdm

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.gpt import GPT
from othello.model.hooks import act_name
from othello.model.legality import rank_legality, top1_illegal, topn_illegal
from probes.circuits.config import CircuitsConfig, atlas_settings, split_rows
from probes.circuits.neurons import Sample, collect
from probes.circuits.positions import N_POSITIONS, batches, sample_positions
from probes.circuits.trees import CutTree, TreeData, fit_trees, grow_tree

VARIANTS = ("simulated", "mean_ablation", "shuffled_trees")
_LAB = CircuitsConfig  # its class attributes are its defaults: written once, there


@dataclass
class SimulationSettings:
    """Sizes, tree settings and seed default to the circuit laboratory's (CircuitsConfig's
    fields of the same names); ``layers`` None: every MLP layer."""

    train_games: int = _LAB.train_games
    val_games: int = _LAB.val_games
    test_games: int = _LAB.test_games
    tree_positions: int = _LAB.tree_positions  # training positions the trees are fitted on
    val_positions: int = _LAB.val_positions  # validation positions: depth, "explained"
    layers: tuple[int, ...] | None = None
    r2_threshold: float = _LAB.r2_threshold
    max_depth: int = _LAB.max_depth
    min_samples_leaf: int = _LAB.min_samples_leaf
    seed: int = _LAB.seed
    batch_games: int = _LAB.batch_games
    workers: int = _LAB.workers  # tree-fitting threads (0: every core)
    allow_fewer: bool = False
    progress: bool = True

    def circuits(self) -> CircuitsConfig:
        """The laboratory's settings with these values (it checks them)."""
        lab = {f.name for f in fields(CircuitsConfig)}
        return CircuitsConfig(**{k: v for k, v in asdict(self).items() if k in lab})


@dataclass
class LayerTrees:
    """One layer's explained neurons with their real and shuffled-label trees, and every
    neuron's mean training activation."""

    neurons: np.ndarray  # int64 [k]: explained, ascending
    real: list[CutTree]
    shuffled: list[CutTree]
    means: np.ndarray  # float32 [width]

    def predict(self, variant: str, x: np.ndarray) -> np.ndarray:
        """float32 [N, k]: the explained neurons' simulated activations on features x."""
        trees = self.real if variant == "simulated" else self.shuffled
        out = np.zeros((len(x), len(trees)), np.float32)
        for i, tree in enumerate(trees):
            out[:, i] = tree.predict(x)
        return out


def fit_layer(train: Sample, val: Sample, layer: int, settings: SimulationSettings) -> LayerTrees:
    """Every neuron's tree on the training positions (depth chosen on validation), the
    explained ones (validation R^2 above the threshold) and their shuffled-label trees."""
    lab = atlas_settings(settings.circuits())
    y_train, y_val = (s.acts[0][layer].astype(np.float32) for s in (train, val))
    data = TreeData.of(train.features, y_train, val.features, y_val, val.features[:0], y_val[:0])
    width, t, p = y_train.shape[1], settings.r2_threshold, settings.progress
    grown = fit_trees(data, list(range(width)), lab.trees, lab.workers, f"trees L{layer}", p,
                      grow_tree)  # fmt: skip
    keep = [n for n, tree in enumerate(grown) if tree.r2_val is not None and tree.r2_val > t]
    real = [grown[n] for n in keep]
    noise = fit_trees(data.shuffled(settings.seed + layer), keep, lab.trees, lab.workers,
                      f"shuffled L{layer}", p, grow_tree)  # fmt: skip
    shuffled = [replace(s, depth=r.depth) for s, r in zip(noise, real, strict=True)]
    return LayerTrees(np.array(keep, np.int64), real, shuffled, y_train.mean(0))


def replace_hook(layer: int, neurons: np.ndarray, values: torch.Tensor | None, means: np.ndarray):
    """``(hook name, fn)`` rewriting block ``layer``'s ``mlp.hook_post``: ``neurons`` take
    ``values`` ([G, 59, k]), every other neuron its mean; ``values`` None: all at the mean."""
    index = torch.as_tensor(neurons, dtype=torch.long)
    mean = torch.as_tensor(means, dtype=torch.float32)

    def fn(x: torch.Tensor, hook) -> torch.Tensor:
        out = mean.to(x.device, x.dtype).expand_as(x).clone()
        if values is not None and len(index):
            out[..., index.to(x.device)] = values.to(x.device, x.dtype)
        return out

    return act_name("post", layer), fn


def next_move_kl(clean: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """[...]: KL(clean || modified) of the softmax over the 60 move logits (token 0 is
    padding, never a move)."""
    p, q = (x[..., 1:].float().log_softmax(-1) for x in (clean, modified))
    return (p.exp() * (p - q)).sum(-1)


def game_mean(sums: np.ndarray, counts: np.ndarray) -> dict:
    """Pooled mean sum(sums) / sum(counts) over games, with its standard error with games
    (not positions, which share a game's history) as the independent units: the ratio
    estimator's linearised variance, g / (g - 1) * sum((s - m n)^2) / N^2."""
    total = float(counts.sum())
    mean = float(sums.sum()) / max(total, 1.0)
    g = len(sums)
    if g < 2:
        return {"mean": mean, "stderr": None, "games": g}
    var = g / (g - 1) * float(((sums - mean * counts) ** 2).sum()) / max(total, 1.0) ** 2
    return {"mean": mean, "stderr": float(np.sqrt(var)), "games": g}


def game_sums(clean: torch.Tensor, logits: torch.Tensor, legal: np.ndarray, scored) -> dict:
    """Per game of a batch, sums over its scored positions: ``kl``, ``top1_legal``,
    ``topn_legal`` (legal moves among the N best) and the counts ``positions`` and
    ``legal_moves`` the means divide by."""
    clean, logits, mask = clean.detach(), logits.detach(), torch.as_tensor(scored)
    is_legal = rank_legality(logits, legal)  # [G, 59, 60] by rank
    n_legal = is_legal.sum(-1)
    figures = {
        "kl": next_move_kl(clean, logits).cpu().double() * mask,
        "top1_legal": ~top1_illegal(is_legal) & mask,
        "topn_legal": (n_legal - topn_illegal(is_legal)) * mask,
        "positions": mask,
        "legal_moves": n_legal * mask,
    }
    return {k: v.sum(1).double().numpy() for k, v in figures.items()}


def summary(sums: dict[str, list[np.ndarray]], with_kl: bool = True) -> dict:
    """The figures of one variant (or the original) from its per-game sums."""
    joined = {k: np.concatenate(v) for k, v in sums.items()}
    out = {"kl": game_mean(joined["kl"], joined["positions"])} if with_kl else {}
    out["top1_legal"] = game_mean(joined["top1_legal"], joined["positions"])
    out["topn_legal"] = game_mean(joined["topn_legal"], joined["legal_moves"])
    return out


def samples(model: GPT, games: GamesFile, rows: dict, layers: list[int], s: SimulationSettings):
    """The (train, val) position samples the trees are fitted and chosen on, drawn by seed
    as the atlas draws its own (:func:`probes.circuits.passes.atlas_samples`)."""
    out = []
    for offset, (split, n) in enumerate(
        (("train", s.tree_positions), ("val", s.val_positions)), start=1
    ):
        picks = sample_positions(games.length[rows[split]], n, s.seed + offset)
        out.append(collect([model], games, rows[split], picks, layers, s.batch_games, None,
                           s.progress, f"neurons ({split})"))  # fmt: skip
    return out


@torch.no_grad()
def replaced_runs(
    model: GPT,
    games: GamesFile,
    rows: np.ndarray,
    trees: dict[int, LayerTrees],
    s: SimulationSettings,
    device: str,
) -> dict[str, dict[str, list[np.ndarray]]]:
    """Per-game sums of the original model (``original``) and of each layer's variants
    (``"{layer}/{variant}"``) on the test games, a batch at a time."""
    sums: dict[str, dict[str, list[np.ndarray]]] = {}

    def add(key: str, got: dict[str, np.ndarray]) -> None:
        for name, value in got.items():
            sums.setdefault(key, {}).setdefault(name, []).append(value)

    total = -(-len(rows) // s.batch_games)
    progress = tqdm(batches(games, rows, s.batch_games), total=total, desc="simulation",
                    disable=not s.progress, leave=False)  # fmt: skip
    for batch in progress:
        tokens, legal, scored = batch.tokens(device), batch.legal_bits(), batch.scored()
        features = batch.features()
        x = np.ascontiguousarray(features.reshape(-1, features.shape[-1]), np.float32)
        clean = model(tokens)
        add("original", game_sums(clean, clean, legal, scored))
        for layer, lt in trees.items():
            for variant in VARIANTS:
                values = None
                if variant != "mean_ablation":
                    values = torch.as_tensor(lt.predict(variant, x)).view(
                        len(batch), N_POSITIONS, -1
                    )
                logits = model.run_with_hooks(
                    tokens, [replace_hook(layer, lt.neurons, values, lt.means)]
                )
                add(f"{layer}/{variant}", game_sums(clean, logits, legal, scored))
    return sums


def neuron_simulation(
    model: GPT, games: GamesFile, settings: SimulationSettings, device: str = "cpu"
) -> dict:
    """Fit the trees on training positions, choose their depths and the explained neurons on
    validation positions, then replace one layer at a time on the test games (module
    docstring): per layer, the explained neurons and each variant's figures. The model is
    moved to ``device``."""
    n = model.cfg.n_layers
    layers = sorted(set(settings.layers)) if settings.layers else list(range(n))
    if any(not 0 <= layer < n for layer in layers):
        raise UserError(f"layers={','.join(map(str, layers))}: the MLP layers are 0..{n - 1}")
    model = model.to(device).eval()
    rows = split_rows(games, settings.circuits())
    train, val = samples(model, games, rows, layers, settings)
    trees = {layer: fit_layer(train, val, layer, settings) for layer in layers}
    sums = replaced_runs(model, games, rows["test"], trees, settings, device)
    out_layers = {}
    for layer, lt in trees.items():
        r2 = [t.r2_val for t in lt.real]
        out_layers[str(layer)] = {
            "explained": len(lt.neurons),
            "share": len(lt.neurons) / len(lt.means),
            "neurons": lt.neurons.tolist(),
            "mean_r2_val_explained": float(np.mean(r2)) if r2 else None,
            **{v: summary(sums[f"{layer}/{v}"]) for v in VARIANTS},
        }
    original = summary(sums["original"], with_kl=False)
    return {
        "layers": out_layers,
        "original_top1_legal": original["top1_legal"],
        "original_topn_legal": original["topn_legal"],
        "test_games": len(rows["test"]),
        "settings": asdict(settings),
        "chosen_on": "val",
    }
