"""Activation patching between pairs of games one move apart.

Construction: the clean game is a held-out game. At a ply p >= 1 (drawn by seed) where the
side to move has another legal move, the corrupted game plays that other move (drawn by seed)
instead, then repeats the clean game's next ``follow`` moves. A pair is kept only when each of
those moves is legal in both games and the same side moves at every ply of both (no pass in
one and not the other), so the two token sequences differ in exactly one token and the same
player is to move at the last position T = p + follow; and only when the model's top move at
T differs between the two games (otherwise there is no difference to restore).

Metric: at T, the logit difference LD = logit(c) - logit(k), where c is the clean run's top
move and k the corrupted run's. Patching replaces an activation of the corrupted run by the
clean run's, and the share restored is ``sum(LD_patched - LD_corrupted) / sum(LD_clean -
LD_corrupted)`` over the pairs (a ratio of sums: pairs with a small difference do not blow
up). 1 means the patched activation carries the whole difference, 0 none of it. Maps:
residual layer x position (offsets 0..follow from the differing move; positions before it are
identical in both games, so patching them changes nothing) and layer x head (``hook_z`` of
one head at every position).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from othello.corpora.corpus import GamesFile
from othello.model.evaluate import square_scores
from othello.model.hooked import HookedModel
from othello.model.hooks import block_hooks, resid_hooks
from othello.model.kinds import HEADS, kind_of
from othello.world.labels import replay
from othello.world.squares import MAX_MOVES, N_SQUARES
from othello.world.tokens import encode
from probes.circuits.positions import N_POSITIONS, GameBatch, read_batch

MAPS = ("resid", "heads")  # the maps patch_maps returns, by key


@dataclass
class Pairs:
    """Clean and corrupted games (int8 [n, 60], -1 after the last position T), the ply p
    where they differ, T, and the clean game's row in its games file."""

    clean: np.ndarray
    corrupt: np.ndarray
    ply: np.ndarray
    end: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.ply)

    def select(self, keep: np.ndarray) -> Pairs:
        return Pairs(
            self.clean[keep], self.corrupt[keep], self.ply[keep], self.end[keep], self.rows[keep]
        )


def corrupt_at(batch: GameBatch, ply: np.ndarray, follow: np.ndarray, rng) -> Pairs:
    """For each game g, the pair differing at ``ply[g]`` and ending ``follow[g]`` moves later
    (a random other legal move there); games where no valid pair exists are left out."""
    n = len(batch)
    end = ply + follow
    ok = (ply >= 1) & (end <= batch.length.astype(np.int64) - 2) & (end < N_POSITIONS)
    p, t = np.where(ok, ply, 1), np.where(ok, end, 1)
    cut = np.arange(MAX_MOVES)[None, :] > t[:, None]
    clean = np.where(cut, -1, batch.moves).astype(np.int8)
    corrupt = clean.copy()
    legal = batch.labels.legal[np.arange(n), p - 1]
    for g in np.flatnonzero(ok):
        others = [s for s in range(N_SQUARES) if int(legal[g]) >> s & 1 and s != clean[g, p[g]]]
        if not others:
            ok[g] = False
            continue
        corrupt[g, p[g]] = others[rng.integers(len(others))]
    a, b = replay(clean, t + 1), replay(corrupt, t + 1)
    same = (a.mover == b.mover).all(1) & (a.next_player == b.next_player).all(1)
    keep = np.flatnonzero(ok & b.valid & same & (a.next_player[np.arange(n), t] >= 0))
    return Pairs(clean[keep], corrupt[keep], p[keep], t[keep], batch.rows[keep])


