"""What an analysis stage is, once: a :class:`Stage` names its settings, measures a model in
memory, saves and loads its folder, and says what the report, the explorer and ``make compare``
take from it. Every stage (probes, interventions, SAEs, circuits, the world model, ...) is one
subclass registered in :mod:`probes.stages`; the report, the explorer, ``make`` and the generic
script iterate over that registry, so a new stage is its own room, one registration and its
script.

A stage is called two ways, the same code under both:

* in memory, from a notebook or another stage (the dynamics stage measures every snapshot this
  way): ``stage.measure(model, games, inputs, cfg)`` -> a :class:`StageResult`, nothing
  written; ``inputs`` holds the results of the stages it reads (``stage.reads``);
* on files (``make NAME``, ``scripts/run_stage.py``, the stage's own script):
  ``stage.run(job)`` loads the run's model and the finished folders of the stages it reads,
  measures and saves into ``job.out`` (``metrics.json`` last: a folder without it is not a
  finished stage).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from othello.common import settings as settings_lib
from othello.common.errors import UserError
from othello.common.files import METRICS
from othello.model.run_dir import training_target

if TYPE_CHECKING:
    from othello.model.hooked import HookedModel

Games = str | os.PathLike  # a games file (games.h5); stages open it for reading only


class StageView(Protocol):
    """A finished stage read by the explorer (:meth:`Stage.view`)."""

    def info(self) -> dict:
        """Fields the explorer's /api/info answer gains."""

    def at_position(self, cache: dict, ply: int) -> dict:
        """Fields a position's answer gains, from the model's cached activations there."""


class StageResult(Protocol):
    """What :meth:`Stage.measure` returns and a finished folder holds."""

    def save(self, folder: Path) -> None:
        """Write every file of the stage into ``folder``, ``metrics.json`` last."""

    def summary(self) -> dict:
        """The stage's part of the report's summary.json (plain JSON values)."""

    def figures(self) -> dict[str, Path]:
        """``{caption: image file}`` of the figures the saved folder holds."""


@dataclass
class StageJob:
    """One stage run on files: the run's model, the games, the finished results of the stages
    it reads (loaded by the runner) and the settings; ``out`` is where it writes."""

    run: Path | None  # the run directory (None: a stage that needs no model)
    games: Path
    out: Path
    cfg: Any
    inputs: dict[str, Any] = field(default_factory=dict)  # stage name -> its result
    files: dict[str, Path] = field(default_factory=dict)  # artefact name -> file (acts, cases)
    progress: bool = True


