"""One activation-source protocol: an ``acts.h5`` (ActsFile) and the activations of the same
model and games held in memory (``cache_activations``) are the same source to every stage
that reads them. Equal to the last digit, not within a tolerance: both routes run the same
batches through the same ``run_positions`` on the same device and store the same float32 (or
float16) numbers, and everything downstream reads them in the same chunks and order."""

from __future__ import annotations

import functools
import shutil
import weakref

import numpy as np
import pytest
import torch

from othello.model.checkpoint import MODEL, load_model_file
from othello.model.run_dir import snapshot_dir
from probes import curve
from probes.acts.arrays import ArraySource
from probes.acts.memory import cache_activations
from probes.acts.reader import ActsFile
from probes.acts.source import ActivationSource
from probes.acts.writer import write_cache
from probes.fit import FitConfig, fit_probes
from probes.metrics import evaluate_probes, scheme_baselines
from probes.probe_stage import SPLITS, build_metrics
from probes.sae.evaluate import board_metrics, reconstruction, spliced
from probes.sae.model import SAEConfig
from probes.sae.train import train_sae

N_GAMES = 150


@pytest.fixture(scope="module")
def sources(tiny_run, tiny_corpus, tmp_path_factory):
    """The tiny model's float32 cache of 150 games, and the same in memory."""
    path = tmp_path_factory.mktemp("sources") / "acts.h5"
    write_cache(tiny_run, tiny_corpus, path, n_games=N_GAMES, dtype="float32", progress=False)
    memory = cache_activations(tiny_run, tiny_corpus, n_games=N_GAMES, progress=False)
    with ActsFile(path) as file:
        yield file, memory


