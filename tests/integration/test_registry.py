"""A new intervention method, probe kind or SAE architecture is one registration: a toy of
each declared in this file alone runs through fitting, storing, the sweep (the gradient edit
following the toy kind), the choices, the SAE stage, the stages' outputs, the report and the
explorer's API."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from othello.model.checkpoint import control_model
from othello.model.evaluate import evaluate_run
from probes.acts.writer import write_cache
from probes.common import ProbeKey
from probes.explorer.api import open_explorer
from probes.explorer.server import create_app
from probes.figures import write_probe_figures
from probes.interventions.editors import EDITORS, EditorSpec, register_editor
from probes.kinds import KINDS, ProbeKind, register_kind
from probes.probe_spec import control_folder
from probes.probe_stage import fit_settings, run_probe_stage
from probes.report.summary import ReportInputs
from probes.report.write import write_report
from probes.sae.architectures import ARCHITECTURES, SAEArchitecture, register_architecture
from probes.sae.model import SAEConfig
from probes.sae.stage import SWEEPS, run_sae_sweep
from probes.stages.registry import stage
from probes.stages.runner import explicit_job
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
class LowRankSettings:
    rank: int = 4
    lr: float = 1e-2


class LowRankProbe(nn.Module):
    """Not a linear probe of ours: the residual stream through a rank-``rank`` bottleneck to
    every square's classes, with standardisation of its own."""

    def __init__(self, d_model: int, n_classes: int, rank: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("mean", torch.zeros(d_model))
        self.register_buffer("scale", torch.ones(d_model))
        self.down = nn.Linear(d_model, rank, bias=False)
        self.up = nn.Linear(rank, 64 * n_classes)

    def set_standardisation(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.scale.copy_(scale.clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.up(self.down((x - self.mean) / self.scale))
        return z.unflatten(-1, (64, self.n_classes))


@pytest.fixture
def toy_kind():
    register_kind(
        ProbeKind(
            name="lowrank",
            settings=LowRankSettings,
            make=lambda d, c, s: LowRankProbe(d, c, s.rank),
            optimizer_group=lambda s: {"lr": s.lr},
        )
    )
    yield
    del KINDS["lowrank"]


@pytest.fixture
def toy_architecture():
    """ReLU above a fixed threshold of 0.1, an L1 penalty: a JumpReLU without the learning."""
    register_architecture(
        SAEArchitecture(
            name="shifted",
            activate=lambda pre, k: (pre - 0.1).relu(),
            penalty=lambda sae, x, x_hat, pre, f, dead, cfg: cfg.l1_coefficient * f.sum(-1).mean(),
        )
    )
    yield
    del ARCHITECTURES["shifted"]


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
    toy_kind, toy_editor, toy_architecture, tiny_run, tiny_corpus, tmp_path
):
    evaluate_run(tiny_run, tiny_corpus, tmp_path / "eval", n_games=100)
    fit, kinds = fit_settings(
        [f"probes={','.join((*LINEAR_ONLY, 'mine_theirs/lowrank'))}", "min_steps=50",
         "epochs=1", "lowrank.rank=3"]
    )  # fmt: skip
    control = control_folder(tmp_path / "probes")
    for model, name, out in (
        (tiny_run, "probes", tmp_path / "probes"),
        (control_model(tiny_run), "control", control),
    ):
        acts = write_cache(model, tiny_corpus, tmp_path / f"{name}.h5", n_games=150, progress=False)
        metrics = run_probe_stage(acts, out, fit, False, kinds)
        assert set(metrics.accuracy["mine_theirs"]) == {"linear", "lowrank"}
    probes, _ = load_probes(tmp_path / "probes")
    lowrank = probes[ProbeKey("mine_theirs", "lowrank", "blocks.1.hook_resid_pre")]
    assert isinstance(lowrank, LowRankProbe) and lowrank.down.out_features == 3
    write_probe_figures(tmp_path / "probes", control, tmp_path / "probes")
    interventions = intervention_stage(tiny_run, tiny_corpus, tmp_path)
    sae = tmp_path / "sae"
    SWEEPS["toy"] = [("shifted-x2", {"architecture": "shifted", "expansion": 2, "epochs": 1})]
    try:
        run_sae_sweep(tmp_path / "probes.h5", "1", sae, "toy", SAEConfig(), run=tiny_run,
                      probe_dir=tmp_path / "probes", progress=False)  # fmt: skip
    finally:
        del SWEEPS["toy"]
    assert json.loads((sae / "shifted-x2" / "cfg.json").read_text())["architecture"] == "shifted"
    stages = {"probes": tmp_path / "probes", "interventions": interventions, "sae": sae}
    inputs = ReportInputs(tiny_run, tmp_path / "eval", stages)
    summary = write_report(inputs, tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| mine_theirs | lowrank |" in report and "| noise |" in report
    assert "| shifted-x2 | 1 |" in report  # the SAE sweep's table
    claims = [c["claim"] for c in summary["checks"]]
    assert "editing the board (noise) changes the predictions accordingly" in claims
    assert summary["interventions"]["choice"]["by_method"]["noise"]["chosen_on"] == "tune"
    assert_in_the_explorer(tiny_run, tiny_corpus, tmp_path, interventions, sae / "shifted-x2")


def intervention_stage(run, games, tmp_path):
    """The sweep with the toy editor and the gradient edit following the toy kind."""
    settings = ["methods=linear,noise,gradient", "n_cases=40", "tune_cases=40", "noise.sizes=0,50",
                "saliency=1", "gradient.probe=lowrank", "gradient.steps=10"]  # fmt: skip
    inputs = {"probes": tmp_path / "probes"}
    out = tmp_path / "interventions"
    job = explicit_job("interventions", out, run, games, inputs, overrides=settings, progress=False)
    results = stage("interventions").run(job)
    editors = job.cfg.editors
    assert set(results.scores["tune"]) == {"linear", "noise", "gradient"}
    assert results.setting("gradient", editors["gradient"])["probe"] == "lowrank"
    details = json.loads((results.folder / "details.json").read_text())
    # size 0 changes nothing, so on every layer it scores exactly the unedited model
    for layer, tried in details["tuning"]["noise"].items():
        assert tried["noise 0"] == details["null"]["tune"]["errors_vs_edited"], layer
    return results.folder


def assert_in_the_explorer(run, games, tmp_path, interventions, sae) -> None:
    """The toy kind, editor and architecture are what the explorer's API offers and answers."""
    stages = {"interventions": interventions, "sae": sae}
    app = create_app(open_explorer(run, [games], tmp_path / "probes", stages))
    client = app.test_client()
    info = client.get("/api/info").json
    assert "lowrank" in info["methods"] and "noise" in info["editors"]
    answer = client.get("/api/position?moves=F5,D6,C3,D3&ply=3&kind=lowrank").json
    readings = answer["probe_readings"]["1"]["mine_theirs"]
    assert answer["kind"] == "lowrank" and len(readings["reading"]) == 64
    assert answer["sae_features"]["layer"] == 1  # the toy SAE's features at this position
    edited = client.get("/api/intervene?moves=F5,D6,C3,D3&ply=3&square=27&method=noise").json
    assert edited["method"] == "noise" and len(edited["predictions_after"]) == 64
