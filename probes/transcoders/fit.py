"""Train one transcoder per MLP layer and score them as the SAEs are scored: the variance of
the MLP's output explained (test games of the activations), L0 and dead features; the model
with that layer's MLP replaced by its transcoder (its loss and top-1 legal), and with every
MLP replaced at once; each feature's best board label; the same for the random-init model.

Activations are taken in memory (:func:`probes.acts.memory.cache_activations`: ``games``
games of the corpus's validation split, split 80/10/10 into training, validation and test
games as every cache is), at each block's ``ln2.hook_normalized`` and ``hook_mlp_out``: one
forward pass per batch, so no activation file is needed on disk; or read from an activation
cache that holds those hooks (``scripts/cache.py --hooks ...``: :func:`cached_source`), checked
to be this model's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from othello.model.hooks import transcoder_hooks
from othello.model.kinds import NEURONS, random_init, require
from probes.acts.memory import cache_activations
from probes.acts.source import ActivationSource
from probes.sae.evaluate import reconstruction, splice_figures, splice_hooks
from probes.sae.model import SAEConfig, SparseAutoencoder
from probes.sae.train import train_sae
from probes.transcoders.labels import FeatureLabels, feature_labels, label_summary

# spliced()'s keys for the transcoder spliced in, under the names metrics.json gives them
RENAMED = {"loss_sae": "spliced_loss", "top1_legal_sae": "spliced_top1_legal",
           "explained_variance": "variance_explained"}  # fmt: skip


def renamed(figures: dict) -> dict:
    return {RENAMED.get(k, k): v for k, v in figures.items()}


@dataclass
class Fitted:
    """One model's transcoders (``{layer: transcoder}``), their labels and figures: per layer
    and with every layer spliced in at once; ``games``: games per split of the activations."""

    transcoders: dict[int, SparseAutoencoder]
    labels: dict[int, FeatureLabels]
    layers: dict[int, dict] = field(default_factory=dict)
    all_layers: dict = field(default_factory=dict)
    games: dict[str, int] = field(default_factory=dict)


def fit_layer(
    source: ActivationSource,
    model: HookedModel,
    layer: int,
    cfg: SAEConfig,
    target: str,
    spliced_games: int,
    progress: bool,
) -> tuple[SparseAutoencoder, FeatureLabels, dict]:
    """Block ``layer``'s MLP's transcoder, its labels and its figures."""
    hook, hook_out = transcoder_hooks(layer)
    began = time.perf_counter()
    transcoder, record = train_sae(source, hook, cfg, None, progress, hook_out=hook_out)
    figures = reconstruction(transcoder, source, hook, "test", hook_out)
    replaced = splice_hooks(transcoder, hook, hook_out)
    figures |= splice_figures(model, source, replaced, [hook_out], target, spliced_games)
    labels = feature_labels(transcoder, source, hook)
    figures |= label_summary(labels)
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return transcoder, labels, {**renamed(figures), "training": record}


def cached_source(path, model: HookedModel, layers: list[int]) -> ActivationSource:
    """An activation cache file holding every layer's transcoder hooks, of ``model`` (refused
    in one line when it is another model's or lacks a hook)."""
    from probes.acts.reader import ActsFile
    from probes.stage_spec import model_sha256

    source = ActsFile(path, model_sha256=model_sha256(model))
    wanted = [hook for layer in layers for hook in transcoder_hooks(layer)]
    missing = [hook for hook in wanted if hook not in source.hooks]
    if missing:
        raise UserError(
            f"{path}: no activations at {missing}; cache them with scripts/cache.py "
            f"--hooks {','.join(wanted)}"
        )
    return source


def fit_model(
    model: HookedModel,
    games,
    layers: list[int],
    cfg: SAEConfig,
    n_games: int,
    target: str,
    spliced_games: int,
    progress: bool = True,
    acts=None,
) -> Fitted:
    """Transcoders of ``layers`` of ``model`` on ``n_games`` games' activations (or those of
    the cache file ``acts``), each scored alone, then all spliced in together."""
    hooks = [hook for layer in layers for hook in transcoder_hooks(layer)]
    if acts is not None:
        source = cached_source(acts, model, layers)
    else:
        source = cache_activations(model, games, n_games, hooks=hooks, dtype="float16",
                                   progress=progress)  # fmt: skip
    fitted = Fitted({}, {}, games={s: len(source.split_rows(s)) for s in ("train", "val", "test")})
    for layer in layers:
        transcoder, labels, figures = fit_layer(source, model, layer, cfg, target, spliced_games,
                                                progress)  # fmt: skip
        fitted.transcoders[layer], fitted.labels[layer] = transcoder, labels
        fitted.layers[layer] = figures
    replaced = []
    for layer, transcoder in fitted.transcoders.items():
        replaced += splice_hooks(transcoder, *transcoder_hooks(layer))
    outputs = [transcoder_hooks(layer)[1] for layer in layers]
    fitted.all_layers = renamed(splice_figures(model, source, replaced, outputs, target,
                                               spliced_games))  # fmt: skip
    return fitted


def fit_transcoders(
    model: HookedModel,
    games,
    layers: list[int] | None,
    cfg: SAEConfig,
    n_games: int,
    target: str,
    spliced_games: int,
    control: bool = True,
    progress: bool = True,
    acts=None,
    control_acts=None,
) -> tuple[Fitted, Fitted | None]:
    """The model's transcoders and (``control``) the random-init model's, on activations
    taken in memory or read from cache files (``acts``, ``control_acts``); a model without
    MLPs is refused in one line."""
    require(model, NEURONS, "transcoders")
    layers = list(range(model.cfg.n_layers)) if layers is None else layers
    fitted = fit_model(model, games, layers, cfg, n_games, target, spliced_games, progress,
                       acts)  # fmt: skip
    if not control:
        return fitted, None
    baseline = fit_model(random_init(model), games, layers, cfg, n_games, target, spliced_games,
                         progress, control_acts)  # fmt: skip
    return fitted, baseline
