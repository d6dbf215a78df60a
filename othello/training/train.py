"""Train the GPT to predict the next move: AdamW, warmup + cosine decay, clipping, bf16 on GPU,
DistributedDataParallel under ``torchrun``, and exact resume after a kill.

:func:`train` is a short loop over named steps (after nanoGPT's ``train.py``): the next batch
(prepared ahead in a thread when ``prefetch`` > 0), one optimiser step, logging, evaluation,
snapshots and checkpoints, each a function of a few lines.

A run directory (:mod:`othello.model.run_dir`) holds ``config.json`` (its RunRecord: the
resolved config, the corpus and its hash, the versions), ``metrics.jsonl``
(one line per log or eval step: loss, tokens/s, model FLOPs utilisation where the peak is
known, the share of time spent waiting for data), ``checkpoint.pt`` (model, optimiser, step,
data position and RNG, rewritten atomically every ``checkpoint_every`` steps), once finished
``model.pt``, and with ``snapshot_every`` the weights along the way under
``snapshots/step-NNNNNN/``.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model import checkpoint
from othello.model.evaluate import evaluate_games
from othello.model.hooked import HookedModel
from othello.model.kinds import build_model
from othello.model.run_dir import (
    CHECKPOINT,
    METRICS_LOG,
    MODEL,
    RunRecord,
    read_record,
    snapshot_dir,
    write_record,
)
from othello.training.config import TrainConfig, log_snapshot_steps
from othello.training.flops import flops_per_token, peak_flops
from othello.training.game_stream import Batches, GameStream
from othello.training.objectives import next_move_loss


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: HookedModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, norms, embeddings' positions or
    what a module marks ``_no_weight_decay``: Mamba's A_log and D, as mambapy marks them)."""
    params = list(model.named_parameters())
    decayed = [p.dim() >= 2 and n != "pos_embed" and not getattr(p, "_no_weight_decay", False)
               for n, p in params]  # fmt: skip
    decay = [p for (_, p), d in zip(params, decayed, strict=True) if d]
    rest = [p for (_, p), d in zip(params, decayed, strict=True) if not d]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


