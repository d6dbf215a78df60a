"""Fit many probes in one streamed pass per epoch over a cache.

Every (scheme, kind, hook) probe is independent, but they share the expensive part: reading
activations from disk. So each chunk of training games is read once per epoch and every probe
takes its optimiser steps on it; memory is one chunk, whatever the size of the cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from othello.common.device import DEVICES, pick_device
from othello.common.errors import UserError
from probes.acts.reader import flat_positions
from probes.acts.source import ActivationSource
from probes.common import ProbeKey
from probes.kinds import KINDS, default_settings, make_probe, probe_kind
from probes.schemes import scheme


@dataclass
class FitConfig:
    """What the probe stage fits. Each kind's own settings (learning rate, MLP width) are in
    its dataclass in probes/kinds.py, overridden as ``KIND.key=value``."""

    # scheme/kind pairs (schemes: probes/schemes.py, kinds: probes/kinds.py)
    probes: tuple[str, ...] = (
        "mine_theirs/linear",
        "black_white/linear",
        "flipped/linear",
        "legal/linear",
        "mine_theirs/mlp",
        "black_white/mlp",
    )
    hooks: list[str] | None = None  # default: every hook in the cache
    epochs: int = 3
    min_steps: int = 300  # small caches take more epochs, so every fit gets enough steps
    batch_positions: int = 1024
    chunk_games: int = 256
    device: str = "auto"  # where probes are fitted and scored: auto (a GPU if any), cpu, cuda
    seed: int = 0
    # games per probe split: fewer than the least is refused (unless allow_small), fewer than
    # advised is reported as a warning in the output and in metrics.json
    min_train_games: int = 50
    advised_train_games: int = 1000
    min_eval_games: int = 10  # validation (layer choice) and test (reported figures)
    advised_eval_games: int = 100
    allow_small: bool = False
    threads: int = 0  # torch CPU threads (0: torch's default)
    specs: list[ProbeKey] = field(init=False)  # the probes, parsed (without their hooks)

    def __post_init__(self) -> None:
        self.specs = [ProbeKey.parse(item).fitted for item in self.probes]
        for spec in self.specs:
            scheme(spec.scheme), probe_kind(spec.kind)  # fail early on a typo
        if self.device not in DEVICES:
            raise UserError(f"device must be one of {DEVICES}, got {self.device!r}")

    @property
    def schemes(self) -> list[str]:
        return list(dict.fromkeys(spec.scheme for spec in self.specs))


def count_positions(source: ActivationSource, split: str, chunk_games: int = 1024) -> int:
    return sum(
        int(chunk["valid"].sum())
        for chunk in source.iter_chunks(split, [], [], chunk_games=chunk_games)
    )


Probes = dict[ProbeKey, nn.Module]  # keyed scheme/kind/hook


def fit_probes(
    source: ActivationSource,
    cfg: FitConfig,
    progress: bool = True,
    kinds: dict[str, Any] | None = None,
) -> Probes:
    """Probes fitted on the training split of ``source`` (an acts.h5 or in-memory source);
    ``kinds`` maps a kind to its settings (defaults for those not given)."""
    kinds = {**default_settings(), **(kinds or {})}
    hooks = cfg.hooks or list(source.hooks)
    missing = [h for h in hooks if h not in source.hooks]
    if missing:
        raise UserError(f"the cache has no activations for {missing[0]!r}")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    probes = {key: p.to(device) for key, p in new_probes(source, cfg, hooks, kinds).items()}
    optimizer = torch.optim.AdamW(_param_groups(probes, cfg, kinds), weight_decay=0.0)
    n_train = count_positions(source, "train")
    steps_per_epoch = math.ceil(n_train / cfg.batch_positions) + math.ceil(
        len(source.split_rows("train")) / cfg.chunk_games
    )  # at most one short batch per chunk
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
    schedule = cosine_schedule(optimizer, epochs * steps_per_epoch)
    rng = np.random.default_rng(cfg.seed)
    bar = tqdm(
        total=epochs * n_train, unit="pos", unit_scale=True, desc="probes", disable=not progress
    )
    labels = sorted({scheme(spec.scheme).label for spec in cfg.specs})
    for epoch in range(epochs):
        chunks = source.iter_chunks("train", hooks, labels, cfg.chunk_games, cfg.seed + epoch)
        for chunk in chunks:
            xs = {h: torch.from_numpy(flat_positions(chunk, h)).to(device) for h in hooks}
            ys = {
                n: torch.from_numpy(flat_positions(chunk, n).astype(np.int64)).to(device)
                for n in labels
            }
            order = torch.from_numpy(rng.permutation(len(next(iter(ys.values()))))).to(device)
            for batch in order.split(cfg.batch_positions):
                loss = batch_loss(probes, cfg, xs, ys, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update(len(batch))
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item() / len(probes):.4f}")
    bar.close()
    return {key: probe.eval().cpu() for key, probe in probes.items()}


def new_probes(
    source: ActivationSource, cfg: FitConfig, hooks: list[str], kinds: dict[str, Any]
) -> Probes:
    """Every probe to fit, unfitted, its input standardisation set from the first chunk of
    training games."""
    first = next(iter(source.iter_chunks("train", hooks, [], cfg.chunk_games)), None)
    if first is None or not first["valid"].any():
        raise UserError("the cache has no training positions")
    probes: Probes = {}
    for hook in hooks:
        x = torch.from_numpy(flat_positions(first, hook))
        mean, scale = x.mean(0), x.std(0)
        for spec in cfg.specs:
            n_classes = scheme(spec.scheme).n_classes
            probe = make_probe(spec.kind, x.shape[-1], n_classes, kinds[spec.kind])
            probe.set_standardisation(mean, scale)
            probes[spec.at(hook)] = probe
    return probes


def cosine_schedule(optimizer: torch.optim.Optimizer, total: int):
    """The learning rate from its peak down to zero along half a cosine over ``total`` steps."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
    )


