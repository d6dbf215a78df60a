"""train_sae.py on the tiny model's cache: the SAELens files, the metrics the outside checks
read, a sweep with its control, and refusals that write nothing. The SAELens check runs where
the extra is installed (``pip install -e ".[sae]"``)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import run_in_process

from othello.model.checkpoint import control_model
from probes.acts.reader import ActsFile
from probes.acts.writer import write_cache
from probes.sae.model import load_sae

KEYS = ("explained_variance", "l0", "loss_recovered", "coverage_mine_theirs",
        "board_reconstruction_mine_theirs")  # fmt: skip


@pytest.fixture(scope="module")
def run_with_cache(tiny_run, tiny_corpus, tmp_path_factory):
    """A copy of the tiny run with its cache and its control's beside it."""
    run = tmp_path_factory.mktemp("sae") / "run"
    shutil.copytree(tiny_run, run)
    write_cache(run, tiny_corpus, run / "acts.h5", n_games=200, progress=False)
    write_cache(control_model(run), tiny_corpus, run / "control" / "acts.h5", n_games=200,
                progress=False)  # fmt: skip
    return run


def test_train_sae_writes_saelens_files_and_the_metrics(run_with_cache, tmp_path):
    out = tmp_path / "sae"
    done = run_in_process(
        "train_sae.py", "--acts", run_with_cache / "acts.h5", "--layer", 1, "--out", out,
        "--no-progress", "k=8", "expansion=4", "epochs=2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(isinstance(metrics[k], float) for k in KEYS)
    assert metrics["l0"] <= 8 and metrics["d_sae"] == 4 * 64 and metrics["layer"] == 1
    assert 0 <= metrics["coverage_mine_theirs"] <= 1 and metrics["loss_sae"] > 0
    sae, cfg = load_sae(out)
    assert cfg["architecture"] == "topk" and cfg["k"] == 8
    assert (out / "feature_pages.png").stat().st_size > 10_000
    with ActsFile(run_with_cache / "acts.h5") as acts:
        hook = acts.hooks[1]
        chunk = next(acts.iter_chunks("test", [hook], [], 8))
    x = torch.from_numpy(chunk[hook][chunk["valid"]])
    try:
        from sae_lens import SAE
    except ImportError:
        pytest.skip('SAELens is not installed: pip install -e ".[sae]" to check the interchange')
    theirs = SAE.load_from_disk(str(out))
    torch.testing.assert_close(theirs.encode(x), sae.encode(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(theirs.decode(theirs.encode(x)), sae(x), atol=1e-5, rtol=1e-5)


def test_a_sweep_with_its_control(run_with_cache, tmp_path):
    out = tmp_path / "sweep"
    done = run_in_process(
        "train_sae.py", "--acts", run_with_cache / "acts.h5", "--layer", 2, "--out", out,
        "--sweep", "tiny", "--control", run_with_cache / "control" / "acts.h5", "--no-progress",
        "epochs=1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "sweep.json").read_text())
    assert set(results) == {"topk-k8-x4", "relu-l1-2-x4", "control-topk-k8-x4"}
    assert results["control-topk-k8-x4"]["model_sha256"] != results["topk-k8-x4"]["model_sha256"]
    assert "| control-topk-k8-x4 |" in (out / "sweep.md").read_text()


def test_a_sweep_layer_by_layer(run_with_cache, tmp_path):
    out = tmp_path / "layers"
    done = run_in_process(
        "train_sae.py", "--acts", run_with_cache / "acts.h5", "--layer", "0,2", "--out", out,
        "--sweep", "layers", "--control", run_with_cache / "control" / "acts.h5",
        "--no-progress", "epochs=1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "sweep.json").read_text())
    assert list(results) == [
        "topk-k32-x4-L0", "control-topk-k32-x4-L0", "topk-k32-x4-L2", "control-topk-k32-x4-L2",
    ]  # fmt: skip
    assert [m["layer"] for m in results.values()] == [0, 0, 2, 2]
    assert all((out / name / "cfg.json").exists() for name in results)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--layer", "7"], "holds no layer 7"),
        (["--layer", "1", "k=300", "expansion=4"], "k=300 is larger than the SAE's width 256"),
        (["--layer", "1", "architecture=gated"], "unknown SAE architecture 'gated'"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(run_with_cache, tmp_path, extra, message):
    out = tmp_path / "sae"
    done = run_in_process("train_sae.py", "--acts", run_with_cache / "acts.h5", "--out", out,
                          "--no-progress", *extra)  # fmt: skip
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not out.exists()


def test_a_cache_of_another_model_is_refused(run_with_cache, tmp_path):
    out = tmp_path / "sae"
    done = run_in_process(
        "train_sae.py", "--acts", run_with_cache / "acts.h5", "--layer", 1, "--out", out,
        "--run", control_model(run_with_cache), "--no-progress",
    )  # fmt: skip
    assert done.returncode == 1 and "made from another model" in done.stderr
    assert not out.exists()
