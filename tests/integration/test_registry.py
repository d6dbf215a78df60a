"""A new intervention method or probe kind is one registration: a toy editor and a toy probe
kind declared in this file alone run through fitting, storing, the sweep, the choices, the
stages' outputs and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from othello.checkpoint import control_model
from othello.evaluate import evaluate_run
from probes.acts.writer import write_cache
from probes.common import ProbeKey
from probes.figures import write_probe_figures
from probes.interventions.editors import EDITORS, EditorSpec, register_editor
from probes.interventions.stage import prepare, run_intervention_stage, sweep_settings
from probes.kinds import KINDS, LinearProbe, ProbeKind, register_kind
from probes.report.summary import ReportInputs
from probes.report.write import write_report
from probes.stage import fit_settings, run_probe_stage
from probes.store import load_probes

LINEAR_ONLY = ("mine_theirs/linear", "black_white/linear", "flipped/linear", "legal/linear")


@dataclass(frozen=True)
class NoiseSettings:
    sizes: tuple[float, ...] = (0.0, 50.0)  # 0: no edit at all; tuned on the tuning cases


def noise_editor(probes, candidate):
    """Adds seeded noise of a given size: no probe direction at all, the control method."""

    def edit(x: torch.Tensor, hook: str, cases) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return x + candidate["size"] * torch.randn(x.shape, generator=g)

    return edit


@dataclass(frozen=True)
class TruncatedSettings:
    width: int = 8
    lr: float = 1e-2


class TruncatedProbe(LinearProbe):
    """A linear probe that reads only the first ``width`` coordinates."""

    def __init__(self, d_model: int, n_classes: int, width: int) -> None:
        super().__init__(d_model, n_classes)
        self.register_buffer("keep", (torch.arange(d_model) < width).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.mean + (x - self.mean) * self.keep)


@pytest.fixture
def toy_kind():
    register_kind(
        ProbeKind(
            name="truncated",
            settings=TruncatedSettings,
            make=lambda d, c, s: TruncatedProbe(d, c, s.width),
            optimizer_group=lambda s: {"lr": s.lr},
        )
    )
    yield
    del KINDS["truncated"]


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


def test_registered_kinds_and_editors_run_through_every_stage_and_the_report(
    toy_kind, toy_editor, tiny_run, tiny_corpus, tmp_path
):
    evaluate_run(tiny_run, tiny_corpus, tmp_path / "eval", n_games=100)
    fit, kinds = fit_settings(
        [f"probes={','.join((*LINEAR_ONLY, 'mine_theirs/truncated'))}", "min_steps=50",
         "epochs=1", "truncated.width=4"]
    )  # fmt: skip
    for model, name in ((tiny_run, "probes"), (control_model(tiny_run), "control")):
        acts = write_cache(model, tiny_corpus, tmp_path / f"{name}.h5", n_games=150, progress=False)
        metrics = run_probe_stage(acts, tmp_path / name, fit, False, kinds)
        assert set(metrics.accuracy["mine_theirs"]) == {"linear", "truncated"}
    probes, _ = load_probes(tmp_path / "probes")
    truncated = probes[ProbeKey("mine_theirs", "truncated", "blocks.1.hook_resid_pre")]
    assert isinstance(truncated, TruncatedProbe) and truncated.keep.sum() == 4
    write_probe_figures(tmp_path / "probes", tmp_path / "control", tmp_path / "figures")
    cfg, editors = sweep_settings(
        ["methods=linear,noise", "n_cases=40", "tune_cases=40", "noise.sizes=0,50", "saliency=1"]
    )
    inputs = prepare(tiny_run, tmp_path / "probes", tiny_corpus, None, cfg, editors)
    results = run_intervention_stage(
        inputs, cfg, editors, tmp_path / "interventions", progress=False
    )
    assert set(results.scores["tune"]) == {"linear", "noise"}
    details = json.loads((tmp_path / "interventions" / "details.json").read_text())
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
    assert "| mine_theirs | truncated |" in (tmp_path / "report" / "report.md").read_text()
    claims = [c["claim"] for c in summary["checks"]]
    assert "editing the board (noise) changes the predictions accordingly" in claims
    assert "| noise |" in (tmp_path / "report" / "report.md").read_text()
    saved = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert saved["interventions"]["choice"]["by_method"]["noise"]["chosen_on"] == "tune"