class _Distributed:
    """Rank and world under torchrun (RANK / WORLD_SIZE / LOCAL_RANK), else one process."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.rank = int(os.environ.get("RANK", 0))
        local = int(os.environ.get("LOCAL_RANK", 0))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def _run_record(cfg: TrainConfig, games: Path) -> RunRecord:
    with GamesFile(games) as corpus:
        corpus_attrs = {
            k: corpus.attrs[k] for k in ("seed", "n_games", "source") if k in corpus.attrs
        }
    attrs = {k: v.item() if hasattr(v, "item") else v for k, v in corpus_attrs.items()}
    return RunRecord.trained(cfg.to_dict(), games, file_sha256(games), attrs)


def check_run_dir(cfg: TrainConfig, games: Path, run_dir: Path, resume: bool) -> RunRecord:
    """The run's record (config.json); refuses, as a user's mistake, to overwrite a run, or to
    resume one made with another config or corpus."""
    record = _run_record(cfg, games)
    if (run_dir / CHECKPOINT).exists() and not resume:
        raise UserError(
            f"{run_dir} already holds a run; pass --resume to continue it or another --out"
        )
    if resume and (run_dir / CHECKPOINT).exists():
        saved = read_record(run_dir)
        for key in ("config", "games_sha256"):
            if getattr(saved, key) != getattr(record, key):
                raise UserError(f"{run_dir}: cannot resume, its {key} differs from this call's")
    return record


def configure_torch(cfg: TrainConfig, ddp: _Distributed) -> None:
    if cfg.threads and ddp.device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    if ddp.device.type == "cuda":  # TF32 for any float32 matmul left outside autocast
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if cfg.batch_size % ddp.world:
        raise UserError(f"batch_size {cfg.batch_size} is not divisible by {ddp.world} processes")


def resume_state(path: Path, model, optimizer, stream: GameStream, ddp: _Distributed) -> int:
    """Load a checkpoint into the model, optimiser, data stream and RNG; return its step."""
    state = checkpoint.load(path, ddp.device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    stream.load_state_dict(state["data"][ddp.rank] if ddp.world > 1 else state["data"][0])
    torch.set_rng_state(state["rng"])
    return int(state["step"])


def wrap_model(model: HookedModel, cfg: TrainConfig, ddp: _Distributed) -> torch.nn.Module:
    """What the optimiser step runs: the model, compiled and/or wrapped for DDP."""
    trained = torch.compile(model, backend=cfg.compile_backend) if cfg.compile else model
    if ddp.world > 1:
        index = ddp.device.index
        trained = DistributedDataParallel(
            trained, device_ids=[index] if index is not None else None
        )
    return trained


def autocast_context(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on a GPU (and on the CPU when ``amp_on_cpu``), else nothing."""
    if cfg.amp and (device.type == "cuda" or cfg.amp_on_cpu):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def optimiser_step(trained, model, optimizer, tokens, targets, cfg: TrainConfig, step, autocast):
    """One step at ``step``'s learning rate; returns the loss (on the device, not synced)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(cfg, step)
    with autocast:
        loss = next_move_loss(trained, tokens, targets, cfg.target)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


class RunLog:
    """metrics.jsonl: a line every ``log_every`` steps (loss, lr, tokens/s, MFU, the share of
    time spent waiting for data) and one per evaluation."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, ddp: _Distributed) -> None:
        self.path, self.cfg, self.main = run_dir / METRICS_LOG, cfg, ddp.main
        self.tokens_per_step = cfg.batch_size * cfg.model.n_ctx
        self.flops_per_token = flops_per_token(cfg.model)
        self.peak = peak_flops(ddp.device, cfg.amp, cfg.peak_tflops)
        self.began = time.perf_counter()
        self.loss, self.steps = torch.zeros((), device=ddp.device), 0
        self.window_start, self.window_wait = time.perf_counter(), 0.0
        self.last: dict = {}  # the latest line and evaluation: what a call returns

    def write(self, record: dict) -> None:
        if self.main:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def step(self, loss: torch.Tensor, step: int, wait_s: float) -> dict | None:
        """Add a step's loss; at a logging step write and return the window's line."""
        self.loss += loss
        self.steps += 1
        if step % self.cfg.log_every and step != self.cfg.max_steps:
            return None
        seconds = time.perf_counter() - self.window_start
        tokens_per_s = self.tokens_per_step * self.steps / seconds
        line = {
            "step": step,
            "loss": float(self.loss) / self.steps,
            "lr": learning_rate(self.cfg, step - 1),
            "tokens_per_s": tokens_per_s,
            "data_wait_share": round((wait_s - self.window_wait) / seconds, 4),
            "elapsed_s": time.perf_counter() - self.began,
        }
        if self.peak:
            line["mfu"] = round(tokens_per_s * self.flops_per_token / self.peak, 4)
        self.loss.zero_()
        self.steps, self.window_start, self.window_wait = 0, time.perf_counter(), wait_s
        self.write(line)
        self.last = line
        return line

    def evaluation(self, step: int, summary: dict) -> dict:
        line = {f"val_{k}": v for k, v in summary.items()}
        self.write({"step": step, "elapsed_s": time.perf_counter() - self.began, **line})
        self.last = {**self.last, "step": step, **line}
        return line


def evaluate_validation(model: HookedModel, games: tuple[np.ndarray, np.ndarray]) -> dict:
    summary = evaluate_games(model, *games).summary()
    summary.pop("top1_legal_accuracy_by_move")
    return summary


def save_checkpoint(path: Path, model, optimizer, step: int, position: dict, cfg, ddp) -> None:
    """Everything needed to resume: every rank's data position is gathered to rank 0."""
    positions = [position]
    if ddp.world > 1:
        positions = [None] * ddp.world
        dist.all_gather_object(positions, position)
    if ddp.main:
        checkpoint.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "data": positions,
                "rng": torch.get_rng_state(),
                "config": cfg.to_dict(),
            },
            path,
        )


def save_weights(path: Path, model: HookedModel, step: int, record: RunRecord) -> None:
    checkpoint.save_model(model, path, {"step": step, "games_sha256": record.games_sha256})


