"""The world-model stage: the field's tests of whether a model has a world model, side by side
on one model, its random-init control and the engine (which is the perfect world model).

Parts (:data:`PARTS`, each its own module): the Myhill-Nerode tests (:mod:`.nerode`) for the
true state and Vafa et al.'s board-only state, the probes' whole-board accuracy (read from the
probe stage), inductive-bias probes (:mod:`.inductive`), neuron simulation
(:mod:`.simulation`) and attribution patching (:mod:`probes.circuits.attribution_patching`).
Every figure is on held-out test games; the one choice that is ours (a ``legal_set`` model's
accept threshold) is made on validation games. ``metrics.json`` is written last, atomically:
a folder without it is not a finished run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from othello.common.atomic import write_text
from othello.common.device import pick_device
from othello.common.errors import UserError
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile, gather_rows
from othello.model.checkpoint import load_model_file, model_file
from othello.model.evaluate import evaluate_games
from othello.model.hooked import HookedModel
from othello.model.kinds import NEURONS, kind_of, missing_part
from othello.model.run_dir import CONFIG, read_record
from probes.circuits.attribution_patching import attribution_patching_on_games
from probes.circuits.stage import CircuitsConfig, random_init
from probes.published import NOT_FOUND
from probes.stage import ProbeMetrics, whole_board_table
from probes.worldmodel.accept_rule import model_acceptor
from probes.worldmodel.acceptors import Acceptor, UniformAcceptor
from probes.worldmodel.inductive import InductiveBiasSettings, inductive_bias
from probes.worldmodel.nerode import NerodeSettings, nerode_scores
from probes.worldmodel.rule_acceptors import EngineAcceptor
from probes.worldmodel.simulation import SimulationSettings, neuron_simulation
from probes.worldmodel.states import STATE_DEFINITIONS, state_pool
from probes.worldmodel.verdict import verdict_rows

METRICS = "metrics.json"
PARTS = ("nerode", "whole_board", "inductive_bias", "neuron_simulation", "attribution_patching")
NERODE_KEYS = ("compression_precision", "distinction_precision", "distinction_recall")
_LAB = CircuitsConfig()


@dataclass
class WorldModelConfig:
    """The stage's settings (``key=value``; ``nerode.trials=200`` reaches a part's own)."""

    game_samples: int = 10_000  # test games the states are drawn from (Vafa et al.'s 10,000)
    val_games: int = 1000  # validation games the accept threshold is chosen on
    states: tuple[str, ...] = STATE_DEFINITIONS
    parts: tuple[str, ...] = PARTS
    controls: bool = True  # the random-init control beside the model
    nerode: NerodeSettings = field(default_factory=NerodeSettings)
    inductive: InductiveBiasSettings = field(default_factory=InductiveBiasSettings)
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    patch_pairs: int = _LAB.patch_pairs
    patch_follow: int = _LAB.patch_follow
    patch_seed: int = _LAB.seed
    device: str = "auto"
    allow_fewer: bool = False

    def __post_init__(self) -> None:
        for name, known in (("states", STATE_DEFINITIONS), ("parts", PARTS)):
            unknown = set(getattr(self, name)) - set(known)
            if unknown:
                raise UserError(f"{name}: unknown {sorted(unknown)}; choose from {known}")
        if self.game_samples < 2 or self.val_games < 1:
            raise UserError("game_samples must be at least 2 and val_games at least 1")

    def quiet(self) -> WorldModelConfig:
        """The same settings with every part's progress bars off."""
        for part in (self.nerode, self.inductive, self.simulation):
            part.progress = False
        return self


@dataclass
class Subject:
    """What is tested: a model (with its run's target and hash) or the engine."""

    name: str
    model: HookedModel | None
    target: str | None = None
    sha256: str | None = None
    run: str | None = None


