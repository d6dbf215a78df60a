"""Train a sparse autoencoder on one hook of an activation cache, streamed a chunk at a time.

Memory is one chunk of games (``chunk_games``), whatever the cache's size. Chunks come in a
seeded order each epoch and positions are shuffled within a chunk by a seed of (seed, epoch,
chunk), so a run is the same bytes every time, and a run killed part way and started again
from its checkpoint (written at chunk boundaries) ends with the same weights.

Dead features: each feature's count of positions since it last fired. TopK SAEs add Gao et
al.'s auxiliary loss (the dead features' top ``aux_k`` reconstruct what the live ones missed);
ReLU SAEs resample dead features every ``resample_every`` steps towards the inputs they
reconstruct worst (Anthropic, "Towards Monosemanticity").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from othello import checkpoint
from othello.errors import UserError
from probes.acts.reader import flat_positions
from probes.fit import resolve_device
from probes.sae.model import SAEConfig, SparseAutoencoder

STATE = "sae_checkpoint.pt"


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Squared error summed over the residual dimensions, mean over positions."""
    return (x_hat - x).pow(2).sum(-1).mean()


def aux_k_loss(sae: SparseAutoencoder, x, x_hat, pre, dead: torch.Tensor, aux_k: int):
    """Gao et al.'s auxiliary loss: the top ``aux_k`` dead features alone reconstruct the
    residual the live ones left, so dead features get gradient and come back."""
    if not dead.any():
        return x.new_zeros(())
    residual = (x - x_hat).detach()
    masked = pre.masked_fill(~dead, float("-inf"))
    k = min(aux_k, int(dead.sum()))
    values, indices = masked.topk(k, dim=-1)
    features = torch.zeros_like(pre).scatter_(-1, indices, values.relu())
    return (features @ sae.W_dec - residual).pow(2).sum(-1).mean() / residual.pow(2).sum(
        -1
    ).mean().clamp(min=1e-8)


def training_loss(sae: SparseAutoencoder, x: torch.Tensor, cfg: SAEConfig, dead: torch.Tensor):
    """(loss, features) of one batch."""
    pre = sae.pre_activations(x)
    features = sae.activate(pre)
    x_hat = sae.decode(features)
    loss = reconstruction_loss(x, x_hat)
    if cfg.architecture == "standard":
        loss = loss + cfg.l1_coefficient * features.sum(-1).mean()
    elif cfg.aux_coefficient:
        loss = loss + cfg.aux_coefficient * aux_k_loss(sae, x, x_hat, pre, dead, cfg.aux_k)
    return loss, features


@torch.no_grad()
def resample_dead(sae: SparseAutoencoder, optimizer, x: torch.Tensor, dead: torch.Tensor) -> int:
    """Point each dead feature at one of the batch's worst-reconstructed inputs (its residual,
    normalised), with a small encoder; their optimiser moments restart at zero."""
    index = dead.nonzero().flatten()
    if len(index) == 0:
        return 0
    errors = (sae(x) - x).pow(2).sum(-1)
    worst = errors.topk(min(len(index), len(x))).indices
    index = index[: len(worst)]
    direction = x[worst] - sae.b_dec
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    alive = ~dead
    scale = 0.2 * (sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else 1.0)
    sae.W_dec[index] = direction
    sae.W_enc[:, index] = direction.T * scale
    sae.b_enc[index] = 0.0
    for param, rows in (
        (sae.W_dec, (index,)),
        (sae.W_enc, (slice(None), index)),
        (sae.b_enc, (index,)),
    ):
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][rows] = 0.0
    return len(index)


def _first_chunk(source, hook: str, cfg: SAEConfig) -> torch.Tensor:
    chunk = next(iter(source.iter_chunks("train", [hook], [], cfg.chunk_games, cfg.seed)), None)
    if chunk is None or not chunk["valid"].any():
        raise UserError("the cache has no training positions")
    return torch.from_numpy(flat_positions(chunk, hook))


