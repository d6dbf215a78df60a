"""scripts/soundness.py on the tiny run: the figures and error list the outside checks read,
the engine's run (no error under any search), the stage's report section, and the refusals
(probes of another model, a budget of 0, games of another corpus) that write nothing."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run_in_process

from probes.report.markdown import stage_lines
from probes.stages import registry

SMALL = [
    "search.searches=12",
    "search.budgets=5,20,60",
    "held_out_games=10",
    "correct_positions=20",
    "coherence_trials=20",
    "suffix_samples=4",
]
SHARES = ("wrong_board_share", "fixed_by_true_board_share", "fixed_by_control_share")


@pytest.fixture(scope="module")
def measured(tiny_run, tiny_corpus, tiny_probes, tmp_path_factory):
    out = tmp_path_factory.mktemp("soundness") / "out"
    done = run_in_process("soundness.py", "--run", tiny_run, "--games", tiny_corpus, "--probes",
                          tiny_probes, "--out", out, "--no-progress", *SMALL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| model | beam |" in done.stdout and "wrong board" in done.stdout
    return out


def test_metrics_and_errors_hold_what_the_outside_checks_read(measured):
    metrics = json.loads((measured / "metrics.json").read_text())
    search = metrics["search"]
    for budget in ("5", "20", "60"):
        entry = search[budget]
        assert entry["searches"] == 12 and 0 <= entry["success_rate"] <= 1
        assert entry["errors_per_1000_calls"] >= 0
    assert search["20"]["success_rate"] <= search["60"]["success_rate"]
    assert "random" in search["baseline"] and search["baseline"]["corpus"]["positions"] > 100
    accept = metrics["search_accept"]
    assert accept["accept_rule"]["chosen_on"] and 0 <= accept["beam"]["60"]["success_rate"] <= 1
    errors = metrics["errors"]
    assert errors["n"] > 0
    for key in SHARES:
        assert 0 <= errors[key]["mean"] <= 1 and errors[key]["stderr"] >= 0
    listed = json.loads((measured / "errors.json").read_text())
    assert len(listed) == errors["n"]
    for entry in listed[:20]:
        assert entry["kind"] in ("wrong_board", "wrong_reading") and entry["ply"] >= 0
        assert len(entry["true_board"]) == 64 and len(entry["probed_board"]) == 64
        assert entry["ply"] == len(entry["moves"]) - 1 and len(entry["proposed"]) == 2
    assert all(v["success_rate"] == 0 for s in metrics["engine"].values()
               for k, v in s.items() if k.isdigit())  # fmt: skip


def test_the_engine_run_finds_nothing(tiny_corpus, tmp_path):
    out = tmp_path / "engine"
    done = run_in_process("soundness.py", "--engine", "--games", tiny_corpus, "--out", out,
                          "--no-progress", *SMALL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(metrics["search"][b]["success_rate"] == 0 for b in ("5", "20", "60"))
    assert metrics["errors"]["n"] == 0 and json.loads((out / "errors.json").read_text()) == []
    assert metrics["warnings"] == []


def test_fewer_held_out_games_than_asked_is_said(tiny_corpus, tmp_path):
    from othello.corpora.corpus import GamesFile

    with GamesFile(tiny_corpus) as g:
        held = len(g.split_indices("test"))
    out = tmp_path / "engine"
    done = run_in_process("soundness.py", "--engine", "--games", tiny_corpus, "--out", out,
                          "--no-progress", *SMALL, f"held_out_games={held + 1}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = f"only {held:,} held-out test games, {held + 1:,} asked"
    assert json.loads((out / "metrics.json").read_text())["warnings"] == [said]
    assert f"WARNING: {said}" in done.stdout


def test_the_stage_is_registered_and_its_section_renders(measured):
    spec = registry.stage("soundness")
    assert spec.reads == ("probes",) and "interventions" in spec.reads_if_present
    lines = stage_lines({"soundness": spec.load(measured).summary()}, in_report=False)
    assert lines[0] == "## Where it fails"
    assert any(line.startswith("| engine | beam |") for line in lines)


@pytest.mark.parametrize("case", ["other model", "budget 0", "other corpus"])
def test_bad_input_is_one_error_line_and_nothing_written(case, tiny_run, tiny_corpus,
                                                         tiny_probes, tmp_path):  # fmt: skip
    probes, games, settings = tiny_probes, tiny_corpus, list(SMALL)
    if case == "other model":
        import torch

        probes = tmp_path / "probes"
        shutil.copytree(tiny_probes, probes)
        saved = torch.load(probes / "probes.pt", weights_only=True)
        saved["meta"]["model_sha256"] = "0" * 64
        torch.save(saved, probes / "probes.pt")
    elif case == "budget 0":
        settings.append("search.budgets=0,10")
    else:
        games = tmp_path / "other.h5"
        shutil.copy(tiny_corpus, games)
        import h5py

        with h5py.File(games, "a") as f:
            f.attrs["note"] = "another corpus"
    out = tmp_path / "out"
    done = run_in_process("soundness.py", "--run", tiny_run, "--games", games, "--probes", probes,
                          "--out", out, "--no-progress", *settings)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    said = {"other model": "another model", "budget 0": "budgets", "other corpus": "another corpus"}
    assert said[case] in lines[0]
    assert not out.exists()


def test_the_explorer_lists_the_errors_and_loads_one(measured, tiny_run, tiny_corpus, tiny_probes):
    from probes.explorer.run import ExplorerRun
    from probes.explorer.server import create_app

    explorer = ExplorerRun.load(tiny_run, [tiny_corpus], tiny_probes, {"soundness": measured})
    client = create_app(explorer).test_client()
    listed = client.get("/api/info").get_json()["soundness"]
    assert listed["total"] > 0 and listed["errors"]
    error = listed["errors"][0]
    position = client.get(f"/api/position?moves={','.join(error['moves'])}&ply={error['ply']}")
    answer = position.get_json()
    assert position.status_code == 200 and answer["ply"] == error["ply"]
    predictions = answer["predictions"]
    top = max(range(64), key=lambda s: predictions[s])
    assert "ABCDEFGH"[top % 8] + str(top // 8 + 1) == error["proposed"]  # the model's own error


def test_the_verdict_gains_the_soundness_rows(measured):
    from probes.worldmodel.verdict import soundness_rows

    metrics = json.loads((measured / "metrics.json").read_text())
    rows = soundness_rows(metrics)
    assert [r["figure"].split(":")[0] for r in rows][0] == "beam search"
    assert rows[0]["model"] == metrics["search"]["60"]["success_rate"] and rows[0]["engine"] == 0
    assert rows[1]["model"] == metrics["errors"]["wrong_board_share"]["mean"]
    assert rows[2]["baseline"] == metrics["errors"]["fixed_by_control_share"]["mean"]
    assert soundness_rows(None) == []


def test_one_call_in_python(tiny_run, tiny_corpus, tiny_probes):
    import probes

    result = probes.soundness(tiny_run, tiny_corpus, tiny_probes, **{
        "search.searches": 6, "search.budgets": "5,20", "search.strategies": "greedy",
        "held_out_games": 5, "correct_positions": 5, "coherence_trials": 0})  # fmt: skip
    assert set(result.metrics["search"]["by_strategy"]) == {"greedy"}
    assert result.metrics["errors"]["n"] == len(result.errors) > 0


def test_make_compare_takes_its_rows(measured):
    spec = registry.stage("soundness")
    assert spec.compared
    rows = spec.compare_rows(json.loads((measured / "metrics.json").read_text()))
    first = rows["beam search: an illegal top move within 60 calls"]
    assert 0 <= first["model"] <= 1 and 0 <= first["random_init"] <= 1
    assert all(set(row) == {"model", "random_init"} for row in rows.values())
