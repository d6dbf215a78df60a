"""scripts/world_model.py on the engine, and refusals (bad paths, probes of another model, a
bad setting) that write nothing; the tiny model's whole metrics.json is checked after the
smoke run (tests/integration/test_pipeline.py, make worldmodel)."""

from __future__ import annotations

import json

import pytest
from conftest import REFUSALS, check_stage_refuses, run_in_process

SMALL = ["game_samples=200", "val_games=40", "nerode.trials=16", "nerode.suffix_samples=4"]
NERODE = ("compression_precision", "distinction_precision", "distinction_recall")


def world_model(*args) -> tuple[dict, str]:
    done = run_in_process("world_model.py", *args, "--no-progress", *SMALL)
    assert done.returncode == 0, done.stderr
    out = args[args.index("--out") + 1]
    return json.loads((out / "metrics.json").read_text()), done.stdout


@pytest.fixture(scope="module")
def engine(tiny_corpus, tmp_path_factory):
    """The engine's own world-model folder, its metrics.json and the script's output."""
    out = tmp_path_factory.mktemp("engine") / "worldmodel"
    m, stdout = world_model("--engine", "--games", tiny_corpus, "--out", out)
    return out, m, stdout


def test_the_engine_scores_one(engine):
    _, m, stdout = engine
    for state in ("board_and_mover", "board_only"):
        assert all(m["state"][state][k]["mean"] == 1.0 for k in NERODE)
    assert m["subject"]["kind"] == "engine" and "inductive_bias" in m["not_run"]
    assert "| figure | model | random-init | engine |" in stdout


def test_the_explorer_serves_the_verdict(tiny_run, tiny_corpus, tiny_probes, engine):
    from probes.explorer.api import open_explorer
    from probes.explorer.server import create_app

    explorer = open_explorer(tiny_run, [tiny_corpus], tiny_probes, {"worldmodel": engine[0]})
    info = create_app(explorer).test_client().get("/api/info").json
    assert info["world_model"]["subject"] == "engine"
    assert info["world_model"]["verdict"] == engine[1]["verdict"]
    page = create_app(explorer).test_client().get("/").get_data(as_text=True)
    assert "drawVerdict" in page


@pytest.mark.parametrize("case", REFUSALS)
def test_world_model_refuses_and_writes_nothing(case, tiny_run, tiny_corpus, tiny_probes, tmp_path):
    check_stage_refuses(
        "world_model.py",
        case,
        tiny_run,
        tiny_corpus,
        tiny_probes,
        tmp_path,
        "parts=nerode",
        "nerode.trials=x",
    )


def test_fewer_games_than_asked_are_refused_or_said(tiny_corpus, tmp_path):
    asked = ["--engine", "--games", tiny_corpus, "--no-progress", *SMALL, "game_samples=5000"]
    refused = run_in_process("world_model.py", *asked, "--out", tmp_path / "no")
    assert refused.returncode == 1 and "5,000 asked" in refused.stderr
    assert not (tmp_path / "no").exists()
    done = run_in_process("world_model.py", *asked, "allow_fewer=true", "--out", tmp_path / "ok")
    m = json.loads((tmp_path / "ok" / "metrics.json").read_text())
    assert m["warnings"] == [
        f"only {m['games']['test_games']:,} test games, 5,000 asked (allow_fewer)"
    ]
    assert "WARNING: only" in done.stdout
