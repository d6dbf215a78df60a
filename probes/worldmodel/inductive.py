"""Inductive-bias probes (Vafa, Chang, Rambachan & Mullainathan, ICML 2025; their code is
keyonvafa/inductive-bias-probes, ``experiments/othello``): does a model adapt as if it had the
board? A *task* labels every state with a fair coin; the model, all its weights under a fresh
two-way head, is fine-tuned briefly on a few labelled training prefixes, and its predictions
(*extrapolations*) are compared over pairs of held-out inputs. With ``q`` the share of pairs
whose extrapolations differ, averaged over tasks:

- R-IB (respects state) = 1 - 2 q over same-state pairs: 1 always alike, 0 as by coin flips;
- D-IB (distinguishes state) = 2 q over different-state pairs: 0 alike, 1 as if independent.

A world model scores R-IB 1 and D-IB near 1; ignoring the input, R-IB 1 and D-IB 0; ignoring
only the state, R-IB + D-IB = 1 in expectation. Their Othello run: 100 tasks of 100 prefixes
(a random position of a random training game each), 100 full-batch AdamW steps at lr 6e-4,
states compared as boards, the held-out inputs all the orders of one 10-move set (prefixes of
6..10 moves). Here they are legal reorderings of many TEST prefixes' move sets (transpositions
give same-state pairs; the other orders, different states of the same moves) and identical
move sequences count once (theirs could pair a prefix with itself). Their lr and steps are
fixed, so no choice is made, on validation games or any other.
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.hooked import HookedModel
from othello.training.config import TrainConfig
from othello.training.train import make_optimizer
from othello.world.labels import replay
from othello.world.squares import MAX_MOVES, N_POSITIONS
from othello.world.tokens import encode
from probes.circuits.positions import GameBatch, choose_rows, read_batch

STATES = ("board_and_mover", "board_only")
PAPER_TASKS = 100  # their num_white_noise_datasets
# examples per forward pass, grouped by length (a short prefix is a short pass); on one thread
# a small pass costs little, so 10 pad less than 25 (cpu task: 3,330 positions a step for
# 3,070 real, against 3,775)
_CHUNK = 10
_FRONTIER = 8  # partial reorderings kept per anchor and depth, per reordering wanted


@dataclass
class InductiveBiasSettings:
    """CPU-sized defaults (a few minutes for the cpu model on 2 cores); ``paper()`` takes their
    task count. The fine-tuning fields are theirs."""

    n_tasks: int = 6  # random-label tasks; theirs PAPER_TASKS
    train_examples: int = 100  # labelled training prefixes per task (theirs 100)
    steps: int = 100  # AdamW steps per task (theirs 100)
    lr: float = 6e-4
    weight_decay: float = 0.1
    batch_size: int = 128  # more examples than this: a random batch per step (theirs)
    train_games: int = 2000  # training games the examples are drawn from
    anchors: int = 200  # test prefixes whose move sets are reordered into held-out inputs
    orders_per_anchor: int = 16  # legal reorderings kept per anchor
    min_moves: int = 6  # anchor prefix lengths, theirs 6..10
    max_moves: int = 10
    state: str = "board_and_mover"  # or "board_only", theirs (same at these lengths: no passes)
    seed: int = 0
    # tasks fine-tuned at once, each on one thread (0: as many as torch's threads): a task's
    # small products use two cores poorly, two tasks use them well (2 cores, cpu model: two
    # tasks in 29 s instead of 37 s one after the other on both cores)
    workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise UserError(f"state must be one of {STATES}, got {self.state!r}")
        if not 1 <= self.min_moves <= self.max_moves <= N_POSITIONS:
            raise UserError(f"need 1 <= min_moves <= max_moves <= {N_POSITIONS}")
        if min(self.n_tasks, self.train_examples, self.anchors, self.orders_per_anchor) < 1:
            raise UserError("n_tasks, train_examples, anchors and orders_per_anchor must be >= 1")
        if self.workers < 0:
            raise UserError(f"workers must be >= 0 (0: one per thread), got {self.workers}")

    @classmethod
    def paper(cls, **changes) -> InductiveBiasSettings:
        return cls(**{"n_tasks": PAPER_TASKS, **changes})


@dataclass
class HeldOut:
    """The held-out inputs: move sequences, their lengths and the keys pairs are grouped by."""

    moves: np.ndarray  # int8 [n, 60], -1 padded
    length: np.ndarray  # [n]
    state: np.ndarray  # int64 [n]: state id
    legal: np.ndarray  # int64 [n]: id of the next mover's legal set (their pseudo-state)
    bag: np.ndarray  # int64 [n]: id of the set of moves played


def _ids(*columns: np.ndarray) -> np.ndarray:
    return np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def state_key(batch_labels, game: np.ndarray, ply: np.ndarray, state: str) -> list[np.ndarray]:
    """The columns naming the state after ``ply`` of ``game``: the board, and the mover."""
    cols = [batch_labels.black[game, ply], batch_labels.white[game, ply]]
    if state == "board_and_mover":
        cols.append(batch_labels.next_player[game, ply].astype(np.uint64))
    return cols


def _rank_within(owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rank of each row among the rows of its owner (0, 1, ...)."""
    order = rng.permutation(len(owner))
    order = order[np.argsort(owner[order], kind="stable")]
    starts = np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]
    rank = np.empty(len(owner), np.int64)
    rank[order] = np.arange(len(owner)) - np.repeat(starts, np.diff(np.r_[starts, len(owner)]))
    return rank