def load_subject(run: str | os.PathLike | None, cfg: WorldModelConfig) -> Subject:
    """The run's model (None: the engine), its training target and hash."""
    if run is None:
        return Subject("engine", None)
    path = model_file(run)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model; pass a run directory holding model.pt")
    model = load_model_file(path, pick_device(cfg.device)).eval()
    record = read_record(run) if (Path(run) / CONFIG).exists() else None
    target = (record.config.get("target") if record else None) or "sampled"
    return Subject(Path(run).name, model, target, file_sha256(path), str(run))


def check_probes(probe_dir: str | os.PathLike | None, subject: Subject) -> ProbeMetrics | None:
    """The probe metrics, refused when they were fitted on another model."""
    if probe_dir is None:
        return None
    metrics = ProbeMetrics.load(probe_dir)
    if subject.sha256 and metrics.model_sha256 and metrics.model_sha256 != subject.sha256:
        raise UserError(
            f"{probe_dir}: probes fitted on another model (model sha256 "
            f"{metrics.model_sha256[:12]}, this run's {subject.sha256[:12]}); fit them on this "
            "run's cache"
        )
    return metrics


def split_games(
    g: GamesFile, split: str, n: int, allow_fewer: bool
) -> tuple[np.ndarray, np.ndarray]:
    index = g.select(split, n, allow_fewer)
    return gather_rows(g.moves, index), gather_rows(g.length, index)


def nerode_part(acceptor: Acceptor, pools: dict, cfg: WorldModelConfig) -> dict:
    """The three figures under each state definition. Where two definitions group the prefixes
    alike (no board of these games is reached with either side to move), the trials and so the
    figures are the same: they are computed once and the second says ``same_as``."""
    out: dict = {}
    for definition, pool in pools.items():
        twin = next((d for d in out if np.array_equal(pools[d].state, pool.state)), None)
        if twin is None:
            out[definition] = nerode_scores(acceptor, pool, cfg.nerode)
        else:
            out[definition] = {**out[twin], "same_as": twin}
    return out


def run_world_model(
    run: str | os.PathLike | None,
    games: str | os.PathLike,
    probe_dir: str | os.PathLike | None,
    out: str | os.PathLike,
    cfg: WorldModelConfig,
    extra: dict | None = None,
) -> dict:
    """Check every input, run the parts on the subject (and its control), write
    ``out/metrics.json``; returns its content. ``extra``: figures of other stages for the
    verdict (``{"edit_gap_closed": ..., "control_probes": ProbeMetrics}``)."""
    if Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    subject = load_subject(run, cfg)
    probes = check_probes(probe_dir, subject)
    if not Path(games).exists():
        raise FileNotFoundError(f"{games}: no such games file")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    with GamesFile(games) as g:
        test = split_games(g, "test", cfg.game_samples, cfg.allow_fewer)
        val = split_games(g, "val", cfg.val_games, cfg.allow_fewer)
        pools = {d: state_pool(*test, d) for d in cfg.states}
        result = _parts(subject, g, test, val, pools, probes, cfg, seconds)
    seconds["total"] = round(time.perf_counter() - clock, 2)
    result["warnings"] = [
        f"only {len(rows[0]):,} {split} games, {asked:,} asked (allow_fewer)"
        for split, rows, asked in (("test", test, cfg.game_samples), ("val", val, cfg.val_games))
        if len(rows[0]) < asked
    ]
    result.update(
        subject={"kind": "engine" if subject.model is None else "model", "name": subject.name,
                 "run": subject.run, "model_sha256": subject.sha256, "target": subject.target},
        games={"path": str(games), "sha256": file_sha256(games), "test_games": len(test[0]),
               "val_games": len(val[0])},
        settings=asdict(cfg), seconds=seconds,
    )  # fmt: skip
    result["verdict"] = verdict_rows(result, probes, extra or {})
    result["published"] = {"notes": [NOT_FOUND[p] for p in ("myhill_nerode", "inductive_bias")]}
    Path(out).mkdir(parents=True, exist_ok=True)
    write_text(Path(out) / METRICS, json.dumps(result, indent=1, allow_nan=False) + "\n")
    return result


