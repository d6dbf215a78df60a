"""Train a sparse autoencoder on one hook of an activation source (an ``acts.h5`` or one in
memory), streamed a chunk at a time; or a transcoder, reading one hook and reconstructing
another (``hook_out``).

Memory is one chunk of games (``chunk_games``), whatever the cache's size. Chunks come in a
seeded order each epoch and positions are shuffled within a chunk by a seed of (seed, epoch,
chunk), so a run is the same bytes every time, and a run killed part way and started again
from its checkpoint (written at chunk boundaries) ends with the same weights.

Dead features: each feature's count of positions since it last fired; what an architecture
does about them (TopK's auxiliary loss, ReLU's resampling) is its entry in
:mod:`probes.sae.architectures`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.files import SAE_STATE
from othello.model import checkpoint
from probes.acts.reader import flat_positions
from probes.acts.source import ActivationSource
from probes.sae.architectures import architecture
from probes.sae.model import SAEConfig, SparseAutoencoder


def reconstruction_loss(target: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Squared error summed over the target's dimensions, mean over positions."""
    return (x_hat - target).pow(2).sum(-1).mean()


def training_loss(
    sae: SparseAutoencoder, x: torch.Tensor, target: torch.Tensor, cfg: SAEConfig, dead
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, features) of one batch: the reconstruction of ``target`` from ``x`` and the
    architecture's penalty."""
    pre = sae.pre_activations(x)
    features = sae.activate(pre)
    x_hat = sae.decode(features, x)
    penalty = architecture(cfg.architecture).penalty(sae, target, x_hat, pre, features, dead, cfg)
    return reconstruction_loss(target, x_hat) + penalty, features


def read_hooks(hook: str, hook_out: str) -> list[str]:
    """The hooks a chunk must hold: the input, and the output where it is another."""
    return list(dict.fromkeys((hook, hook_out)))


def _first_chunk(source: ActivationSource, hooks: list[str], cfg: SAEConfig) -> dict:
    chunk = next(iter(source.iter_chunks("train", hooks, [], cfg.chunk_games, cfg.seed)), None)
    if chunk is None or not chunk["valid"].any():
        raise UserError("the cache has no training positions")
    return {h: torch.from_numpy(flat_positions(chunk, h)) for h in hooks}


def mean_square_scale(x: torch.Tensor) -> float:
    """The factor that gives ``x`` a mean squared norm of its width."""
    return float((x.shape[-1] / x.pow(2).sum(-1).mean()).sqrt())