def make_pairs(batch: GameBatch, follow: int, seed: int, tries: int = 4) -> Pairs:
    """At most one pair per game of ``batch``: up to ``tries`` random plies each."""
    rng = np.random.default_rng(seed)
    found: dict[int, int] = {}
    parts = []
    for _ in range(tries):
        top = np.maximum(batch.length.astype(np.int64) - 2 - follow, 1)
        ply = rng.integers(1, top + 1)
        pairs = corrupt_at(batch, ply, np.full(len(batch), follow), rng)
        fresh = np.array([int(r) not in found for r in pairs.rows], bool)
        for r in pairs.rows[fresh]:
            found[int(r)] = 1
        parts.append(pairs.select(fresh))
    joined = Pairs(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("clean", "corrupt", "ply", "end", "rows")
        )
    )
    return joined.select(np.argsort(joined.rows, kind="stable"))


@dataclass
class PatchTask:
    """A batch of pairs ready to run: tokens [n, 59] of both games, and the two moves (token
    ids) whose logit difference at T is the metric."""

    clean: torch.Tensor
    corrupt: torch.Tensor
    ply: np.ndarray
    end: np.ndarray
    good: torch.Tensor
    bad: torch.Tensor

    def logit_diff(self, logits: torch.Tensor) -> torch.Tensor:
        at = logits[torch.arange(len(self.end)), torch.as_tensor(self.end)]
        return at.gather(1, self.good[:, None])[:, 0] - at.gather(1, self.bad[:, None])[:, 0]


@torch.no_grad()
def patch_task(
    model: HookedModel, pairs: Pairs, limit: int | None = None
) -> tuple[PatchTask, np.ndarray]:
    """The task of the first ``limit`` pairs whose top moves at T differ, and which pairs
    have different top moves (all of them, not only the first ``limit``)."""
    device = next(model.parameters()).device
    if len(pairs) == 0:
        empty = torch.zeros((0, N_POSITIONS), dtype=torch.long, device=device)
        none = torch.zeros(0, dtype=torch.long, device=device)
        return PatchTask(empty, empty, pairs.ply, pairs.end, none, none), np.zeros(0, bool)
    clean = torch.as_tensor(encode(pairs.clean[:, :N_POSITIONS]), device=device)
    corrupt = torch.as_tensor(encode(pairs.corrupt[:, :N_POSITIONS]), device=device)
    rows = torch.arange(len(pairs))
    end = torch.as_tensor(pairs.end)
    tops = []
    for tokens in (clean, corrupt):
        scores = square_scores(model(tokens)[rows, end].float(), -torch.inf)
        tops.append(torch.as_tensor(encode(scores.argmax(-1).cpu().numpy()), device=device))
    keep = (tops[0] != tops[1]).cpu().numpy()
    used = keep & (np.cumsum(keep) <= (len(keep) if limit is None else limit))
    k = torch.as_tensor(used, device=device)
    task = PatchTask(clean[k], corrupt[k], pairs.ply[used], pairs.end[used], tops[0][k], tops[1][k])
    return task, keep


def pairs_task(
    model: HookedModel, games: GamesFile, rows: np.ndarray, n_pairs: int, follow: int, seed: int
) -> tuple[PatchTask, dict]:
    """The task of the first ``n_pairs`` pairs (at most one per game of ``rows``) whose top
    moves differ, and how many pairs there were before each cut."""
    pairs = make_pairs(read_batch(games, rows), follow, seed)
    task, keep = patch_task(model, pairs, n_pairs)
    found = {"candidate_pairs": len(pairs), "pairs_with_different_top_moves": int(keep.sum())}
    return task, {"follow": follow, **found}


def replace_at(source: torch.Tensor, positions: np.ndarray | None, head: int | None = None):
    """A hook that puts ``source``'s values in: at one position per row (``positions``) or
    every position, of one head (``hook_z``) or the whole vector."""

    def fix(x: torch.Tensor, hook) -> torch.Tensor:
        x = x.clone()
        rows = torch.arange(x.shape[0], device=x.device)
        at = slice(None) if positions is None else torch.as_tensor(positions, device=x.device)
        if head is None:
            x[rows, at] = source[rows, at]
        else:
            x[rows, at, head] = source[rows, at, head]
        return x

    return fix