def _timed(seconds: dict, name: str, fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    seconds[name] = round(time.perf_counter() - start, 2)
    return value


def _models(subject: Subject, cfg: WorldModelConfig) -> dict[str, HookedModel]:
    """The model and, with ``controls``, its random-init control."""
    if subject.model is None:
        return {}
    models = {"model": subject.model}
    if cfg.controls:
        models["random_init"] = random_init(subject.model)
    return models


def nerode_results(subject: Subject, models: dict, val, pools, cfg, seconds) -> dict:
    """The three figures of the subject (the engine, or the model under its accept rule),
    its control and the two baselines, under every state definition."""
    baselines: dict[str, Acceptor] = {
        "engine": EngineAcceptor(),
        "input_ignoring": UniformAcceptor(),
    }
    if subject.model is None:
        acceptors, rules = {"model": baselines.pop("engine")}, {"model": {"rule": "legal moves"}}
    else:
        acceptors, rules = {}, {}
        for name, model in models.items():
            acceptors[name], rules[name] = model_acceptor(model, subject.target, *val, name)
    scores = {
        name: _timed(seconds, f"nerode_{name}", nerode_part, acceptor, pools, cfg)
        for name, acceptor in {**acceptors, **baselines}.items()
    }
    own = scores.pop("model")
    result = {"state": own, "accept_rule": rules}
    result["controls"] = {name: {"state": s} for name, s in scores.items()}
    if STATE_DEFINITIONS[0] in own:  # the true state's figures at the top
        result.update({k: own[STATE_DEFINITIONS[0]][k] for k in NERODE_KEYS})
    return result


def model_results(subject: Subject, models: dict, g: GamesFile, test, probes, cfg, seconds):
    """The parts that read a model's activations or weights."""
    parts, device = set(cfg.parts), str(pick_device(cfg.device))
    result: dict = {"not_run": {}}
    result["top1_legal"] = {
        name: round(evaluate_games(m, *test).summary()["top1_legal_accuracy"], 6)
        for name, m in models.items()
    }
    if "whole_board" in parts and probes is None:
        result["not_run"]["whole_board"] = "no --probes folder given"
    elif "whole_board" in parts:
        result["whole_board_accuracy"] = whole_board_table(probes.folder)
    if "inductive_bias" in parts:
        result["inductive_bias"] = {
            name: _timed(
                seconds, f"inductive_bias_{name}", inductive_bias, m, g, cfg.inductive, device
            )
            for name, m in models.items()
        }
    if "neuron_simulation" in parts and NEURONS not in kind_of(subject.model).parts:
        result["not_run"]["neuron_simulation"] = missing_part(subject.model, NEURONS)
    elif "neuron_simulation" in parts:
        result["neuron_simulation"] = _timed(
            seconds,
            "neuron_simulation",
            neuron_simulation,
            subject.model,
            g,
            cfg.simulation,
            device,
        )
    if "attribution_patching" in parts:
        result["attribution_patching"] = _timed(
            seconds, "attribution_patching", attribution_patching_on_games, subject.model, g,
            cfg.patch_pairs, cfg.patch_follow, cfg.patch_seed,
        )  # fmt: skip
    return result


def _parts(subject, g, test, val, pools, probes, cfg, seconds) -> dict:
    """Every part asked for; what cannot run on this subject is named in ``not_run``."""
    models = _models(subject, cfg)
    result: dict = {"not_run": {}}
    if "nerode" in cfg.parts:
        result.update(nerode_results(subject, models, val, pools, cfg, seconds))
    if subject.model is None:
        for part in set(cfg.parts) - {"nerode"}:
            result["not_run"][part] = "the engine has no activations to probe, tune or patch"
        return {**result, "top1_legal": {"model": 1.0}}
    return {**result, **model_results(subject, models, g, test, probes, cfg, seconds)}
