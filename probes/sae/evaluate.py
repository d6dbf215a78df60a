"""How good a sparse autoencoder is: as a reconstruction, inside the model, and against the
true board.

* reconstruction (test games of the cache): mean squared error, explained variance
  (1 - FVU), mean L0, dead features (never active on the test positions) and dense ones
  (active on more than 10% of them);
* spliced into the model: the model's own training loss and top-1 legal accuracy when the
  SAE's reconstruction (of its input hook's activation) replaces the activation at its output
  hook (the same hook for an SAE, another for a transcoder), beside the clean model and zero
  and mean ablation of the output hook; ``loss_recovered`` = (L_zero - L_sae) / (L_zero -
  L_clean);
* board (Karvonen et al. 2024): each board property (a square holding mine/theirs/empty, a
  legal move, a flipped disc) gets the single feature and threshold (a share of the feature's
  largest training activation) with the best F1 on the *training* games; ``coverage`` is the
  mean test F1 of those classifiers, and ``board_reconstruction`` the accuracy of the board
  they predict on the *test* games (per square, the firing classifier of highest training
  precision; none firing: the square's commonest class in training).
"""

from __future__ import annotations

import numpy as np
import torch

from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from othello.model.legality import TOP1, proposes_illegal
from othello.training.objectives import legal_move_targets, next_move_loss
from othello.world.labels import replay
from othello.world.squares import N_SQUARES
from othello.world.tokens import encode
from probes.acts.reader import flat_positions
from probes.acts.source import ActivationSource
from probes.sae.model import SparseAutoencoder
from probes.schemes import scheme

THRESHOLDS = np.arange(10) / 10  # shares of a feature's largest training activation
DENSE_SHARE = 0.1
MIN_POSITIVES = 10  # a property seen fewer times in training is not scored
BOARD_LABELS = {"mine_theirs": "board_relative", "legal": "legal", "flipped": "flipped"}


@torch.no_grad()
def features_of(
    sae: SparseAutoencoder,
    source: ActivationSource,
    hook: str,
    split: str,
    labels=(),
    chunk_games: int = 128,
):
    """Yield (x, features, chunk with ``labels``) for one split, a chunk at a time (``hook``:
    the SAE's input)."""
    for chunk in source.iter_chunks(split, [hook], list(labels), chunk_games):
        x = torch.from_numpy(flat_positions(chunk, hook))
        yield x, sae.encode(x), chunk


@torch.no_grad()
def reconstruction(
    sae: SparseAutoencoder,
    source: ActivationSource,
    hook: str,
    split: str = "test",
    hook_out: str | None = None,
) -> dict:
    """Reconstruction figures on one split (the test games by default) of ``hook_out``'s
    activations (None: ``hook``'s) from ``hook``'s."""
    hook_out = hook if hook_out is None else hook_out
    sq_err = total = n = l0 = 0.0
    sums, sq_sums = None, None
    fires = torch.zeros(sae.d_sae, dtype=torch.long)
    for chunk in source.iter_chunks(split, list(dict.fromkeys((hook, hook_out))), [], 128):
        x = torch.from_numpy(flat_positions(chunk, hook))
        y = x if hook_out == hook else torch.from_numpy(flat_positions(chunk, hook_out))
        f = sae.encode(x)
        y_hat = sae.decode(f, x)
        sq_err += float((y_hat - y).pow(2).sum())
        sums = y.sum(0) if sums is None else sums + y.sum(0)
        sq_sums = y.pow(2).sum(0) if sq_sums is None else sq_sums + y.pow(2).sum(0)
        n += len(x)
        active = f > 0
        l0 += float(active.sum())
        fires += active.sum(0)
    total = float((sq_sums - sums.pow(2) / n).sum())  # squared deviation from the mean
    return {
        "mse": sq_err / (n * sae.d_out),
        "explained_variance": 1 - sq_err / total,
        "l0": l0 / n,
        "dead_features": float((fires == 0).float().mean()),
        "dense_features": float((fires > DENSE_SHARE * n).float().mean()),
        f"{split}_positions": int(n),
    }


@torch.no_grad()
def spliced(
    model: HookedModel,
    sae: SparseAutoencoder,
    source: ActivationSource,
    hook: str,
    target: str,
    games: int = 300,
    hook_out: str | None = None,
) -> dict:
    """The model's loss and top-1 legal accuracy on test games: clean, with the activation at
    ``hook_out`` (None: ``hook``) replaced by the SAE's reconstruction of ``hook``'s, and with
    ``hook_out`` zeroed or set to its mean."""
    hook_out = hook if hook_out is None else hook_out
    return splice_figures(model, source, splice_hooks(sae, hook, hook_out), [hook_out], target,
                          games)  # fmt: skip