@torch.no_grad()
def restored(
    model: HookedModel,
    task: PatchTask,
    hook: str,
    positions=None,
    head=None,
    source="clean",
    target="corrupt",
) -> float:
    """Share of the clean-minus-corrupted difference restored by patching ``hook`` from the
    ``source`` run into the ``target`` run (clean into clean is 1, corrupted into corrupted
    0: the identities the tests check)."""
    runs = {"clean": task.clean, "corrupt": task.corrupt}
    ends = tuple(task.logit_diff(model(runs[k])) for k in ("clean", "corrupt"))
    _, cache = model.run_with_cache(runs[source], [hook])
    return patched_share(model, task, runs[target], hook, cache[hook], ends, positions, head)


def patched_share(
    model: HookedModel,
    task: PatchTask,
    target: torch.Tensor,
    hook: str,
    source: torch.Tensor,
    ends: tuple[torch.Tensor, torch.Tensor],
    positions=None,
    head=None,
) -> float:
    """Run ``target`` tokens with ``hook`` taking ``source``'s values (:func:`replace_at`);
    the share of the gap between ``ends`` (clean and corrupted logit differences) restored:
    ``sum(patched - corrupted) / sum(clean - corrupted)``."""
    fix = replace_at(source, positions, head)
    patched = task.logit_diff(model.run_with_hooks(target, [(hook, fix)]))
    return gap_share(patched - ends[1], ends)


def gap_share(change: torch.Tensor, ends: tuple[torch.Tensor, torch.Tensor]) -> float:
    """``sum(change) / sum(clean - corrupted)`` over the pairs: the share of the gap between
    ``ends`` that a per-pair change of the logit difference makes up (nan without a gap)."""
    gap = float((ends[0] - ends[1]).sum())
    return float(change.sum()) / gap if abs(gap) > 1e-12 else float("nan")


def offset_positions(task: PatchTask, offset: int) -> np.ndarray:
    """Each pair's position ``offset`` moves after the differing one (at most T): the cells
    of the residual map."""
    return np.minimum(task.ply + offset, task.end)


def maps_record(
    n_layers: int, follow: int, resid: list, heads: list, ends: tuple[torch.Tensor, torch.Tensor]
) -> dict:
    """The maps as patching.json holds them: residual layer x offset, layer x head, with
    their axes and the mean clean and corrupted logit differences."""
    return {
        "pairs": len(ends[0]),
        "layers": [str(layer) for layer in range(n_layers + 1)],
        "offsets": [f"p+{o}" if o else "p" for o in range(follow + 1)],
        "resid": np.round(resid, 5).tolist(),
        "heads": np.round(heads, 5).tolist(),
        "logit_diff_clean": float(ends[0].mean()),
        "logit_diff_corrupted": float(ends[1].mean()),
    }


def head_hooks(model: HookedModel) -> list[str]:
    """Every block's per-head output (``hook_z``); none for a model without attention heads,
    whose layer x head map is then empty."""
    return block_hooks("z", model.cfg.n_layers) if HEADS in kind_of(model).parts else []


@torch.no_grad()
def patch_maps(model: HookedModel, task: PatchTask, follow: int) -> dict:
    """patching.json's maps: residual layer x offset from the differing move, layer x head."""
    cfg = model.cfg
    z_hooks = head_hooks(model)
    hooks = resid_hooks(model.cfg.n_layers)
    logits, cache = model.run_with_cache(task.clean, list(hooks.values()) + z_hooks)
    ends = (task.logit_diff(logits), task.logit_diff(model(task.corrupt)))

    def run(hook: str, positions=None, head=None) -> float:
        return patched_share(model, task, task.corrupt, hook, cache[hook], ends, positions, head)

    offsets = range(follow + 1)
    resid = [[run(h, offset_positions(task, o)) for o in offsets] for h in hooks.values()]
    heads = [[run(z, None, h) for h in range(cfg.n_heads)] for z in z_hooks]
    return maps_record(cfg.n_layers, follow, resid, heads, ends)
