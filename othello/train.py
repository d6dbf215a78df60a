"""Train the GPT to predict the next move: AdamW, warmup + cosine decay, clipping, bf16 on GPU,
DistributedDataParallel under ``torchrun``, and exact resume after a kill.

A run directory holds ``config.json`` (the resolved config and input files), ``metrics.jsonl``
(one line per log or eval step), ``checkpoint.pt`` (model, optimiser, step, data position and
RNG, rewritten atomically every ``checkpoint_every`` steps), once finished ``model.pt``, and
with ``snapshot_every`` the weights along the way under ``snapshots/step-NNNNNN/``.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from othello import __version__, checkpoint
from othello.config import TrainConfig
from othello.corpus import GamesFile
from othello.evaluate import evaluate_games
from othello.game_stream import GameStream
from othello.labels import replay, unpack_bitboards
from othello.model import GPT
from othello.squares import MAX_MOVES
from othello.tokens import PAD_TOKEN, PLAYABLE_SQUARES, VOCAB_SIZE, encode


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, norms or embeddings' positions)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n != "pos_embed"]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2 or n == "pos_embed"]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def next_move_loss(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    legal_targets: torch.Tensor | None = None,
    target: str = "sampled",
) -> torch.Tensor:
    """The training loss for moves 2..60 given the ones before; padding is not scored.

    ``target`` (see ``TrainConfig.target``): "sampled" scores the token played; "legal" scores
    the uniform distribution over the legal moves, ``legal_targets`` [B, 59, 61]; "legal_set"
    scores each of the 60 squares on its own (binary cross-entropy, legal or not, summed over
    squares), which asks for the whole legal set at every position instead of a share of one
    softmax."""
    logits = model(tokens[:, :-1]).float()
    targets = tokens[:, 1:]
    if target == "sampled":
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD_TOKEN
        )
    if legal_targets is None:
        raise ValueError(f"target {target!r} needs the legal-move targets")
    scored = targets != PAD_TOKEN
    if target == "legal":
        per_position = -(legal_targets * logits.log_softmax(-1)).sum(-1)
    elif target == "legal_set":
        per_position = F.binary_cross_entropy_with_logits(
            logits[..., 1:], (legal_targets[..., 1:] > 0).float(), reduction="none"
        ).sum(-1)
    else:
        raise ValueError(f"unknown target {target!r}")
    return per_position[scored].mean()


def legal_move_targets(moves: np.ndarray) -> torch.Tensor:
    """Uniform distributions over each position's legal next moves, as token probabilities
    [B, 59, 61] (all zero where the game is over)."""
    labels = replay(moves, (moves >= 0).sum(1).astype(np.int8))
    legal = unpack_bitboards(labels.legal[:, : MAX_MOVES - 1])[..., PLAYABLE_SQUARES]
    targets = np.zeros(legal.shape[:2] + (VOCAB_SIZE,), dtype=np.float32)
    targets[..., 1:] = legal
    targets /= np.maximum(targets.sum(-1, keepdims=True), 1)
    return torch.from_numpy(targets)


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


def _run_record(cfg: TrainConfig, games: Path) -> dict:
    with GamesFile(games) as corpus:
        corpus_attrs = {
            k: corpus.attrs[k] for k in ("seed", "n_games", "source") if k in corpus.attrs
        }
    return {
        "config": cfg.to_dict(),
        "games": str(games),
        "games_sha256": checkpoint.file_sha256(games),
        "games_attrs": {k: v.item() if hasattr(v, "item") else v for k, v in corpus_attrs.items()},
        "code_version": __version__,
        "torch": torch.__version__,
    }


def train(
    cfg: TrainConfig,
    games: str | os.PathLike,
    run_dir: str | os.PathLike,
    resume: bool = False,
    max_minutes: float | None = None,
    stop_after_steps: int | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) a run; return its last metrics. ``stop_after_steps`` stops early as a
    kill would, after writing a checkpoint (used to test resumption)."""
    games, run_dir = Path(games), Path(run_dir)
    ddp = _Distributed()
    device = ddp.device
    ckpt_path = run_dir / checkpoint.CHECKPOINT
    record = _run_record(cfg, games)
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume or a new --out")
    if resume and ckpt_path.exists():
        saved = json.loads((run_dir / "config.json").read_text())
        for key in ("config", "games_sha256"):
            if saved[key] != record[key]:
                raise ValueError(f"{run_dir}: cannot resume, its {key} differs from this call's")
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % ddp.world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by {ddp.world} processes")

    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model).to(device)
    optimizer = make_optimizer(model, cfg)
    stream = GameStream(
        games, cfg.batch_size // ddp.world, cfg.seed, "train", ddp.rank, ddp.world, cfg.block_games
    )
    step = 0
    if resume and ckpt_path.exists():
        state = checkpoint.load(ckpt_path, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        stream.load_state_dict(state["data"][ddp.rank] if ddp.world > 1 else state["data"][0])
        torch.set_rng_state(state["rng"])
        step = int(state["step"])
    if ddp.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    trained: torch.nn.Module = model
    if cfg.compile:
        trained = torch.compile(model)
    if ddp.world > 1:
        trained = DistributedDataParallel(
            trained, device_ids=[device.index] if device.index is not None else None
        )
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cfg.amp and device.type == "cuda"
        else nullcontext()
    )
    val_moves, val_length = _validation_games(games, cfg.eval_games)

    def save_checkpoint() -> None:
        positions = [stream.state_dict()]
        if ddp.world > 1:
            positions = [None] * ddp.world
            dist.all_gather_object(positions, stream.state_dict())
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
                ckpt_path,
            )

    def log(record: dict) -> None:
        if ddp.main:
            with open(run_dir / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")

    began = time.perf_counter()
    tokens_per_step = cfg.batch_size * (cfg.model.n_ctx)
    window_loss, window_steps, window_start = torch.zeros((), device=device), 0, time.perf_counter()
    last: dict = {}
    bar = tqdm(
        total=cfg.max_steps,
        initial=step,
        disable=not (progress and ddp.main),
        unit="step",
        desc=f"train {run_dir.name}",
    )
    batches = iter(stream)
    stopped_early = out_of_time = False
    model.train()
    while step < cfg.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        batch = next(batches)
        moves = torch.as_tensor(encode(batch), device=device)
        targets = legal_move_targets(batch).to(device) if cfg.target != "sampled" else None
        with autocast:
            loss = next_move_loss(trained, moves, targets, cfg.target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_loss += loss.detach()
        window_steps += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            seconds = time.perf_counter() - window_start
            last = {
                "step": step,
                "loss": float(window_loss) / window_steps,
                "lr": learning_rate(cfg, step - 1),
                "tokens_per_s": tokens_per_step * window_steps / seconds,
                "elapsed_s": time.perf_counter() - began,
            }
            bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{last['tokens_per_s']:,.0f}")
            window_loss.zero_()
            window_steps, window_start = 0, time.perf_counter()
            log(last)
        if ddp.main and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            summary = evaluate_games(model, val_moves, val_length).summary()
            summary.pop("top1_legal_accuracy_by_move")
            last = {**last, "step": step, **{f"val_{k}": v for k, v in summary.items()}}
            log(
                {
                    "step": step,
                    "elapsed_s": time.perf_counter() - began,
                    **{f"val_{k}": v for k, v in summary.items()},
                }
            )
        if ddp.main and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            snapshot = snapshot_dir(run_dir, step)
            snapshot.mkdir(parents=True, exist_ok=True)
            checkpoint.save_model(
                model,
                snapshot / checkpoint.MODEL,
                {"step": step, "games_sha256": record["games_sha256"]},
            )
        out_of_time = max_minutes is not None and time.perf_counter() - began > 60 * max_minutes
        if out_of_time and ddp.world > 1:  # every rank must stop at the same step
            flag = torch.tensor(float(out_of_time), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        stopped_early = out_of_time or (stop_after_steps is not None and step >= stop_after_steps)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps or stopped_early:
            save_checkpoint()
        if stopped_early:
            break
    bar.close()
    if ddp.main and (not stopped_early or out_of_time):
        checkpoint.save_model(
            model,
            run_dir / checkpoint.MODEL,
            {"step": step, "games_sha256": record["games_sha256"]},
        )
    ddp.close()
    return {**last, "step": step, "finished": step >= cfg.max_steps}


def snapshot_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """Where ``snapshot_every`` keeps the weights of ``step``: a directory later stages accept
    as a run (``cache.py --run``)."""
    return Path(run_dir) / "snapshots" / f"step-{step:06d}"


def _validation_games(games: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` validation games (test games stay untouched until evaluation)."""
    with GamesFile(games) as corpus:
        index = corpus.split_indices("val")[:count]
        if len(index) == 0:
            raise ValueError(f"{games}: no validation games to evaluate on")
        return corpus.moves[index], corpus.length[index]
