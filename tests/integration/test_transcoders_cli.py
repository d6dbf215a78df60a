"""scripts/transcoders.py on the tiny run: the figures the outside checks read, the SAELens and
circuit-tracer folders, the stage in the registry and its report section, and the refusals
(a model without MLPs, a games file that is not there) that write nothing."""

from __future__ import annotations

import json

import pytest
from conftest import run_in_process

from othello.model.checkpoint import load_model_file
from probes.report.markdown import stage_lines
from probes.stage_spec import model_sha256
from probes.stages import registry
from probes.stages.__main__ import table_row
from probes.transcoders import TranscoderResult, load_transcoders


@pytest.fixture(scope="module")
def measured(tiny_transcoders):
    return tiny_transcoders


def test_metrics_hold_each_layers_figures_beside_the_control(measured):
    metrics = json.loads((measured / "metrics.json").read_text())
    assert set(metrics["layers"]) == {"0", "1"} and metrics["d_transcoder"] == 128
    for figures in metrics["layers"].values():
        for who in (figures, figures["random_init"]):
            assert isinstance(who["variance_explained"], float) and who["variance_explained"] < 1
            assert 0 <= who["spliced_top1_legal"] <= 1 and 0 <= who["dead_features"] <= 1
        assert figures["top1_legal_clean"] > figures["random_init"]["top1_legal_clean"]
    whole = metrics["all_layers"]
    assert 0 <= whole["spliced_top1_legal"] <= 1 and "random_init" in whole
    assert (measured / "transcoders.png").stat().st_size > 5_000


def test_the_folders_load_and_belong_to_the_run(measured, tiny_run):
    sha = model_sha256(load_model_file(tiny_run))
    ours = load_transcoders(measured, model_sha256=sha)
    assert sorted(ours) == [0, 1] and ours[0].architecture == "jumprelu_transcoder"
    control = load_transcoders(measured, control=True)
    assert control[0].threshold is not None and sorted(control) == [0, 1]
    config = (measured / "circuit_tracer" / "config.yaml").read_text()
    assert 'feature_input_hook: "ln2.hook_normalized"' in config
    assert all((measured / "circuit_tracer" / f"layer_{i}.safetensors").exists() for i in (0, 1))
    result = TranscoderResult.load(measured)
    assert result.labels[1].to_dict().keys() == result.control_labels[1].to_dict().keys()
    assert len(result.labels[0].kind) == 128


def test_the_stage_is_registered_and_its_section_renders(measured):
    assert "transcoders" in registry.names()
    assert table_row("transcoders").startswith("transcoders:report:-:-:metrics.json:")
    result = registry.stage("transcoders").load(measured)
    lines = stage_lines({"transcoders": result.summary()}, in_report=False)
    assert lines[0] == "## Transcoders: each MLP replaced by a sparse stand-in"
    assert sum(line.startswith(("| 0 |", "| 1 |")) for line in lines) == 2
    assert any(line.startswith("Every MLP replaced at once") for line in lines)


@pytest.mark.parametrize("case", ["lstm", "no games"])
def test_bad_input_is_one_error_line_and_nothing_written(case, tiny_run, tiny_corpus, tmp_path):
    import torch

    from othello.model.checkpoint import save_model
    from othello.model.config import LSTMConfig
    from othello.model.kinds import build_model

    run, games = tiny_run, tiny_corpus
    if case == "lstm":
        torch.manual_seed(0)
        run = tmp_path / "run"
        save_model(build_model(LSTMConfig(n_layers=2, d_model=64)), run / "model.pt")
    else:
        games = tmp_path / "missing.h5"
    out = tmp_path / "out"
    done = run_in_process("transcoders.py", "--run", run, "--games", games, "--out", out,
                          "--preset", "tiny", "--no-progress", "games=60")  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert ("MLP" in lines[0]) if case == "lstm" else ("missing.h5" in lines[0])
    assert not out.exists()


def test_transcoders_train_from_an_activation_cache(tiny_run, tiny_corpus, tmp_path):
    from othello.model.hooks import transcoder_hooks
    from probes.acts.reader import ActsFile
    from probes.acts.writer import write_cache

    hooks = [h for layer in (0, 1) for h in transcoder_hooks(layer)]
    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=60, hooks=hooks,
                       progress=False)  # fmt: skip
    out = tmp_path / "out"
    done = run_in_process("transcoders.py", "--run", tiny_run, "--games", tiny_corpus, "--out",
                          out, "--preset", "tiny", "--no-progress", f"acts={acts}",
                          "control=false", "transcoder.epochs=1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    with ActsFile(acts) as source:
        assert metrics["games"] == {s: len(source.split_rows(s)) for s in ("train", "val", "test")}
    resid = write_cache(tiny_run, tiny_corpus, tmp_path / "resid.h5", n_games=20, progress=False)
    bad = run_in_process("transcoders.py", "--run", tiny_run, "--games", tiny_corpus, "--out",
                         tmp_path / "bad", "--no-progress", f"acts={resid}",
                         "control=false")  # fmt: skip
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and len(lines) == 1 and "ln2.hook_normalized" in lines[0]
    assert not (tmp_path / "bad").exists()
