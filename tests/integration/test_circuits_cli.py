"""scripts/circuits.py on the tiny model: the files the outside checks read, and refusals
(bad paths, probes of another model, a bad setting) that write nothing."""

from __future__ import annotations

import json

import pytest
from conftest import REFUSALS, check_stage_refuses, run_in_process

from probes.circuits.plots import FIGURES
from probes.circuits.results import CircuitsResult

SMALL = [
    "test_games=30", "val_games=20", "train_games=40", "tree_positions=600",
    "val_positions=300", "test_positions=300", "max_depth=3", "control_neurons=8",
    "patch_pairs=20", "ablation_games=20", "ablation_groups=2", "pages=2", "workers=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def probes(tiny_probes):
    """Linear mine/theirs and legal probes at every layer of the tiny model (the session's)."""
    return tiny_probes


@pytest.fixture(scope="module")
def circuits(tiny_run, tiny_corpus, probes, tmp_path_factory):
    """The script's output folder on the tiny model, with small settings, and its stdout."""
    out = tmp_path_factory.mktemp("circuits") / "circuits"
    done = run_in_process(
        "circuits.py", "--run", tiny_run, "--games", tiny_corpus, "--probes", probes,
        "--out", out, "--no-progress", *SMALL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_circuits_writes_every_output(circuits):
    out, stdout = circuits
    assert "neurons with test R^2 > 0.7" in stdout
    neurons = json.loads((out / "neurons.json").read_text())
    assert len(neurons) == 2 * 256  # 2 layers of 4 x 64 neurons
    assert {"layer", "neuron", "r2_test", "rule", "controls"} <= set(neurons[0])
    assert {"share_r2_above_0.7", "random_init", "shuffled_labels"} <= set(neurons[0]["controls"])
    assert all(r["r2_test"] is None or r["r2_test"] <= 1 for r in neurons)
    lens = json.loads((out / "logit_lens.json").read_text())
    assert set(lens) == {"0", "1", "2"} and all(0 <= v <= 1 for v in lens.values())
    attribution = json.loads((out / "attribution.json").read_text())
    assert attribution["max_abs_sum_error"] < 1e-4
    assert len(attribution["predicted"]["by_move"]) == 59
    patching = json.loads((out / "patching.json").read_text())
    assert patching["pairs"] > 0 and len(patching["resid"]) == 3
    assert patching["resid"][0][0] == pytest.approx(1.0, abs=1e-4)  # the differing token
    approx = json.loads((out / "attribution_patching.json").read_text())
    assert approx["pairs"] == patching["pairs"] and len(approx["approx"]["resid"]) == 3
    assert approx["approx"]["offsets"] == patching["offsets"] and "exact" not in approx
    assert approx["seconds"]["exact"] > 0 and approx["seconds"]["approx"] > 0
    results = CircuitsResult.load(out)
    assert results.attribution_patching == approx
    assert results.metrics["attribution_patching"]["correlation"] == approx["correlation"]
    assert set(results.layers) == {"0", "1"} and results.metrics["games"]["test"] == 30
    assert results.atlas()["map_mine_theirs"].shape == (2, 256, 64)
    assert results.neuron(1, 5)["neuron"] == 5
    for name in FIGURES:
        assert results.figure(name).stat().st_size > 5_000, name


@pytest.mark.parametrize("case", REFUSALS)
def test_circuits_refuses_and_writes_nothing(case, tiny_run, tiny_corpus, probes, tmp_path):
    check_stage_refuses(
        "circuits.py", case, tiny_run, tiny_corpus, probes, tmp_path, "pages=1", "max_depth=0"
    )


def test_the_explorer_answers_from_the_circuits(tiny_run, tiny_corpus, probes, circuits):
    from probes.explorer.api import open_explorer
    from probes.explorer.server import create_app

    explorer = open_explorer(tiny_run, [tiny_corpus], probes, {"circuits": circuits[0]})
    client = create_app(explorer).test_client()
    where = f"game={int(explorer.test_rows[0][0])}&ply=20"
    page = client.get(f"/api/neuron?{where}&layer=1&neuron=3").json
    assert len(page["activation"]) == 59 and isinstance(page["rule"], str)
    assert set(page["maps"]) == {"mine_theirs", "empty", "flipped", "legal"}
    assert page["top_positions"] and len(page["top_positions"][0]["board_relative"]) == 64
    active = client.get(f"/api/neurons?{where}").json["neurons"]
    assert active[0]["activation"] >= active[-1]["activation"]
    attribution = client.get(f"/api/attribution?{where}").json
    assert attribution["sum"] == pytest.approx(attribution["logit"], abs=1e-3)
    assert client.get(f"/api/patching?{where}").status_code in (200, 404)
    assert client.get(f"/api/neuron?{where}&layer=1&neuron=9999").status_code == 400


def test_the_report_section_reads_the_circuits(circuits):
    from probes.stages.registry import stage

    results = CircuitsResult.load(circuits[0])
    lines = stage("circuits").section(results.summary())
    assert lines[0].startswith("## Circuits (30 test games")
    assert sum(line.startswith("| 0 |") or line.startswith("| 1 |") for line in lines) == 2
    assert set(results.figures().values()) <= {results.figure(n) for n in FIGURES}


def test_a_model_without_heads_or_neurons_is_refused_in_one_line(tiny_corpus, probes, tmp_path):
    """The lab needs attention heads and MLP neurons: an LSTM's run gets one error line naming
    what it lacks, and nothing is written; its explorer refuses the head and neuron views."""
    import torch

    from othello.model.checkpoint import save_model
    from othello.model.config import LSTMConfig
    from othello.model.kinds import build_model
    from probes.explorer.inputs import ExplorerError, check_head, check_part

    torch.manual_seed(0)
    lstm = build_model(LSTMConfig(n_layers=2, d_model=64))
    save_model(lstm, tmp_path / "run" / "model.pt")
    out = tmp_path / "out"
    done = run_in_process(
        "circuits.py", "--run", tmp_path / "run", "--games", tiny_corpus, "--probes", probes,
        "--out", out, "--no-progress",
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "needs attention heads; a lstm model has none" in lines[0] and not out.exists()
    with pytest.raises(ExplorerError, match="attention patterns needs attention heads"):
        check_head(lstm, None)
    with pytest.raises(ExplorerError, match="MLP neurons; a lstm model"):
        check_part(lstm, "neurons", "a neuron's view")