def batch_loss(probes: Probes, cfg: FitConfig, xs: dict, ys: dict, batch: torch.Tensor):
    """The summed cross-entropy of every probe on one batch of positions. The classes go to
    dimension 1 (torch's layout for a per-square target): its log-softmax over a last dimension
    of 2 or 3 classes ran 2.4-3x slower and was over half of a probe fit's time."""
    loss = 0.0
    for hook, x in xs.items():
        for spec, logits in _logits(probes, cfg, hook, x[batch]):
            y = ys[scheme(spec.scheme).label][batch]
            loss = loss + F.cross_entropy(logits.movedim(-1, 1), y)
    return loss


def _by_kind(cfg: FitConfig) -> dict[str, list[ProbeKey]]:
    """The probes of each kind, kinds in registry order (the order probes are made and
    summed)."""
    return {
        kind: [spec for spec in cfg.specs if spec.kind == kind]
        for kind in KINDS
        if any(spec.kind == kind for spec in cfg.specs)
    }


def _param_groups(probes: Probes, cfg: FitConfig, kinds: dict) -> list[dict]:
    groups = []
    for kind in _by_kind(cfg):
        members = [p for key, p in probes.items() if key.kind == kind]
        params = [q for p in members for q in p.parameters()]
        groups.append({"params": params, **probe_kind(kind).optimizer_group(kinds[kind])})
    return groups


def _logits(probes: Probes, cfg: FitConfig, hook: str, x: torch.Tensor):
    """(probe, logits) of every probe on one hook; a kind with a batched forward runs all
    its probes of the hook at once."""
    for kind, specs in _by_kind(cfg).items():
        members = [probes[spec.at(hook)] for spec in specs]
        batched = probe_kind(kind).batched
        outputs = batched(members, x) if batched else [p(x) for p in members]
        yield from zip(specs, outputs, strict=True)