def reorderings(prefixes: np.ndarray, lengths: np.ndarray, per: int, rng) -> np.ndarray:
    """Up to ``per`` legal orders of each prefix's moves (int8 [*, 60]), found breadth-first
    by the rules (``replay``), a random ``_FRONTIER * per`` partial orders kept per level."""
    frontier, owner = np.full((len(prefixes), MAX_MOVES), -1, np.int8), np.arange(len(prefixes))
    done = [prefixes, np.arange(len(prefixes))]  # the prefix itself is one legal order
    for depth in range(int(lengths.max())):
        if not len(frontier):
            break
        sets = prefixes[owner, : lengths.max()]
        used = (sets[:, :, None] == frontier[:, None, :depth]).any(-1)
        row, k = np.nonzero((np.arange(sets.shape[1]) < lengths[owner][:, None]) & ~used)
        grown = frontier[row]
        grown[:, depth] = sets[row, k]
        keep = replay(grown, np.full(len(grown), depth + 1, np.int8)).valid
        grown, owner = grown[keep], owner[row][keep]
        keep = _rank_within(owner, rng) < _FRONTIER * per
        grown, owner = grown[keep], owner[keep]
        end = lengths[owner] == depth + 1
        done += [grown[end], owner[end]]
        frontier, owner = grown[~end], owner[~end]
    found, found_by = np.concatenate(done[::2]), np.concatenate(done[1::2])
    _, first = np.unique(found, axis=0, return_index=True)
    found, found_by = found[np.sort(first)], found_by[np.sort(first)]
    return found[_rank_within(found_by, rng) < per]


def held_out(games: GamesFile, s: InductiveBiasSettings, rng: np.random.Generator) -> HeldOut:
    """Reorderings of the first 6..10 moves (``min_moves``..``max_moves``) of random TEST
    games: transpositions give same-state pairs, the other orders different states of the same
    moves."""
    batch = read_batch(games, choose_rows(games, "test", s.anchors, seed=s.seed))
    want = rng.integers(s.min_moves, s.max_moves + 1, size=len(batch))
    length = np.minimum(want, batch.length).astype(np.int8)
    prefixes = np.where(np.arange(MAX_MOVES) < length[:, None], batch.moves, -1).astype(np.int8)
    moves = reorderings(prefixes, length, s.orders_per_anchor, rng)
    length = (moves >= 0).sum(1).astype(np.int8)
    labels = replay(moves, length)
    rows, ply = np.arange(len(moves)), length.astype(np.int64) - 1
    state, legal = _ids(*state_key(labels, rows, ply, s.state)), _ids(labels.legal[rows, ply])
    bag = _ids(*np.sort(np.where(moves >= 0, moves, 127), axis=1).T)
    return HeldOut(moves, length, state, legal, bag)


