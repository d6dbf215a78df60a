"""Every measure of one snapshot, in memory, through the stages' own code: behaviour (top-1
legal, top-N set errors), the board (linear probes of the probe stage, the best layer chosen on
validation games), the edit (the intervention stage's linear edit, its setting chosen on tuning
cases) and coherence (the world-model stage's Myhill-Nerode tests and inductive-bias probes).

Each figure is a :class:`Figure`: mean and standard error, and where the unit is a held-out
game, each game's value (the phases resample games with them). The games are the same at every
snapshot: the first ``games`` test games, the first ``probe_games`` validation games for the
probes' activations (split 80/10/10 into the probes' training, validation and test games), the
first ``val_games`` validation games for every other choice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from othello.common.memory import release_freed_memory
from othello.corpora.corpus import GamesFile, gather_rows
from othello.model.legality import rank_legality, top1_illegal, topn_illegal
from othello.world.labels import placed_by, replay
from othello.world.squares import N_POSITIONS
from othello.world.tokens import encode
from probes.common import ProbeKey
from probes.fit import FitConfig
from probes.interventions.spec import InterventionConfig, InterventionStage
from probes.interventions.sweep import SweepConfig
from probes.metrics import flat_positions, game_numbers
from probes.probe_spec import ProbeResult, ProbeStageConfig, fit_in_memory
from probes.schemes import scheme
from probes.worldmodel.inductive import InductiveBiasSettings
from probes.worldmodel.nerode import NerodeSettings
from probes.worldmodel.spec import WorldModelStage
from probes.worldmodel.stage import WorldModelConfig

BOARD_SCHEMES = ("mine_theirs", "black_white", "flipped", "legal")
PARTS = ("behaviour", "board", "edit", "coherence")
NERODE = ("compression_precision", "distinction_precision", "distinction_recall")


@dataclass
class Figure:
    """One measure of one snapshot. Where its units (held-out games) are kept, the figure is
    a ratio over them, ``sum(num) / sum(den)`` (den: each game's positions, squares, ...), as
    the stages compute it; the phases resample the games with them."""

    mean: float | None
    stderr: float | None
    num: np.ndarray | None = None
    den: np.ndarray | None = None

    @classmethod
    def of_ratio(cls, num: np.ndarray, den: np.ndarray) -> Figure:
        """sum(num) / sum(den) over games, its standard error by the delta method."""
        num, den = np.asarray(num, float), np.asarray(den, float)
        ratio = float(num.sum() / den.sum())
        n = len(num)
        spread = np.sqrt(((num - ratio * den) ** 2).sum() * n / max(n - 1, 1)) / den.sum()
        return cls(ratio, float(spread) if n > 1 else None, num, den)

    @classmethod
    def of_record(cls, record: dict | None) -> Figure:
        """From a stage's ``{"mean", "stderr"}`` record (None: not measured)."""
        if record is None:
            return cls(None, None)
        return cls(record.get("mean"), record.get("stderr"))


@dataclass
class DynamicsConfig:
    """Sizes of every measure at each snapshot (smaller than the stages' own: one snapshot in
    under a minute for the cpu model on 2 cores), the parts measured and the phases' settings."""

    games: int = 1000  # held-out test games: behaviour
    probe_games: int = 500  # validation games whose activations the probes read
    val_games: int = 200  # validation games every other choice is made on (accept threshold)
    probe_epochs: int = 1
    probe_min_steps: int = 200
    cases: int = 200  # natural edit cases (test games) ...
    tune_cases: int = 100  # ... and tuning cases (validation games) the edit's scale is chosen on
    trials: int = 100  # Myhill-Nerode sampled trials (the world-model stage: 1,000)
    suffix_samples: int = 10  # continuations per trial (the world-model stage: 30)
    state_games: int = 1000  # test games the Myhill-Nerode states come from
    inductive_tasks: int = 2  # inductive-bias tasks (the world-model stage: 6)
    inductive_anchors: int = 100
    inductive_steps: int = 100  # fine-tuning steps per task (theirs 100; the tests take fewer)
    parts: tuple[str, ...] = PARTS
    target: str | None = None  # the model's training target (None: the run's)
    device: str = "auto"
    allow_other_corpus: bool = False  # games of another corpus than the run trained on
    progress: bool = True

    def probe_fit(self) -> FitConfig:
        probes = tuple(f"{s}/linear" for s in BOARD_SCHEMES)
        return FitConfig(probes=probes, epochs=self.probe_epochs, min_steps=self.probe_min_steps,
                         allow_small=True)  # fmt: skip

    def edit(self) -> InterventionConfig:
        sweep = SweepConfig(methods=("linear",), n_cases=self.cases, tune_cases=self.tune_cases,
                            gallery=0, saliency=0, allow_fewer=True)  # fmt: skip
        return dataclasses.replace(InterventionConfig(), sweep=sweep, progress=False)

    def coherence(self, target: str) -> WorldModelConfig:
        nerode = NerodeSettings(trials=self.trials, suffix_samples=self.suffix_samples,
                                progress=False)  # fmt: skip
        inductive = InductiveBiasSettings(
            n_tasks=self.inductive_tasks,
            anchors=self.inductive_anchors,
            steps=self.inductive_steps,
            progress=False,
        )
        return WorldModelConfig(
            game_samples=self.state_games, val_games=self.val_games, states=("board_and_mover",),
            parts=("nerode", "inductive_bias"), controls=False, nerode=nerode,
            inductive=inductive, device=self.device, allow_fewer=True, target=target,
        )  # fmt: skip


@dataclass
class SnapshotMeasures:
    """What one snapshot's measures hold: its figures and its probes' fit (the explorer shows
    a snapshot's board through them)."""

    figures: dict[str, Figure]
    probes: ProbeResult | None = None
    details: dict = field(default_factory=dict)


@torch.no_grad()
def behaviour(model, games: GamesFile, n: int) -> dict[str, Figure]:
    """Top-1 legal and top-N set errors of each of the first ``n`` test games."""
    rows = games.select("test", n, allow_fewer=True)
    moves, length = gather_rows(games.moves, rows), gather_rows(games.length, rows)
    device = next(model.parameters()).device
    legal = replay(moves, length).legal[:, :N_POSITIONS]
    scored = np.arange(N_POSITIONS)[None, :] < (length.astype(np.int64) - 1)[:, None]
    top1, errors = [], []
    for start in range(0, len(rows), 256):
        part = slice(start, start + 256)
        tokens = torch.as_tensor(encode(moves[part, :N_POSITIONS]), device=device)
        is_legal = rank_legality(model(tokens).float().cpu(), legal[part])
        mask = torch.as_tensor(scored[part])
        top1.append((~top1_illegal(is_legal) & mask).sum(1).numpy())
        errors.append((2 * topn_illegal(is_legal) * mask).sum(1).numpy())
    positions = scored.sum(1)
    return {
        "top1_legal": Figure.of_ratio(np.concatenate(top1), positions),
        "topn_errors": Figure.of_ratio(np.concatenate(errors), positions),
    }


def board(model, games_path, cfg: DynamicsConfig) -> tuple[dict[str, Figure], ProbeResult]:
    """Linear probes of every board scheme, fitted on the activations of ``probe_games``
    validation games (the probe stage's fit), each at its layer chosen on validation; the
    figures per test game, the mine/theirs accuracy split between discs that still have their
    placer's colour and discs flipped since."""
    probe_cfg = ProbeStageConfig(games=cfg.probe_games, control=False, progress=False,
                                 fit=cfg.probe_fit())  # fmt: skip
    fit, source = fit_in_memory(model, games_path, probe_cfg)
    result = ProbeResult.held(fit)
    chosen = {}
    for name in BOARD_SCHEMES:
        hook = result.metrics.hook(result.metrics.best_of(name).layer)
        chosen[name] = (hook, fit.probes[ProbeKey(name, "linear", hook)])
    return probe_units(source, chosen), result


@torch.no_grad()
def probe_units(source, chosen: dict) -> dict[str, Figure]:
    """Per test game: each scheme's squares read right (of positions x 64), its whole boards
    read right (of positions), and the mine/theirs squares read right among discs of their
    placer's colour and among discs flipped since they were placed."""
    sums: dict[str, list] = {}
    hooks = sorted({hook for hook, _ in chosen.values()})
    labels = sorted({scheme(name).label for name in chosen})
    for chunk in source.iter_chunks("test", hooks, labels, 256):
        games = game_numbers(chunk)
        n = chunk["valid"].shape[0]
        moves, lengths = source.games(chunk["rows"])
        placed = placed_by(moves, replay(moves, lengths), True)[:, :N_POSITIONS][chunk["valid"]]
        for name, (hook, probe) in chosen.items():
            truth = flat_positions(chunk, scheme(name).label).astype(np.int64)
            right = probe(torch.from_numpy(flat_positions(chunk, hook))).argmax(-1).numpy() == truth
            parts = {name: (right, np.ones_like(right)), f"{name}_whole": (right.all(-1), None)}
            if name == "mine_theirs":
                disc = truth > 0
                parts["placed_colour"] = (right, disc & (placed == truth))
                parts["flipped_since"] = (right, disc & (placed != truth))
            for key, (hit, mask) in parts.items():
                mask = np.ones_like(hit) if mask is None else mask
                num = np.bincount(games, (hit & mask).reshape(len(games), -1).sum(1), n)
                den = np.bincount(games, mask.reshape(len(games), -1).sum(1), n)
                sums.setdefault(key, []).append((num, den))
    names = {s: f"probe_{s}" for s in BOARD_SCHEMES}
    names |= {f"{s}_whole": f"whole_board_{s}" for s in BOARD_SCHEMES}
    names |= {k: f"mine_theirs_{k}" for k in ("placed_colour", "flipped_since")}
    return {
        names[key]: Figure.of_ratio(*(np.concatenate(x) for x in zip(*parts, strict=True)))
        for key, parts in sums.items()
    }


def edit(model, games_path, probes: ProbeResult, cfg: DynamicsConfig) -> dict[str, Figure]:
    """The intervention stage's linear edit (its scale and start layer chosen on the tuning
    cases): the share of the gap from the unedited model's errors to its floor it closes."""
    result = InterventionStage().measure(model, games_path, {"probes": probes}, cfg.edit())
    errors = {k: v.astype(float) for k, v in result.case_errors.items()}
    if not (errors["null"] - errors["floor"]).sum() > 0:
        return {"edit_gap_closed": Figure(None, None)}  # no gap to close (scoring.gap_closed)
    gap = Figure.of_ratio(errors["null"] - errors["edited"], errors["null"] - errors["floor"])
    return {"edit_gap_closed": gap}


def coherence(model, games_path, target: str, cfg: DynamicsConfig) -> dict[str, Figure]:
    """The world-model stage's Myhill-Nerode figures (sampled, and the enumerated two-move
    boundaries) and inductive-bias probes, at the dynamics' sizes."""
    world = WorldModelStage().measure(model, games_path, {}, cfg.coherence(target)).result
    state = world["state"]["board_and_mover"]
    out = {key: Figure.of_record(world.get(key)) for key in NERODE}
    out |= {f"{key}_exact": Figure.of_record(state["exact_depth_2"].get(key)) for key in NERODE}
    ib = world.get("inductive_bias", {}).get("model", {})
    out |= {key: Figure.of_record(ib.get(key)) for key in ("r_ib", "d_ib")}
    return out


def measure_snapshot(model, games_path, cfg: DynamicsConfig, target: str) -> SnapshotMeasures:
    """Every part of ``cfg.parts`` on one snapshot's model; nothing is written."""
    model.eval()
    figures: dict[str, Figure] = {}
    probes = None
    if "behaviour" in cfg.parts:
        with GamesFile(games_path) as g:
            figures |= behaviour(model, g, cfg.games)
    if "board" in cfg.parts or "edit" in cfg.parts:
        board_figures, probes = board(model, games_path, cfg)
        figures |= board_figures if "board" in cfg.parts else {}
        release_freed_memory()  # each part's leftovers would add up to the peak
    if "edit" in cfg.parts:
        figures |= edit(model, games_path, probes, cfg)
    if "coherence" in cfg.parts:
        figures |= coherence(model, games_path, target, cfg)
    release_freed_memory()
    return SnapshotMeasures(figures, probes)