@torch.no_grad()
def splice_figures(
    model: HookedModel,
    source: ActivationSource,
    replaced: list,
    outputs: list[str],
    target: str,
    games: int = 300,
) -> dict:
    """:func:`spliced`'s figures for any number of SAEs spliced in at once: ``replaced``,
    their hook functions (:func:`splice_hooks` of each, concatenated); ``outputs``, the hooks
    they write, each zeroed or set to its mean for the ablations beside them."""
    rows = source.split_rows("test")[:games]
    moves, lengths = source.games(rows)
    tokens = torch.as_tensor(encode(moves))
    targets = legal_move_targets(moves) if target != "sampled" else None
    means = {hook: _hook_mean(source, hook) for hook in outputs}

    def mean_of(hook: str):
        return lambda x, _: means[hook].view(x.shape[2:]).expand_as(x).to(x.dtype)

    variants = {
        "clean": [],
        "sae": replaced,
        "zero": [(hook, lambda x, _: torch.zeros_like(x)) for hook in outputs],
        "mean": [(hook, mean_of(hook)) for hook in outputs],
    }
    out = {}
    for name, fns in variants.items():
        with model.hooks(fns):
            loss = float(next_move_loss(model, tokens, targets, target))
            logits = model(tokens[:, :-1])
        out[f"loss_{name}"] = loss
        out[f"top1_legal_{name}"] = _top1_legal(logits, moves, lengths)
    gap = out["loss_zero"] - out["loss_clean"]
    out["loss_recovered"] = (out["loss_zero"] - out["loss_sae"]) / gap if gap else None
    mean_gap = out["loss_mean"] - out["loss_clean"]
    out["loss_recovered_vs_mean"] = (
        (out["loss_mean"] - out["loss_sae"]) / mean_gap if mean_gap else None
    )
    out["spliced_games"] = len(rows)
    return out


def splice_hooks(sae: SparseAutoencoder, hook: str, hook_out: str) -> list:
    """Hook functions that keep the activation at ``hook`` (each position's flattened, as
    the cache holds it) and replace the one at ``hook_out`` by the SAE's reconstruction of
    it; the same hook for an SAE (read, then replaced), which is why reading comes first."""
    read: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor, _) -> None:
        read["x"] = x

    def replace(x: torch.Tensor, _) -> torch.Tensor:
        if "x" not in read:
            raise UserError(f"{hook_out} runs before {hook}: a transcoder must write downstream")
        x_in = read.pop("x")
        return sae(x_in.flatten(2).float()).view(x.shape).to(x.dtype)

    return [(hook, keep), (hook_out, replace)]


def _hook_mean(source: ActivationSource, hook: str) -> torch.Tensor:
    total, n = 0, 0
    for chunk in source.iter_chunks("train", [hook], [], 512):
        x = flat_positions(chunk, hook)
        total, n = total + x.sum(0), n + len(x)
    return torch.from_numpy(total / n).float()


def _top1_legal(logits: torch.Tensor, moves: np.ndarray, lengths: np.ndarray) -> float:
    """Share of positions (someone to move) where the model's first choice is legal."""
    labels = replay(moves, lengths)
    n = logits.shape[1]
    top1 = ~proposes_illegal(logits, np.ascontiguousarray(labels.legal[:, :n]), TOP1).numpy()
    return float(top1[labels.next_player[:, :n] >= 0].mean())


def property_labels(chunk: dict, name: str) -> np.ndarray:
    """bool [positions, P]: the board properties of one scheme at each valid position."""
    values = flat_positions(chunk, BOARD_LABELS[name]).astype(np.int64)
    n_classes = scheme(name).n_classes
    if n_classes == 2:
        return values.astype(bool)
    return (values[:, :, None] == np.arange(n_classes)).reshape(len(values), -1)


