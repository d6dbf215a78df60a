"""A new intervention method is one registration: a toy editor declared in this file alone
runs through the sweep, the choices, the stage's outputs and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from othello.cache import write_cache
from othello.checkpoint import control_model
from othello.evaluate import evaluate_run
from probes.editors import EDITORS, EditorSpec, register_editor
from probes.fit import FitConfig
from probes.intervention_stage import load_settings, prepare, run_intervention_stage
from probes.probe_figures import write_probe_figures
from probes.probe_stage import run_probe_stage
from probes.report import ReportInputs, write_report


@dataclass(frozen=True)
class NoiseSettings:
    sizes: tuple[float, ...] = (0.0, 50.0)  # 0: no edit at all; tuned on the tuning cases


def noise_editor(probes, candidate):
    """Adds seeded noise of a given size: no probe direction at all, the control method."""

    def edit(x: torch.Tensor, hook: str, cases) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return x + candidate["size"] * torch.randn(x.shape, generator=g)

    return edit


@pytest.fixture
def toy_editor():
    register_editor(
        EditorSpec(
            name="noise",
            settings=NoiseSettings,
            probe_kind=lambda s: "linear",
            candidates=lambda s: [{"size": x} for x in s.sizes],
            build=noise_editor,
            describe=lambda c: f"noise {c['size']:g}",
        )
    )
    yield
    del EDITORS["noise"]


def test_a_registered_editor_runs_through_the_sweep_and_the_report(
    toy_editor, tiny_run, tiny_corpus, tmp_path
):
    evaluate_run(tiny_run, tiny_corpus, tmp_path / "eval", n_games=100)
    fit = FitConfig(mlp_schemes=(), min_steps=50, epochs=1)
    for model, name in ((tiny_run, "probes"), (control_model(tiny_run), "control")):
        acts = write_cache(model, tiny_corpus, tmp_path / f"{name}.h5", n_games=150, progress=False)
        run_probe_stage(acts, tmp_path / name, fit, progress=False)
    write_probe_figures(tmp_path / "probes", tmp_path / "control", tmp_path / "figures")
    cfg, editors = load_settings(
        ["methods=linear,noise", "n_cases=40", "tune_cases=40", "noise.sizes=0,50", "saliency=1"]
    )
    inputs = prepare(tiny_run, tmp_path / "probes", tiny_corpus, None, cfg, editors)
    metrics, details = run_intervention_stage(
        inputs, cfg, editors, tmp_path / "interventions", progress=False
    )
    assert set(metrics["sets"]["tune"]) == {"linear", "noise"}
    # size 0 changes nothing, so on every layer it scores exactly the unedited model
    for layer, tried in details["tuning"]["noise"].items():
        assert tried["noise 0"] == details["null"]["tune"]["errors_vs_edited"], layer
    summary = write_report(
        ReportInputs(
            tiny_run,
            tmp_path / "eval",
            tmp_path / "probes",
            tmp_path / "control",
            tmp_path / "figures",
            tmp_path / "interventions",
        ),
        tmp_path / "report",
    )
    claims = [c["claim"] for c in summary["checks"]]
    assert "editing the board (noise) changes the predictions accordingly" in claims
    assert "| noise |" in (tmp_path / "report" / "report.md").read_text()
    saved = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert saved["interventions"]["choice"]["by_method"]["noise"]["chosen_on"] == "tune"
