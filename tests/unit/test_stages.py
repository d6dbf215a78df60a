"""The stage registry: every stage one registered spec, and a new stage reaches make's table,
the generic runner, the report and the explorer by one registration."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TESTS

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.files import METRICS
from othello.corpora.corpus import GamesFile
from othello.model.evaluate import evaluate_games
from probes.explorer import answers
from probes.explorer.api import open_explorer
from probes.explorer.inputs import parse_moves
from probes.report.markdown import stage_lines
from probes.stage_spec import Stage, StageJob
from probes.stages import registry
from probes.stages.__main__ import table_row
from probes.stages.layout import Layout
from probes.stages.runner import run_stage, stage_job

BUILT_IN = ("probes", "interventions", "sae", "circuits", "worldmodel")


def test_the_registry_lists_every_stage_once():
    done = subprocess.run(
        [sys.executable, "-c", "import probes; print(sorted(probes.stages.names()))"],
        capture_output=True, text=True, cwd=TESTS.parent, check=True,
    )  # fmt: skip
    assert set(BUILT_IN) <= set(eval(done.stdout))
    with pytest.raises(UserError, match="already registered"):
        registry.register_stage(registry.stage("probes"))
    with pytest.raises(UserError, match="unknown stage 'nope'"):
        registry.stage("nope")


def test_each_stage_has_its_presets_sizes_once():
    """The default preset's sizes are the settings' defaults; tiny's are the stage's own."""
    assert registry.stage("probes").configure("tiny").games == 150
    assert registry.stage("probes").configure("cpu").games == 3000
    interventions = registry.stage("interventions").configure("tiny", ["linear.scales=1,2"])
    assert (interventions.sweep.n_cases, interventions.editors["linear"].scales) == (100, (1, 2))
    world = registry.stage("worldmodel").configure("tiny", ["nerode.trials=7"])
    assert (world.game_samples, world.nerode.trials) == (150, 7)  # a word after the preset wins
    assert registry.stage("worldmodel").configure("cpu").nerode.trials == 1000
    with pytest.raises(UserError, match="unknown setting"):
        registry.stage("circuits").configure("tiny", ["no_such_key=1"])


def test_makes_table_says_what_each_stage_reads():
    rows = {r.split(":")[0]: r.split(":") for r in map(table_row, BUILT_IN)}
    assert rows["probes"][1:5] == ["run", "-", "acts,control_acts", "metrics.json"]
    assert rows["interventions"][2:4] == ["probes", "cases"] and rows["interventions"][5] == "yes"
    assert rows["sae"][4] == "sweep.json" and rows["worldmodel"][6] == "WORLDMODEL_ARGS"


def test_the_layout_places_every_stage():
    layout = Layout.of("data/runs/x", "reports/x", "games.h5", "cases.h5")
    assert layout.folder("probes") == Path("data/runs/x/probes")
    assert layout.folder("circuits") == Path("reports/x/circuits")
    assert layout.file("control_acts") == Path("data/runs/x/control/acts.h5")
    with pytest.raises(UserError, match="unknown run artefact"):
        layout.file("nothing")


# --- a new stage, in a test: one registration reaches every consumer ---------------------


@dataclass
class CountConfig:
    games: int = 20
    progress: bool = True


@dataclass
class CountResult:
    """The toy stage's result: top-1 legal accuracy on the first test games."""

    top1: float
    folder: Path | None = None

    def save(self, folder) -> None:
        self.folder = Path(folder)
        write_text(self.folder / METRICS, json.dumps({"top1": self.top1}) + "\n")

    def summary(self) -> dict:
        return {"top1": self.top1}

    def figures(self) -> dict:
        return {}


class CountView:
    def __init__(self, result: CountResult) -> None:
        self.result = result

    def info(self) -> dict:
        return {"count": self.result.top1}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {"count_here": ply}


class CountStage(Stage):
    name = "count"
    question = "How often is the top move legal?"
    config = CountConfig
    presets = {"tiny": {"games": 10}}
    order = 99

    def measure(self, model, games, inputs: dict, cfg: CountConfig) -> CountResult:
        with GamesFile(games) as g:
            rows = g.split_indices("test")[: cfg.games]
            counts = evaluate_games(model, g.moves[rows], g.length[rows])
        return CountResult(counts.summary()["top1_legal_accuracy"])

    def load(self, folder) -> CountResult:
        return CountResult(json.loads((Path(folder) / METRICS).read_text())["top1"], Path(folder))

    def section(self, part: dict) -> list[str]:
        return ["## Count", "", f"top-1 legal {part['top1']:.3f}"]

    def view(self, result: CountResult, hooks: dict) -> CountView:
        return CountView(result)


@pytest.fixture
def count_stage():
    registry.register_stage(CountStage())
    yield registry.stage("count")
    del registry.STAGES["count"]


def test_a_registered_stage_runs_on_a_layout_and_in_memory(
    count_stage, tiny_run, tiny_corpus, tiny_probes, tmp_path
):
    from othello.model.checkpoint import load_model_file

    layout = Layout.of(tiny_run, tmp_path / "report", tiny_corpus)
    assert "count" in registry.names() and table_row("count").startswith("count:report:-:-:")
    job = stage_job("count", layout, "tiny")
    assert isinstance(job, StageJob) and job.cfg.games == 10 and job.out == layout.folder("count")
    on_files = run_stage("count", layout, "tiny")
    in_memory = count_stage.measure(
        load_model_file(tiny_run), tiny_corpus, {}, CountConfig(games=10)
    )
    assert on_files.top1 == in_memory.top1  # the same code, two routes
    again = count_stage.load(layout.folder("count"))
    assert count_stage.finished(layout.folder("count")) and again.top1 == on_files.top1
    summary = {"count": again.summary()}
    assert stage_lines(summary, in_report=False)[:3] == [
        "## Count",
        "",
        f"top-1 legal {again.top1:.3f}",
    ]
    assert stage_lines(summary, in_report=True) == []
    explorer = open_explorer(
        tiny_run, [tiny_corpus], tiny_probes, {"count": layout.folder("count")}
    )
    assert (
        answers.info(explorer)["count"] == again.top1
        and "count" in answers.info(explorer)["stages"]
    )
    assert answers.position(explorer, parse_moves("F5 D6 C3"), 2)["count_here"] == 2


def test_a_stage_that_has_not_finished_is_refused_by_name(tiny_run, tiny_corpus, tmp_path):
    layout = Layout.of(tiny_run, tmp_path / "report", tiny_corpus)
    with pytest.raises(FileNotFoundError, match="the probes stage has not finished.*make probes"):
        stage_job("circuits", layout, "tiny")
