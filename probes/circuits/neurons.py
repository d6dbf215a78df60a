"""The neuron atlas: what each MLP neuron reads, what it writes, and which board rule (if
any) its activation follows.

* *Reads*: a neuron's input weights (its ``fc_in`` row, times ``ln2``'s weight, centred, as
  the LayerNorm centres its input: the direction in the residual stream it responds to)
  against the probe directions of its block's input layer (:mod:`probes.circuits.directions`),
  as cosines: one 8x8 map per direction kind.
* *Writes*: its output weights (its ``fc_out`` column) through ``ln_final``'s weight and the
  unembedding (the direct effect on each move's logit: the moves it promotes and suppresses).
* *Rule*: a regression tree from the true-board features to its activation (``hook_post``),
  trained on a bounded sample of training positions, its depth chosen on validation positions,
  R^2 on test positions (:mod:`probes.circuits.trees`).

Two controls say whether "R^2 > 0.7" means anything: the same trees on a sample of the
random-init model's neurons (same positions) and on the real neurons with activations shuffled
across positions. A layer's trees explain something only when its share of neurons above the
threshold is far above both (``ratio`` times the larger and ``margin`` points above it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from othello.corpora.corpus import GamesFile
from othello.model.evaluate import square_scores
from othello.model.gpt import GPT
from othello.model.hooks import act_name
from othello.world.squares import N_SQUARES, square_name
from probes.circuits.directions import MAPS, cosines
from probes.circuits.positions import read_batch


def read_rows(model: GPT, layer: int) -> torch.Tensor:
    """[neurons, d_model]: the residual-stream direction each neuron reads (LayerNorm weight
    folded in, centred)."""
    block = model.blocks[layer]
    w = block.mlp.fc_in.weight.detach() * block.ln2.weight.detach()
    return (w - w.mean(1, keepdim=True)).float().cpu()


def weight_maps(model: GPT, layer: int, directions: dict[str, torch.Tensor]) -> dict:
    """``{map: [neurons, 64]}``: cosine of each neuron's read direction with each square's
    probe direction (``directions`` at the block's input layer; NaN for a probe not fitted)."""
    rows = read_rows(model, layer)
    missing = np.full((rows.shape[0], N_SQUARES), np.nan, np.float32)
    return {m: cosines(rows, directions[m]).numpy() if m in directions else missing for m in MAPS}


def logit_effects(model: GPT, layer: int) -> np.ndarray:
    """[neurons, 64]: the direct effect of one unit of activation on each move's logit
    (centred, ``ln_final`` weight folded in, scale not: a direction, not a size); NaN on the
    centre squares, which are never moves."""
    w = model.blocks[layer].mlp.fc_out.weight.detach().T  # [neurons, d_model]
    w = (w - w.mean(1, keepdim=True)) * model.ln_final.weight.detach()
    logits = (w @ model.unembed.weight.detach().T).float().cpu()
    return square_scores(logits, float("nan")).numpy()


def promoted_and_suppressed(effects: np.ndarray, n: int = 3) -> tuple[list[str], list[str]]:
    """The ``n`` moves a neuron's logit effects (one row of :func:`logit_effects`) raise
    most and the ``n`` it lowers most; none for a neuron that writes nothing to the logits."""
    if not np.nanmax(effects) > np.nanmin(effects):
        return [], []
    order = [int(s) for s in np.argsort(np.nan_to_num(effects, nan=0.0)) if np.isfinite(effects[s])]
    return [square_name(s) for s in order[::-1][:n]], [square_name(s) for s in order[:n]]


@dataclass
class Sample:
    """Positions of some games with their true-board features and each model's neuron
    activations: bounded by the number of positions asked, whatever the number of games."""

    where: np.ndarray  # int64 [N, 2]: (games-file row, position)
    features: np.ndarray  # uint8 [N, 320]
    acts: list[dict[int, np.ndarray]]  # per model: {layer: float32 [N, neurons]}


@torch.no_grad()
def collect(
    models: list[GPT],
    games: GamesFile,
    rows: np.ndarray,
    picks: np.ndarray,
    layers: list[int],
    batch_games: int,
    keep: list[dict[int, np.ndarray] | None] | None = None,
    progress: bool = True,
    desc: str = "neurons",
) -> Sample:
    """Features and activations (float16) at ``picks`` ([N, 2]: index into ``rows``,
    position), a batch of games at a time, keeping only the picked positions and, for a model
    with a ``keep`` entry, only those neurons of each layer."""
    device = next(models[0].parameters()).device
    keep = keep or [None] * len(models)
    hooks = [act_name("post", layer) for layer in layers]
    where, features = [], []
    acts: list[dict[int, list]] = [{layer: [] for layer in layers} for _ in models]
    used = np.unique(picks[:, 0])
    for start in tqdm(
        range(0, len(used), batch_games), desc=desc, disable=not progress, leave=False
    ):
        chunk = used[start : start + batch_games]
        batch = read_batch(games, rows[chunk])
        mine = picks[np.isin(picks[:, 0], chunk)]
        g, p = np.searchsorted(chunk, mine[:, 0]), mine[:, 1]
        where.append(np.stack([rows[mine[:, 0]], p], 1))
        features.append(batch.features()[g, p])
        tokens = batch.tokens(device)
        for m, (model, out) in enumerate(zip(models, acts, strict=True)):
            _, cache = model.run_with_cache(tokens, hooks)
            for layer, hook in zip(layers, hooks, strict=True):
                a = cache[hook][g, p]
                if keep[m] is not None:
                    a = a[:, torch.as_tensor(keep[m][layer], device=a.device)]
                out[layer].append(a.half().cpu().numpy())
    joined = [{layer: np.concatenate(a[layer]) for layer in layers} for a in acts]
    return Sample(np.concatenate(where), np.concatenate(features), joined)


def top_positions(sample: Sample, acts: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Each neuron's ``k`` most active positions of a sample: games-file row, position and
    activation, [neurons, k] each."""
    k = min(k, len(acts))
    top = np.argsort(-acts, axis=0)[:k].T  # [neurons, k]
    return {
        "top_game": sample.where[top, 0].astype(np.int64),
        "top_position": sample.where[top, 1].astype(np.int16),
        "top_value": np.take_along_axis(acts.T, top, 1).astype(np.float32),
    }


def share_above(r2: list[float | None], threshold: float) -> float:
    """Share of neurons whose test R^2 is above ``threshold`` (a constant neuron is not)."""
    return float(np.mean([r is not None and r > threshold for r in r2])) if r2 else 0.0


def layer_verdict(share: float, controls: dict[str, float], margin: float, ratio: float) -> str:
    """``explained`` when the share is far above every control: at least ``ratio`` times the
    larger control and ``margin`` above it; otherwise the verdict says the trees explain
    nothing clearly beyond the controls, and what "clearly" asked."""
    worst = max(controls.values(), default=0.0)
    if share >= ratio * worst and share - worst >= margin:
        return "explained"
    return f"not beyond the controls (needs {100 * margin:g} points and {ratio:g}x over the larger)"
