from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # several workers share the cores: one thread each (and in the scripts they start), or
    # OpenMP's spinning threads fight each other and every test runs several times slower
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
SHARED_PGN = TESTS.parent.parent / "shared" / "data" / "championship-pgn"
sys.path.insert(0, str(TESTS))  # the scalar reference lives beside the tests


def run_script(*command: object, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python COMMAND...`` (a script path, or ``-m module``) as a user would run it: a
    fresh interpreter in the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, *map(str, command)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=TESTS.parent,
    )


def run_in_process(script: str, *args: object) -> subprocess.CompletedProcess:
    """``scripts/SCRIPT`` run in this interpreter (its ``run`` through ``cli.main``, as its
    ``__main__`` does): the same output and exit status as :func:`run_script`, without a
    fresh interpreter's seconds of imports. For the tests of refusals and error lines."""
    import contextlib
    import importlib.util
    import io

    from othello.common import cli

    path = TESTS.parent / "scripts" / script
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(module.run, [str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(
        [script, *map(str, args)], code, out.getvalue(), err.getvalue()
    )


REFUSALS = ("no run", "no games", "another model", "bad setting")


def check_stage_refuses(script, case, run, games, probes, tmp, setting, bad_setting) -> None:
    """A stage script given a missing run or games file, another model's probes (the run's
    random-init control) or ``bad_setting``: one ``error:`` line, exit 1, nothing written."""
    from othello.model.checkpoint import control_model

    args = {"--run": run, "--games": games, "--probes": probes}
    if case == "no run":
        args["--run"] = tmp / "nowhere"
    elif case == "no games":
        args["--games"] = tmp / "missing.h5"
    elif case == "another model":
        args["--run"] = control_model(run).parent
    out = tmp / "out"
    flat = [str(x) for pair in args.items() for x in pair]
    chosen = bad_setting if case == "bad setting" else setting
    done = run_in_process(script, *flat, "--out", out, "--no-progress", chosen)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert not out.exists()


def pgn_with_illegal_second_game(folder: Path) -> Path:
    """``folder/games.pgn``: a legal game, then one whose third move (A1) is illegal."""
    from othello.corpora.pgn import format_pgn
    from othello.world.squares import parse_square

    legal = format_pgn([parse_square(s) for s in ("F5", "D6", "C3")], {"Event": "a"})
    illegal = format_pgn([parse_square(s) for s in ("F5", "D6", "A1")], {"Event": "b"})
    path = folder / "games.pgn"
    path.write_text(legal + "\n" + illegal)
    return path


@pytest.fixture(scope="session")
def random_games() -> tuple[np.ndarray, np.ndarray]:
    """20,000 games from the compiled generator (seed 123)."""
    from othello.corpora.generate import make_chunk

    moves, length, _ = make_chunk(123, 0, 20_000, 0.0, 0.0)
    return moves, length


def shared(tmp_path_factory, worker_id: str, name: str, make: Callable[[Path], Path]) -> Path:
    """``make(folder)``'s result, made once per test session even when pytest-xdist runs it
    in several workers: the first worker makes it under a lock, the others wait and reuse
    it (so the tiny model is trained once per session, whatever ``-n``)."""
    if worker_id == "master":  # one process: a folder of its own
        return make(tmp_path_factory.mktemp(name))
    folder = tmp_path_factory.getbasetemp().parent / name  # shared by this session's workers
    with FileLock(str(folder) + ".lock"):
        done = folder / "made"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            done.write_text(str(make(folder)))
    return Path(done.read_text())


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, worker_id) -> Path:
    """20,000 games (seed 11) with 5% validation and 5% test games."""
    from othello.corpora.generate import generate_corpus

    def make(folder: Path) -> Path:
        return generate_corpus(
            folder / "games.h5", 20_000, seed=11, val_fraction=0.05, test_fraction=0.05,
            progress=False,
        )  # fmt: skip

    return shared(tmp_path_factory, worker_id, "corpus", make)


@pytest.fixture(scope="session")
def tiny_run(tiny_corpus, tmp_path_factory, worker_id) -> Path:
    """A run directory with a briefly trained ``tiny`` model (2 layers, d_model 64)."""
    from othello.training.config import preset
    from othello.training.train import train

    def make(folder: Path) -> Path:
        cfg = preset("tiny", ["max_steps=200", "eval_every=1000"])
        train(cfg, tiny_corpus, folder / "tiny", progress=False)
        return folder / "tiny"

    return shared(tmp_path_factory, worker_id, "run", make)


@pytest.fixture(scope="session")
def tiny_probes(tiny_run, tiny_corpus, tmp_path_factory, worker_id) -> Path:
    """Linear mine/theirs and legal probes at every layer of the tiny model (150 games)."""
    from probes.acts.writer import write_cache
    from probes.fit import FitConfig
    from probes.probe_stage import run_probe_stage

    def make(folder: Path) -> Path:
        acts = write_cache(tiny_run, tiny_corpus, folder / "acts.h5", n_games=150, progress=False)
        fit = FitConfig(probes=("mine_theirs/linear", "legal/linear"), epochs=1, min_steps=50,
                        allow_small=True)  # fmt: skip
        run_probe_stage(acts, folder / "probes", fit, False)
        return folder / "probes"

    return shared(tmp_path_factory, worker_id, "probes", make)


@pytest.fixture(scope="session")
def tiny_transcoders(tiny_run, tiny_corpus, tmp_path_factory, worker_id) -> Path:
    """A finished transcoder stage folder of the tiny model and its control (60 games, one
    epoch, 128 features a layer), made by scripts/transcoders.py."""

    def make(folder: Path) -> Path:
        out = folder / "transcoders"
        small = ["games=60", "spliced_games=6", "transcoder.epochs=1", "transcoder.expansion=2"]
        args = ["--run", tiny_run, "--games", tiny_corpus, "--out", out, "--preset", "tiny"]
        done = run_in_process("transcoders.py", *args, "--no-progress", *small)
        assert done.returncode == 0, done.stderr
        assert "| MLP layer |" in done.stdout and "Every MLP replaced at once" in done.stdout
        return out

    return shared(tmp_path_factory, worker_id, "transcoders", make)


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """pytest-xdist's worker name ("gw0", ...), or "master" without xdist."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


# tests that take the longest go first, so two workers share them out evenly
HEAVY = ("test_gpu_runbook.py", "test_pipeline.py", "test_analyze.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark tests that need a trained model (``model``: the tiny session model, or one they
    train) and put the heaviest first."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "tiny_run" in fixtures or item.get_closest_marker("trains"):
            item.add_marker(pytest.mark.model)
    items.sort(key=lambda item: not any(h in item.nodeid for h in HEAVY))