class PropertyCounts:
    """True positives per threshold, feature and property; predicted and actual positives."""

    def __init__(self, n_features: int, n_properties: int) -> None:
        self.tp = np.zeros((len(THRESHOLDS), n_features, n_properties), np.int64)
        self.predicted = np.zeros((len(THRESHOLDS), n_features), np.int64)
        self.actual = np.zeros(n_properties, np.int64)

    def add(self, fires: np.ndarray, labels: np.ndarray) -> None:
        """fires bool [thresholds, positions, features], labels bool [positions, properties]."""
        y = labels.astype(np.float32)
        for j in range(len(THRESHOLDS)):
            f = fires[j].astype(np.float32)
            self.tp[j] += np.rint(f.T @ y).astype(np.int64)
            self.predicted[j] += fires[j].sum(0)
        self.actual += labels.sum(0)

    def f1(self) -> np.ndarray:
        """[thresholds, features, properties]."""
        denominator = self.predicted[:, :, None] + self.actual[None, None, :]
        return np.where(denominator > 0, 2 * self.tp / np.maximum(denominator, 1), 0.0)

    def precision(self) -> np.ndarray:
        return self.tp / np.maximum(self.predicted[:, :, None], 1)


def board_metrics(
    sae: SparseAutoencoder, source: ActivationSource, hook: str, names=tuple(BOARD_LABELS)
) -> dict:
    """Coverage and board reconstruction per scheme (rules from training, scores on test)."""
    peak = torch.zeros(sae.d_sae)
    for _, f, _ in features_of(sae, source, hook, "train"):
        peak = torch.maximum(peak, f.max(0).values)
    peak = peak.numpy()
    levels = THRESHOLDS[:, None] * peak[None, :]  # [thresholds, features]

    def counts(split: str) -> dict[str, PropertyCounts]:
        out = {}
        wanted = [BOARD_LABELS[name] for name in names]
        for _, f, chunk in features_of(sae, source, hook, split, wanted):
            fires = (f.numpy()[None] > levels[:, None, :]) & (peak > 0)[None, None, :]
            for name in names:
                labels = property_labels(chunk, name)
                out.setdefault(name, PropertyCounts(sae.d_sae, labels.shape[1])).add(fires, labels)
        return out

    train, test = counts("train"), counts("test")
    return {
        name: _score_scheme(name, train[name], test[name], source, hook, sae, levels)
        for name in names
    }


def _score_scheme(name: str, train, test, source, hook, sae, levels: np.ndarray) -> dict:
    """Choose each property's feature and threshold on training F1; score them on test."""
    f1_train = train.f1()
    choice = f1_train.reshape(-1, f1_train.shape[-1]).argmax(0)
    level, feature = np.unravel_index(choice, f1_train.shape[:2])
    props = np.arange(len(choice))
    scored = train.actual >= MIN_POSITIVES
    test_f1 = test.f1()[level, feature, props]
    precision = train.precision()[level, feature, props]
    cut = levels[level, feature]
    per_feature = f1_train.max(0)  # [features, properties]: each at its best threshold
    return {
        "coverage": float(test_f1[scored].mean()),
        "board_reconstruction": _reconstruction_accuracy(
            name, sae, source, hook, feature, cut, precision
        ),
        "properties_scored": int(scored.sum()),
        "feature_per_property": feature.tolist(),
        "threshold_per_property": THRESHOLDS[level].tolist(),
        "test_f1_per_property": test_f1.round(4).tolist(),
        "feature_match": per_feature.argmax(1).tolist(),  # each feature's best property
        "feature_match_f1": per_feature.max(1).round(4).tolist(),
    }


def _reconstruction_accuracy(name, sae, source, hook, feature, cut, precision) -> float:
    """Accuracy of the board the chosen classifiers (``feature`` above ``cut``, per property)
    predict on the test games."""
    n_classes = scheme(name).n_classes
    majority = _square_majority(source, name, n_classes)
    correct = total = 0
    for _, f, chunk in features_of(sae, source, hook, "test", [BOARD_LABELS[name]]):
        fires = f.numpy()[:, feature] > cut[None, :]  # [positions, properties]
        truth = flat_positions(chunk, BOARD_LABELS[name]).astype(np.int64)  # [positions, 64]
        if n_classes == 2:
            predicted = fires
        else:
            score = np.where(fires, precision[None, :], -1.0).reshape(
                len(fires), N_SQUARES, n_classes
            )
            predicted = np.where(score.max(-1) >= 0, score.argmax(-1), majority[None, :])
        correct += int((predicted == truth).sum())
        total += truth.size
    return correct / max(total, 1)


def _square_majority(source, name: str, n_classes: int) -> np.ndarray:
    counts = np.zeros((64, n_classes), np.int64)
    for chunk in source.iter_chunks("train", [], [BOARD_LABELS[name]], 1024):
        values = flat_positions(chunk, BOARD_LABELS[name]).astype(np.int64)
        for c in range(n_classes):
            counts[:, c] += (values == c).sum(0)
    return counts.argmax(-1)
