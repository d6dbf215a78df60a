"""The laboratory's passes over games: each reads a batch of games at a time (memory does not
grow with their number) and returns what one output file holds.

* :func:`test_pass`: one forward per batch of test games feeds the attribution, the logit lens
  and the heads (attention on mine/theirs keys and the board writes).
* :func:`head_classes_pass`: the heads' attention on validation games (their classes).
* :func:`atlas_samples`: the atlas's bounded position samples of the three splits, with the
  model's and the random-init control's activations.
* :func:`patching_pass`: pairs from the test games, the patching maps, exact and by
  attribution patching.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from othello.corpora.corpus import GamesFile
from othello.model.gpt import GPT
from othello.model.hooked import HookedModel
from othello.model.hooks import block_hooks, resid_hooks
from probes.circuits.atlas import control_columns
from probes.circuits.attribution import (
    AttributionSums,
    attribution_hooks,
    logit_parts,
    part_names,
)
from probes.circuits.attribution_patching import attribution_patching, file_record
from probes.circuits.heads import HeadSums, mine_keys
from probes.circuits.lens import LensCounts
from probes.circuits.neurons import Sample, collect
from probes.circuits.patching import pairs_task
from probes.circuits.positions import N_POSITIONS, GameBatch, batches, sample_positions

CONSTRUCTION = (
    "clean: a test game; corrupted: the same moves but a different legal move (drawn by seed) "
    "at one ply p >= 1 (drawn by seed), then the clean game's next `follow` moves, kept when "
    "each is legal in both games with the same side to move throughout and the model's top "
    "move at T = p + follow differs between them"
)
METRIC = (
    "at T: logit(clean run's top move) - logit(corrupted run's top move); share restored = "
    "sum(LD_patched - LD_corrupted) / sum(LD_clean - LD_corrupted) over the pairs"
)


def add_heads(sums: HeadSums, model: GPT, cache: dict, batch: GameBatch, scored) -> None:
    labels = batch.labels
    mine = mine_keys(labels.mover, labels.perspective(), N_POSITIONS)
    sums.add_attention([cache[h] for h in block_hooks("pattern", model.cfg.n_layers)], mine, scored)


@torch.no_grad()
def test_pass(
    model: GPT,
    directions: dict,
    games: GamesFile,
    rows: np.ndarray,
    batch_games: int,
    progress: bool = True,
) -> tuple[dict, dict, HeadSums]:
    """attribution.json, logit_lens.json and the heads' test sums."""
    device = next(model.parameters()).device
    cfg = model.cfg
    names = part_names(model)
    attribution = AttributionSums(len(names))
    lens = LensCounts(cfg.n_layers)
    head_sums = HeadSums(cfg.n_layers, cfg.n_heads)
    writes = {layer: d["mine_theirs"] for layer, d in directions.items()}
    hooks = (
        attribution_hooks(model)
        + list(resid_hooks(model.cfg.n_layers).values())
        + block_hooks("pattern", model.cfg.n_layers)
    )
    for batch in tqdm(
        batches(games, rows, batch_games),
        total=-(-len(rows) // batch_games),
        desc="test games",
        disable=not progress,
        leave=False,
    ):
        logits, cache = model.run_with_cache(batch.tokens(device), sorted(set(hooks)))
        scored = batch.scored()
        attribution.add(logit_parts(model, cache), logits, batch.legal(), scored)
        lens.add(model, cache, batch.legal_bits(), scored)
        add_heads(head_sums, model, cache, batch, scored)
        head_sums.add_writes(model, cache, writes, batch.relative(), scored)
    return attribution.summary(names), lens.summary(), head_sums


@torch.no_grad()
def head_classes_pass(model: GPT, games: GamesFile, rows: np.ndarray, batch_games: int) -> HeadSums:
    """The heads' attention on mine / theirs keys over validation games."""
    device = next(model.parameters()).device
    sums = HeadSums(model.cfg.n_layers, model.cfg.n_heads)
    for batch in batches(games, rows, batch_games):
        _, cache = model.run_with_cache(
            batch.tokens(device), block_hooks("pattern", model.cfg.n_layers)
        )
        add_heads(sums, model, cache, batch, batch.scored())
    return sums


def atlas_samples(
    models: tuple[GPT, GPT],
    games: GamesFile,
    rows: dict[str, np.ndarray],
    sizes: dict,
    layers: list[int],
    control_neurons: int,
    seed: int,
    batch_games: int,
    progress: bool,
) -> tuple[Sample, Sample, Sample]:
    """(train, val, test) samples of ``sizes[split]`` positions each, drawn by seed: the
    model's activations at every neuron of ``layers``, the control's at the control neurons."""
    width = models[0].cfg.mlp_width
    keep = [None, {layer: control_columns(width, control_neurons, seed, layer) for layer in layers}]
    samples = []
    for offset, split in enumerate(("train", "val", "test"), start=1):
        r = rows[split]
        picks = sample_positions(games.length[r], sizes[split], seed + offset)
        samples.append(
            collect(
                list(models),
                games,
                r,
                picks,
                layers,
                batch_games,
                keep,
                progress,
                f"neurons ({split})",
            )
        )
    return tuple(samples)


def patching_pass(
    model: HookedModel, games: GamesFile, rows: np.ndarray, n_pairs: int, follow: int, seed: int
) -> tuple[dict, dict]:
    """patching.json (pairs from the test games, at most one per game; the exact maps) and
    attribution_patching.json (the same maps by the gradient approximation, both timed)."""
    task, found = pairs_task(model, games, rows, n_pairs, follow, seed)
    about = {"construction": CONSTRUCTION, "metric": METRIC, **found}
    if len(task.end) == 0:
        empty = {"pairs": 0, "layers": [], "offsets": [], "resid": [], "heads": []}
        return {**about, **empty}, file_record(None, found)
    both = attribution_patching(model, task, follow)
    return {**about, **both["exact"]}, file_record(both, found)