def task_examples(pool: GameBatch, s: InductiveBiasSettings, task: int):
    """One task: ``train_examples`` (game, position) pairs of the training pool, one position
    per game, and a fair random label per state (the same for every prefix reaching it)."""
    rng = np.random.default_rng([s.seed, task])
    game = rng.choice(len(pool), min(s.train_examples, len(pool)), replace=False)
    pos = rng.integers(0, np.minimum(pool.length[game], N_POSITIONS))
    label_of: dict[tuple, int] = {}
    labels = [
        label_of.setdefault(key, int(rng.integers(2)))
        for key in zip(*state_key(pool.labels, game, pos, s.state), strict=True)
    ]
    return game, pos, np.array(labels)


def fine_tune(model: nn.Module, tokens, pos, labels, s, seed: int) -> tuple[nn.Module, float]:
    """A copy of ``model`` with a fresh two-way head (``unembed``), all its weights trained on
    the task (cross-entropy at each example's position); returns it and its training accuracy.
    """
    gen = torch.Generator().manual_seed(seed)
    tuned = copy.deepcopy(model).train()
    head = nn.Linear(tuned.unembed.in_features, 2)
    with torch.no_grad():  # their init: N(0, 0.02) weights, zero bias
        head.weight.normal_(0.0, 0.02, generator=gen)
        head.bias.zero_()
    tuned.unembed = head.to(tokens.device)
    optim_cfg = TrainConfig(lr=s.lr, weight_decay=s.weight_decay)
    optimizer = make_optimizer(tuned, optim_cfg)
    for _ in range(s.steps):
        take = torch.arange(len(pos))
        if len(pos) > s.batch_size:
            take = torch.randint(len(pos), (s.batch_size,), generator=gen)
        take = take.to(tokens.device)
        for chunk in take[pos[take].argsort()].split(_CHUNK):  # the full batch's gradient
            width = int(pos[chunk].max()) + 1  # causal: the moves after it change nothing
            rows = torch.arange(len(chunk), device=tokens.device)
            logits = tuned(tokens[chunk, :width])[rows, pos[chunk]]
            loss = F.cross_entropy(logits, labels[chunk], reduction="sum") / len(take)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(tuned.parameters(), optim_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    tuned.eval()
    return tuned, float((predict(tuned, tokens, pos) == labels).float().mean())


@torch.no_grad()
def predict(model: nn.Module, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Argmax label at each row's position, in batches."""
    out = []
    for i in range(0, len(pos), 1024):
        at = pos[i : i + 1024]
        rows = torch.arange(len(at), device=at.device)
        out.append(model(tokens[i : i + 1024]).argmax(-1)[rows, at])
    return torch.cat(out)


def _disagreements(pred: np.ndarray, group: np.ndarray) -> tuple[int, np.ndarray]:
    """Pairs (i < j) in the same group, and per task how many of them disagree (binary)."""
    group = np.unique(group, return_inverse=True)[1].reshape(-1)
    count = np.bincount(group)
    ones = np.stack([np.bincount(group, weights=p, minlength=len(count)) for p in pred])
    return int((count * (count - 1) // 2).sum()), ((count - ones) * ones).sum(1)


def _summary(values: np.ndarray | None) -> dict:
    if values is None:
        return {"mean": None, "stderr": None, "tasks": []}
    err = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return {"mean": float(values.mean()), "stderr": err, "tasks": [float(v) for v in values]}


def ib_scores(
    pred: np.ndarray,
    state: np.ndarray,
    legal: np.ndarray,
    bag: np.ndarray,
    last: np.ndarray | None = None,
) -> dict:
    """R-IB and D-IB (their ``compute_inductive_bias``) from binary extrapolations [tasks, n]
    over all pairs of the n inputs; D-IB also over the different-state pairs of the same legal
    set (theirs: same pseudo-state), of other legal sets, and of the same moves played; with
    ``last`` (each input's last move), R-IB also over the same-state pairs that end on the same
    move and on different ones: a model that reads only the last move agrees on the first kind
    whatever the state, so only the second kind tests it."""
    pred = np.asarray(pred, dtype=np.float64)

    def minus(a: tuple, b: tuple) -> tuple[int, np.ndarray]:
        return a[0] - b[0], a[1] - b[1]

    def differ(key: np.ndarray) -> tuple[int, np.ndarray]:  # same key, different state
        return minus(_disagreements(pred, key), _disagreements(pred, _ids(key, state)))

    same = _disagreements(pred, state)
    diff = minus(_disagreements(pred, np.zeros(len(state), np.int64)), same)
    if not same[0] or not diff[0]:
        raise UserError("no two held-out inputs share a state (or none differ): more anchors")
    kinds = {"same_state": same, "diff_state": diff, "same_legal": differ(legal)}
    kinds |= {"other_legal": minus(diff, kinds["same_legal"]), "same_moves": differ(bag)}
    if last is not None:
        kinds["same_last_move"] = _disagreements(pred, _ids(state, last))
        kinds["other_last_move"] = minus(same, kinds["same_last_move"])
    rate = {k: 2 * d / n if n else None for k, (n, d) in kinds.items()}
    split = [k for k in ("same_last_move", "other_last_move") if k in rate]
    return {
        "r_ib": _summary(1 - rate["same_state"]),
        "r_ib_pairs": {k: _summary(None if rate[k] is None else 1 - rate[k]) for k in split},
        "d_ib": _summary(rate["diff_state"]),
        "d_ib_pairs": {k: _summary(rate[k]) for k in ("same_legal", "other_legal", "same_moves")},
        "pairs": {k: n for k, (n, _) in kinds.items()},
    }


def in_threads(run_task, n_tasks: int, workers: int, progress: bool) -> list:
    """``run_task(t)`` for every task, in order, ``workers`` at a time (0: one per torch
    thread), each on one thread. A task draws only from its own generator and its products run
    on one thread, so its result depends neither on ``workers`` nor on the machine's cores (a
    fine-tuning's extrapolations move with the last bits of a product's sums)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(n_tasks, workers or threads)) as pool:
            futures = [pool.submit(run_task, t) for t in range(n_tasks)]
            done = as_completed(futures)
            for _ in tqdm(done, total=n_tasks, desc="inductive-bias tasks", disable=not progress):
                pass
            return [f.result() for f in futures]
    finally:
        torch.set_num_threads(threads)


def inductive_bias(
    model: HookedModel,
    games: GamesFile,
    settings: InductiveBiasSettings | None = None,
    device="cpu",
) -> dict:
    """R-IB and D-IB of ``model`` (any module whose forward ends in ``self.unembed``, which
    each task's copy replaces) over ``settings.n_tasks`` random-label tasks; JSON-able. The
    model passed in is never changed: every task fine-tunes a deep copy."""
    s = settings or InductiveBiasSettings()
    began = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    evals = held_out(games, s, rng)
    eval_tokens = torch.as_tensor(encode(evals.moves[:, : s.max_moves]), device=device)
    eval_pos = torch.as_tensor(evals.length.astype(np.int64) - 1, device=device)
    pool = read_batch(games, choose_rows(games, "train", s.train_games, seed=s.seed))
    source = copy.deepcopy(model).to(device)

    def run_task(task: int) -> tuple[np.ndarray, float]:
        game, pos, labels = task_examples(pool, s, task)
        tokens = torch.as_tensor(encode(pool.moves[game, : pos.max() + 1]), device=device)
        pos, labels = (torch.as_tensor(a, dtype=torch.long, device=device) for a in (pos, labels))
        tuned, fit = fine_tune(source, tokens, pos, labels, s, seed=s.seed * 1_000_003 + task)
        return predict(tuned, eval_tokens, eval_pos).cpu().numpy(), fit

    workers = 1 if torch.device(device).type != "cpu" else s.workers
    preds, fits = zip(*in_threads(run_task, s.n_tasks, workers, s.progress), strict=True)
    last = evals.moves[np.arange(len(evals.length)), evals.length - 1]
    scores = ib_scores(np.stack(preds), evals.state, evals.legal, evals.bag, last)
    return {
        **scores,
        "fit": _summary(np.array(fits)),
        "held_out": {
            "inputs": len(evals.state),
            "states": int(evals.state.max()) + 1,
            "move_sets": int(evals.bag.max()) + 1,
        },
        "settings": asdict(s),
        "seconds": time.perf_counter() - began,
    }