def test_a_file_and_memory_hold_the_same_games_job_and_activations(sources):
    file, memory = sources
    assert isinstance(file, ActivationSource) and isinstance(memory, ActivationSource)
    assert memory.job == file.job and memory.job["n_games"] == N_GAMES
    assert memory.model_sha256 == file.model_sha256 is not None
    assert memory.games_sha256 == file.games_sha256 is not None
    assert memory.hooks == file.hooks and memory.n_games == file.n_games == N_GAMES
    assert [memory.width(h) for h in memory.hooks] == [file.width(h) for h in file.hooks]
    rows = np.arange(N_GAMES)
    for a, b in zip(memory.games(rows), file.games(rows), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(memory.valid(rows), file.valid(rows))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(memory.split_rows(split), file.split_rows(split))
        chunks = (s.iter_chunks(split, chunk_games=16, shuffle_seed=3) for s in (memory, file))
        for a, b in zip(*chunks, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def probe_stage_figures(source) -> tuple[dict, dict]:
    """What the probe stage computes from a source: fitted probes, their counts on each
    split, the baselines and metrics.json's tables (whole boards included)."""
    cfg = FitConfig(probes=("mine_theirs/linear", "black_white/linear", "legal/linear"),
                    epochs=1, min_steps=30, device="cpu")  # fmt: skip
    probes = fit_probes(source, cfg, progress=False)
    counts = {split: evaluate_probes(source, probes, split) for split in SPLITS}
    base = {name: scheme_baselines(source, name) for name in cfg.schemes}
    details = {str(key): c.summary() for key, c in counts["test"].items()}
    return probes, {"metrics": build_metrics(counts, base, cfg, source.hooks), "details": details}


def test_the_probe_stage_figures_are_the_same_from_a_file_and_from_memory(sources):
    file, memory = sources
    probes_file, figures_file = probe_stage_figures(file)
    probes_memory, figures_memory = probe_stage_figures(memory)
    assert figures_memory == figures_file
    board = figures_memory["metrics"]["baselines"]["mine_theirs"]
    assert 0.5 < board["placed_by"] < 1  # the baseline that needs the games' moves
    assert figures_memory["metrics"]["whole_board"]["test"]["mine_theirs"]["linear"]
    for key, probe in probes_file.items():
        for name, value in probe.state_dict().items():
            assert torch.equal(value, probes_memory[key].state_dict()[name]), (key, name)


def sae_figures(source, model, out) -> tuple[dict, dict]:
    hook = source.hooks[1]
    cfg = SAEConfig(k=4, expansion=2, epochs=1, chunk_games=32, device="cpu")
    sae, record = train_sae(source, hook, cfg, out, progress=False)
    del record["seconds"]
    figures = {
        **reconstruction(sae, source, hook),
        **spliced(model, sae, source, hook, "legal_set", games=8),
        "board": board_metrics(sae, source, hook),
        "training": record,
    }
    return sae.state_dict(), figures


def test_an_sae_and_its_metrics_are_the_same_from_a_file_and_from_memory(
    sources, tiny_run, tmp_path
):
    file, memory = sources
    model = load_model_file(tiny_run)
    weights_file, figures_file = sae_figures(file, model, tmp_path / "file")
    weights_memory, figures_memory = sae_figures(memory, model, tmp_path / "memory")
    assert figures_memory == figures_file
    assert 0 < figures_memory["explained_variance"] < 1  # a real SAE, not a planted one
    assert figures_memory["loss_sae"] != figures_memory["loss_clean"]
    for name, value in weights_file.items():
        assert torch.equal(value, weights_memory[name]), name


def test_a_float16_source_holds_a_default_caches_numbers(tiny_run, tiny_corpus, tmp_path):
    path = write_cache(tiny_run, tiny_corpus, tmp_path / "a.h5", n_games=40, progress=False)
    memory = cache_activations(tiny_run, tiny_corpus, n_games=40, dtype="float16", progress=False)
    with ActsFile(path) as file:
        assert memory.job == file.job and file.job["dtype"] == "float16"
        a, b = next(memory.iter_chunks("train")), next(file.iter_chunks("train"))
        for hook in file.hooks:
            assert memory.acts[hook].dtype == np.float16
            np.testing.assert_array_equal(a[hook], b[hook])


def planted_arrays() -> ArraySource:
    valid, split = np.ones((10, 59), bool), np.repeat(np.int8([0, 1, 2]), [8, 1, 1])
    return ArraySource({"x": np.zeros((10, 59, 4), np.float32)}, {}, valid, split)


def test_planted_arrays_are_a_source_without_games():
    source = planted_arrays()
    assert isinstance(source, ActivationSource) and source.width("x") == 4
    assert source.model_sha256 is None and source.job == {}
    with pytest.raises(ValueError, match="without their games"):
        source.games(np.arange(2))


def fake_run(tiny_run, folder):
    """A run of two checkpoints: a snapshot at step 50 and the finished model (the tiny
    model's weights, both)."""
    snapshot_dir(folder, 50).mkdir(parents=True)
    shutil.copy(tiny_run / MODEL, folder / MODEL)
    shutil.copy(tiny_run / MODEL, snapshot_dir(folder, 50) / MODEL)
    return folder


def test_the_curve_probes_each_checkpoint_in_memory_as_from_its_cache_one_at_a_time(
    tiny_run, tiny_corpus, tmp_path, monkeypatch
):
    monkeypatch.setattr(curve, "FitConfig", functools.partial(FitConfig, epochs=1, min_steps=20))
    made: list[weakref.ref] = []

    def tracked(*args, **kwargs):
        assert all(ref() is None for ref in made)  # the last checkpoint's activations are gone
        source = cache_activations(*args, **kwargs)
        made.append(weakref.ref(source))
        return source

    monkeypatch.setattr(curve, "cache_activations", tracked)
    run = fake_run(tiny_run, tmp_path / "run")
    data = curve.probe_curve(run, tiny_corpus, tmp_path / "curve", n_games=60, progress=False)
    assert len(made) == 2 and list(data["points"]) == ["50", "200"]
    assert sorted(p.name for p in (tmp_path / "curve").iterdir()) == ["curve.json"]
    path = write_cache(run / MODEL, tiny_corpus, tmp_path / "acts.h5", n_games=60, progress=False)
    with ActsFile(path) as acts:
        from_file = {**curve.layer_scores(acts, "mine_theirs"), "model_sha256": acts.model_sha256}
    for point in data["points"].values():
        assert {k: point[k] for k in from_file} == from_file
    assert from_file["baselines"]["placed_by"] > 0.5