class Stage:
    """One analysis stage. Subclasses set the class attributes and implement :meth:`measure`
    and :meth:`load`; the rest has defaults that a stage overrides only where it differs."""

    name: ClassVar[str]  # registry key, make target, folder and summary.json key
    question: ClassVar[str]  # what it answers, one line (help texts, the report)
    config: ClassVar[type]  # settings dataclass: its defaults are the default preset's sizes
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # preset -> sizes (setting -> value)
    reads: ClassVar[tuple[str, ...]] = ()  # stages whose finished results it needs
    reads_if_present: ClassVar[tuple[str, ...]] = ()  # stages it reads when they finished
    files: ClassVar[tuple[str, ...]] = ()  # run artefacts it reads (Layout.file names)
    place: ClassVar[str] = "report"  # its folder: "run" (in the run) or "report"
    in_report: ClassVar[bool] = False  # make's report waits for it (else added when present)
    order: ClassVar[int] = 100  # where its section stands in the report
    done: ClassVar[str] = METRICS  # the file whose presence means its folder is finished
    compared: ClassVar[bool] = False  # make compare runs it on every kind (its compare_rows)

    @property
    def summary_key(self) -> str:
        """Its part's key in summary.json (its name, unless the stage says otherwise)."""
        return self.name

    def configure(self, preset: str | None = None, overrides: list[str] = ()) -> Any:
        """The stage's settings: ``preset``'s sizes (the defaults when None or not listed),
        then ``key=value`` overrides, both read by :meth:`parse`."""
        sizes = self.presets.get(preset, {}) if preset else {}
        return self.parse([*(f"{k}={_word(v)}" for k, v in sizes.items()), *overrides])

    def parse(self, words: list[str]) -> Any:
        """Settings from ``key=value`` words (``a.b=v`` reaches a nested dataclass)."""
        return settings_lib.apply_overrides(self.config(), words)

    def describe_settings(self) -> str:
        """The settings and their defaults, for ``--help``."""
        return settings_lib.describe(self.config())

    def measure(self, model: HookedModel, games: Games, inputs: dict, cfg: Any) -> StageResult:
        raise NotImplementedError

    def load(self, folder: str | os.PathLike) -> StageResult:
        raise NotImplementedError

    def run(self, job: StageJob) -> StageResult:
        """Files in, files out: the run's model, the stages it reads, measure, save."""
        if job.run is None:
            raise UserError(f"{self.name}: needs a run directory (--run)")
        model = load_run_model(job.run, getattr(job.cfg, "device", "auto"))
        if getattr(job.cfg, "target", "") is None:
            job.cfg.target = training_target(job.run)
        result = self.measure(model, job.games, job.inputs, job.cfg)
        result.save(job.out)
        return result

    def finished(self, folder: str | os.PathLike) -> bool:
        """Whether ``folder`` holds a finished run of this stage."""
        return (Path(folder) / self.done).exists()

    def section(self, part: dict) -> list[str]:
        """report.md's lines for this stage's part of summary.json (none by default)."""
        return []

    def printed(self, result: StageResult) -> list[str]:
        """What its script prints when it finishes: the headline figures and warnings."""
        return []

    def compare_rows(self, part: dict) -> dict[str, dict[str, Any]]:
        """``{figure: {"model": value, "random_init": value}}`` for ``make compare``'s table
        (none by default)."""
        return {}

    def compare_series(self, part: dict) -> dict[str, dict]:
        """``{series: {"model": {layer: value}, "random_init": {...}}}``: what ``make compare``
        draws by residual layer (none by default)."""
        return {}

    def compare_lines(self, parts: dict[str, dict]) -> list[str]:
        """compare.md's lines about this stage across the compared runs (``parts``: each
        run's part of summary.json, by its model kind); none by default."""
        return []

    def compare_figures(self, parts: dict[str, dict], out: Path) -> dict[str, str]:
        """Draw this stage's figures across the compared runs into ``out``; ``{caption: file
        name}`` of those drawn (none by default)."""
        return {}

    def view(self, result: StageResult, hooks: dict[int, str]) -> StageView | None:
        """The explorer's view of a finished result (None: the stage has none); ``hooks``:
        the residual layers the explorer's probes read."""
        return None


def load_run_model(run: str | os.PathLike, device: str = "auto") -> HookedModel:
    """A run's model (any kind) in eval mode, with ``sha256``, its file's hash, attached: what
    the checks that tie a stage's inputs to one model compare."""
    from othello.common.device import pick_device  # torch only when a model is loaded
    from othello.common.hashing import file_sha256
    from othello.model.checkpoint import load_model_file, model_file

    path = model_file(run)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model; pass a run directory holding model.pt")
    model = load_model_file(path, pick_device(device)).eval()
    model.sha256 = file_sha256(path)
    return model


def fewer_than_asked(what: str, got: int, asked: int) -> list[str]:
    """A result's warning when it measured fewer of ``what`` than its settings asked (a split
    that holds fewer), so a smaller figure never passes for the asked one quietly."""
    return [f"only {got:,} {what}, {asked:,} asked"] if got < asked else []


def model_sha256(model: HookedModel) -> str | None:
    """The hash of the file ``model`` was loaded from (None: a model built in memory)."""
    return getattr(model, "sha256", None)


def _word(value: Any) -> str:
    """A preset's value as a ``key=value`` word's value (a tuple comma-separated)."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def quiet(cfg: Any) -> Any:
    """``cfg`` with every ``progress`` field (its own and its nested settings') off."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "progress":
            setattr(cfg, f.name, False)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            quiet(value)
    return cfg


def need(inputs: dict, name: str, who: str) -> Any:
    """The result of stage ``name`` that stage ``who`` reads, refused in one line if absent."""
    if name not in inputs:
        raise UserError(f"{who}: needs the {name} stage's result (inputs['{name}'])")
    return inputs[name]
