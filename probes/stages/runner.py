"""Run a registered stage on a run's files: its settings from a preset and ``key=value``
words, the finished results of the stages it reads from the run's layout, its artefacts
checked before anything is written, its folder written by the stage (``metrics.json`` last)."""

from __future__ import annotations

import os
from pathlib import Path

from othello.common.errors import UserError
from probes.stage_spec import StageJob, StageResult, quiet
from probes.stages.layout import Layout
from probes.stages.registry import stage


def load_finished(name: str, layout: Layout) -> StageResult | None:
    """Stage ``name``'s finished result in ``layout``, None when it has not finished."""
    folder = layout.folder(name)
    spec = stage(name)
    return spec.load(folder) if spec.finished(folder) else None


def stage_job(
    name: str,
    layout: Layout,
    preset: str | None = None,
    overrides: list[str] = (),
    progress: bool = True,
) -> StageJob:
    """Everything stage ``name`` reads, checked: a stage it needs that has not finished, or a
    missing artefact, is refused in one line naming the folder or file and the target that
    makes it."""
    spec = stage(name)
    cfg = spec.configure(preset, list(overrides))
    if not progress:
        quiet(cfg)
    inputs = {}
    for needed in spec.reads:
        result = load_finished(needed, layout)
        if result is None:
            raise FileNotFoundError(
                f"{layout.folder(needed)}: the {needed} stage has not finished there; "
                f"run it first (make {needed})"
            )
        inputs[needed] = result
    for wanted in spec.reads_if_present:
        if (result := load_finished(wanted, layout)) is not None:
            inputs[wanted] = result
    files = {artefact: layout.file(artefact) for artefact in spec.files}
    for artefact, path in files.items():
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing ({artefact}); make it first")
    if layout.games is None or not layout.games.exists():
        raise FileNotFoundError(f"{layout.games}: no such games file")
    out = layout.folder(name)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    return StageJob(layout.run, layout.games, out, cfg, inputs, files, progress)


def run_stage(
    name: str,
    layout: Layout,
    preset: str | None = None,
    overrides: list[str] = (),
    progress: bool = True,
) -> StageResult:
    """Run stage ``name`` on ``layout``'s run and write its folder."""
    return stage(name).run(stage_job(name, layout, preset, overrides, progress))


def explicit_job(
    name: str,
    out: str | os.PathLike,
    run: str | os.PathLike | None = None,
    games: str | os.PathLike | None = None,
    inputs: dict[str, str | os.PathLike | None] | None = None,
    files: dict[str, str | os.PathLike | None] | None = None,
    preset: str | None = None,
    overrides: list[str] = (),
    progress: bool = True,
) -> StageJob:
    """A job with every path given (a stage's own script): the folders of the stages it reads
    (``inputs``, None: not given; a stage refuses to measure without one it needs) and its
    artefacts (``files``), each checked before anything is written."""
    spec = stage(name)
    cfg = spec.configure(preset, list(overrides))
    if not progress:
        quiet(cfg)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    loaded = load_folders(inputs or {})
    paths = {k: Path(v) for k, v in (files or {}).items() if v is not None}
    for artefact, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file ({artefact})")
    if games is not None and not Path(games).exists():
        raise FileNotFoundError(f"{games}: no such games file")
    run = None if run is None else Path(run)
    games = None if games is None else Path(games)
    return StageJob(run, games, out, cfg, loaded, paths, progress)


def load_folders(folders: dict[str, str | os.PathLike | None]) -> dict[str, StageResult]:
    """The result of each given folder (None: not given) of the registered stage named by its
    key, refused in one line when the folder is not a finished one."""
    loaded = {}
    for name, folder in folders.items():
        if folder is None:
            continue
        spec = stage(name)
        if not spec.finished(folder):
            raise FileNotFoundError(
                f"{Path(folder) / spec.done}: missing; {folder} is not a finished {name} folder"
            )
        loaded[name] = spec.load(folder)
    return loaded