class SAETrainer:
    """One SAE's training state: the SAE, its optimiser, each feature's positions since it
    last fired, and where in the stream it stands (epoch, chunk, step), all checkpointed."""

    def __init__(self, source, hook: str, cfg: SAEConfig, out: Path) -> None:
        if hook not in source.hooks:
            raise UserError(f"the cache holds no activations for {hook!r}; it has {source.hooks}")
        self.source, self.hook, self.cfg, self.out = source, hook, cfg, out
        self.device = resolve_device(cfg.device)
        d_sae = cfg.check_width(source.d_model)
        first = _first_chunk(source, hook, cfg)
        # training sees x * scale, of mean squared norm d_in; the saved SAE has it folded in
        self.scale = float((source.d_model / first.pow(2).sum(-1).mean()).sqrt())
        sae = SparseAutoencoder(source.d_model, d_sae, cfg.architecture, cfg.k)
        sae.initialise(torch.Generator().manual_seed(cfg.seed), first.mean(0) * self.scale)
        self.sae = sae.to(self.device)
        self.optimizer = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
        self.since_fired = torch.zeros(d_sae, dtype=torch.long, device=self.device)
        self.position = {"epoch": 0, "chunk": 0, "step": 0, "seconds": 0.0, "positions": 0}
        if (out / STATE).exists():
            state = checkpoint.load(out / STATE, self.device)
            self.sae.load_state_dict(state["sae"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.since_fired = state["since_fired"].to(self.device)
            self.position = state["position"]
        self.began = time.perf_counter() - self.position["seconds"]

    @property
    def dead(self) -> torch.Tensor:
        return self.since_fired > self.cfg.dead_after

    def step(self, x: torch.Tensor) -> float:
        loss, features = training_loss(self.sae, x, self.cfg, self.dead)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.sae.normalise_decoder()
        fired = (features > 0).any(0)
        self.since_fired = torch.where(fired, 0, self.since_fired + len(x))
        self.position["step"] += 1
        self.position["positions"] += len(x)
        every = self.cfg.resample_every
        if self.cfg.architecture == "standard" and self.position["step"] % every == 0:
            resample_dead(self.sae, self.optimizer, x, self.dead)
        return float(loss.detach())

    def chunk(self, chunk: dict) -> float:
        """Train on one chunk's positions, in an order seeded by (seed, epoch, chunk)."""
        x_all = torch.from_numpy(flat_positions(chunk, self.hook)).to(self.device) * self.scale
        seed = [self.cfg.seed, self.position["epoch"], self.position["chunk"]]
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x_all)))
        loss = 0.0
        for batch in order.split(self.cfg.batch_positions):
            loss = self.step(x_all[batch.to(self.device)])
        self.position["chunk"] += 1
        return loss

    def save(self) -> None:
        position = {**self.position, "seconds": time.perf_counter() - self.began}
        state = {"sae": self.sae.state_dict(), "optimizer": self.optimizer.state_dict()}
        state.update(since_fired=self.since_fired.cpu(), position=position)
        checkpoint.save(state, self.out / STATE)


def train_sae(
    source,
    hook: str,
    cfg: SAEConfig,
    out: str | os.PathLike,
    progress: bool = True,
    stop_after_steps: int | None = None,
) -> tuple[SparseAutoencoder, dict]:
    """Train (or resume from ``out/sae_checkpoint.pt``) an SAE on ``hook`` of ``source`` (an
    ActsFile or ArraySource); returns it and its training record. ``stop_after_steps`` stops
    as a kill would, after a checkpoint at the end of a chunk (to test resumption)."""
    trainer = SAETrainer(source, hook, cfg, Path(out))
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
            "train", [hook], [], cfg.chunk_games, seed, position["chunk"]
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
    sae.fold_input_scale(trainer.scale)
    return sae, {**record, "input_scale": trainer.scale}