class SAETrainer:
    """One SAE's training state: the SAE, its optimiser, each feature's positions since it
    last fired, and where in the stream it stands (epoch, chunk, step), all checkpointed."""

    def __init__(
        self, source: ActivationSource, hook: str, cfg: SAEConfig, out: Path | None, hook_out: str
    ) -> None:
        for name in (hook, hook_out):
            if name not in source.hooks:
                raise UserError(
                    f"the cache holds no activations for {name!r}; it has {source.hooks}"
                )
        self.source, self.hook, self.hook_out, self.cfg, self.out = source, hook, hook_out, cfg, out
        self.hooks = read_hooks(hook, hook_out)
        self.device = pick_device(cfg.device)
        d_in, d_out = source.width(hook), source.width(hook_out)
        d_sae = cfg.check_width(d_in)
        first = _first_chunk(source, self.hooks, cfg)
        sae = SparseAutoencoder(d_in, d_sae, cfg.architecture, cfg.k, d_out)
        # training sees x * scale and target * scale_out, each of mean squared norm its width
        # (one scale where b_dec is applied to the input); the saved SAE has them folded in
        self.scale = mean_square_scale(first[hook])
        same = hook == hook_out or sae.apply_b_dec_to_input
        self.scale_out = self.scale if same else mean_square_scale(first[hook_out])
        sae.initialise(
            torch.Generator().manual_seed(cfg.seed),
            first[hook_out].mean(0) * self.scale_out,
            cfg.threshold_init,
        )
        self.sae = sae.to(self.device)
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
        self.since_fired = torch.zeros(d_sae, dtype=torch.long, device=self.device)
        self.position = {"epoch": 0, "chunk": 0, "step": 0, "seconds": 0.0, "positions": 0}
        if out is not None and (out / SAE_STATE).exists():
            state = checkpoint.load(out / SAE_STATE, self.device)
            self.sae.load_state_dict(state["sae"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.since_fired = state["since_fired"].to(self.device)
            self.position = state["position"]
        self.began = time.perf_counter() - self.position["seconds"]

    @property
    def dead(self) -> torch.Tensor:
        return self.since_fired > self.cfg.dead_after

    def step(self, x: torch.Tensor, target: torch.Tensor) -> float:
        loss, features = training_loss(self.sae, x, target, self.cfg, self.dead)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.sae.normalise_decoder()
        fired = (features > 0).any(0)
        self.since_fired = torch.where(fired, 0, self.since_fired + len(x))
        self.position["step"] += 1
        self.position["positions"] += len(x)
        after = architecture(self.cfg.architecture).after_step
        if after is not None:
            after(self.sae, self.optimizer, x, target, self.dead, self.position["step"], self.cfg)
        return float(loss.detach())

    def chunk(self, chunk: dict) -> float:
        """Train on one chunk's positions, in an order seeded by (seed, epoch, chunk)."""
        x_all = torch.from_numpy(flat_positions(chunk, self.hook)).to(self.device) * self.scale
        y_all = x_all
        if self.hook_out != self.hook:
            y_all = torch.from_numpy(flat_positions(chunk, self.hook_out)).to(self.device)
            y_all = y_all * self.scale_out
        seed = [self.cfg.seed, self.position["epoch"], self.position["chunk"]]
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x_all)))
        loss = 0.0
        for batch in order.split(self.cfg.batch_positions):
            rows = batch.to(self.device)
            x = x_all[rows]
            loss = self.step(x, x if y_all is x_all else y_all[rows])
        self.position["chunk"] += 1
        return loss

    def save(self) -> None:
        """Checkpoint into ``out`` (None: trained in memory, nothing kept)."""
        if self.out is None:
            return
        position = {**self.position, "seconds": time.perf_counter() - self.began}
        state = {"sae": self.sae.state_dict(), "optimizer": self.optimizer.state_dict()}
        state.update(since_fired=self.since_fired.cpu(), position=position)
        checkpoint.save(state, self.out / SAE_STATE)


def train_sae(
    source: ActivationSource,
    hook: str,
    cfg: SAEConfig,
    out: str | os.PathLike | None,
    progress: bool = True,
    stop_after_steps: int | None = None,
    hook_out: str | None = None,
) -> tuple[SparseAutoencoder, dict]:
    """Train (or resume from ``out/sae_checkpoint.pt``; ``out`` None: in memory, no
    checkpoint) an SAE reading ``hook`` of ``source``
    and reconstructing ``hook_out`` (None: ``hook`` itself, a sparse autoencoder; another
    hook: a transcoder); returns it and its training record. ``stop_after_steps`` stops as a
    kill would, after a checkpoint at the end of a chunk (to test resumption)."""
    hook_out = hook if hook_out is None else hook_out
    trainer = SAETrainer(source, hook, cfg, None if out is None else Path(out), hook_out)
    position = trainer.position
    per_epoch = -(-len(source.split_rows("train")) // cfg.chunk_games)
    done = position["epoch"] * per_epoch + position["chunk"]
    bar = tqdm(
        total=cfg.epochs * per_epoch,
        initial=done,
        unit="chunk",
        desc=f"sae {hook}",
        disable=not progress,
    )
    stopped, saved_at = False, position["step"]
    while position["epoch"] < cfg.epochs and not stopped:
        seed = cfg.seed + position["epoch"]
        for chunk in source.iter_chunks(
            "train", trainer.hooks, [], cfg.chunk_games, seed, position["chunk"]
        ):
            loss = trainer.chunk(chunk)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", dead=int(trainer.dead.sum()))
            stopped = stop_after_steps is not None and position["step"] >= stop_after_steps
            if stopped or position["step"] - saved_at >= cfg.checkpoint_every:
                trainer.save()
                saved_at = position["step"]
            if stopped:
                break
        else:
            position["epoch"], position["chunk"] = position["epoch"] + 1, 0
    bar.close()
    if not stopped:
        trainer.save()
    record = {
        "steps": position["step"],
        "positions": position["positions"],
        "seconds": round(time.perf_counter() - trainer.began, 2),
        "dead_in_training": int(trainer.dead.sum()),
        "finished": not stopped,
    }
    sae = trainer.sae.cpu().eval()
    sae.fold_scales(trainer.scale, trainer.scale_out)
    scales = {"input_scale": trainer.scale}
    if hook_out != hook:
        scales["output_scale"] = trainer.scale_out
    return sae, {**record, **scales}