def out_of_time(began: float, max_minutes: float | None, ddp: _Distributed) -> bool:
    """Past the time limit; under DDP every rank stops at the same step."""
    late = max_minutes is not None and time.perf_counter() - began > 60 * max_minutes
    if late and ddp.world > 1:
        flag = torch.tensor(float(late), device=ddp.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        late = bool(flag.item())
    return late


def build(cfg: TrainConfig, games: Path, ckpt_path: Path, resume: bool, ddp: _Distributed):
    """The model, optimiser and data stream, seeded, at the checkpoint's step if resuming."""
    configure_torch(cfg, ddp)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(ddp.device)
    optimizer = make_optimizer(model, cfg)
    stream = GameStream(
        games, cfg.batch_size // ddp.world, cfg.seed, "train", ddp.rank, ddp.world, cfg.block_games
    )
    resuming = resume and ckpt_path.exists()
    step = resume_state(ckpt_path, model, optimizer, stream, ddp) if resuming else 0
    return model, optimizer, stream, step


def snapshot_steps(cfg: TrainConfig) -> frozenset[int]:
    """The steps whose weights training keeps: every ``snapshot_every``-th and the
    ``snapshot_log`` log-spaced ones (:func:`othello.training.config.log_snapshot_steps`)."""
    every = (
        range(cfg.snapshot_every, cfg.max_steps + 1, cfg.snapshot_every)
        if cfg.snapshot_every
        else []
    )
    return frozenset([*every, *log_snapshot_steps(cfg.max_steps, cfg.snapshot_log)])


def due(step: int, every: int, cfg: TrainConfig) -> bool:
    return step % every == 0 or step == cfg.max_steps


@dataclass
class StopRule:
    """When a call ends before ``max_steps``: after ``max_minutes`` of training or
    ``call_steps`` steps in this call (late: the model so far is saved too), or at step
    ``kill_at`` as a kill would (a checkpoint only; to test resumption)."""

    max_minutes: float | None
    call_steps: int | None
    kill_at: int | None
    first_step: int

    def late(self, step: int, began: float, ddp: _Distributed) -> bool:
        done = self.call_steps is not None and step - self.first_step >= self.call_steps
        return out_of_time(began, self.max_minutes, ddp) or done

    def killed(self, step: int) -> bool:
        return self.kill_at is not None and step >= self.kill_at


def train(
    cfg: TrainConfig,
    games: str | os.PathLike,
    run_dir: str | os.PathLike,
    resume: bool = False,
    max_minutes: float | None = None,
    stop_after_steps: int | None = None,
    progress: bool = True,
    call_steps: int | None = None,
) -> dict:
    """Train (or resume) a run; return its last metrics. ``max_minutes`` and ``call_steps``
    stop (with a checkpoint and the model so far) after that much training time or that many
    steps in this call; ``stop_after_steps`` stops early as a kill would, after writing a
    checkpoint (used to test resumption)."""
    games, run_dir = Path(games), Path(run_dir)
    ddp = _Distributed()
    ckpt_path = run_dir / CHECKPOINT
    record = check_run_dir(cfg, games, run_dir, resume)
    model, optimizer, stream, step = build(cfg, games, ckpt_path, resume, ddp)
    if ddp.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_record(run_dir, record)
    trained, autocast = wrap_model(model, cfg, ddp), autocast_context(cfg, ddp.device)
    val_games = _validation_games(games, cfg.eval_games)
    log, batches = RunLog(run_dir, cfg, ddp), Batches(stream, cfg, ddp.device)
    bar = tqdm(
        total=cfg.max_steps, initial=step, disable=not (progress and ddp.main), unit="step",
        desc=f"train {run_dir.name}",
    )  # fmt: skip
    stopped = late = False
    position, stop = stream.state_dict(), StopRule(max_minutes, call_steps, stop_after_steps, step)
    snapshots = snapshot_steps(cfg)
    if ddp.main and step == 0 and 0 in snapshots:  # the initialisation, before any update
        save_weights(snapshot_dir(run_dir, 0) / MODEL, model, 0, record)
    model.train()
    try:
        while step < cfg.max_steps:
            tokens, targets, position = batches.next()
            loss = optimiser_step(trained, model, optimizer, tokens, targets, cfg, step, autocast)
            step += 1
            bar.update(1)
            if (line := log.step(loss, step, batches.wait_s)) is not None:
                bar.set_postfix(loss=f"{line['loss']:.3f}", tok_s=f"{line['tokens_per_s']:,.0f}")
            if ddp.main and due(step, cfg.eval_every, cfg):
                log.evaluation(step, evaluate_validation(model, val_games))
            if ddp.main and step in snapshots:
                save_weights(snapshot_dir(run_dir, step) / MODEL, model, step, record)
            late = stop.late(step, log.began, ddp)
            stopped = late or stop.killed(step)
            if due(step, cfg.checkpoint_every, cfg) or stopped:
                save_checkpoint(ckpt_path, model, optimizer, step, position, cfg, ddp)
            if stopped:
                break
    finally:
        batches.close()
        bar.close()
    if ddp.main and (not stopped or late):
        save_weights(run_dir / MODEL, model, step, record)
    ddp.close()
    return {**log.last, "step": step, "finished": step >= cfg.max_steps}


def _validation_games(games: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` validation games (test games stay untouched until evaluation)."""
    with GamesFile(games) as corpus:
        index = corpus.split_indices("val")[:count]
        if len(index) == 0:
            raise UserError(f"{games}: no validation games to evaluate on")
        return corpus.moves[index], corpus.length[index]
