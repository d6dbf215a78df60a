"""Attribution graphs on the tiny run: scripts/attribution_graph.py writes the graph the outside
checks read (circuit-tracer's layout with our scores), the graph stage grades a few positions
beside its controls and renders its report section, and bad input (transcoders of another
model, a ply past the game's end, a target that is not a move) is one error line with nothing
written."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run_in_process

from othello.corpora.corpus import GamesFile
from probes.report.markdown import stage_lines
from probes.stage_spec import load_run_model
from probes.stages import registry
from probes.transcoders import TranscoderResult


def first_test_game(games) -> tuple[int, int]:
    with GamesFile(games) as g:
        row = int(g.select("test", 1)[0])
        return row, int(g.game(row).length)


def graph_args(run, transcoders, games, game, ply, move, out):
    return ["--run", run, "--transcoders", transcoders, "--games", games, "--game", game,
            "--ply", ply, "--move", move, "--out", out]  # fmt: skip


def test_the_script_writes_the_graph_with_its_scores(tiny_run, tiny_transcoders, tiny_corpus,
                                                     tmp_path):  # fmt: skip
    from probes.graphs.api import Position, games_prefix

    game, _ = first_test_game(tiny_corpus)
    position = Position.of(games_prefix(tiny_corpus, game), 9)
    move = ["ABCDEFGH"[s % 8] + str(s // 8 + 1) for s in position.legal][0]
    out = tmp_path / "graph.json"
    done = run_in_process(
        "attribution_graph.py",
        *graph_args(tiny_run, tiny_transcoders, tiny_corpus, game, 9, move, out),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    scores = data["scores"]
    assert 0 < scores["replacement"] <= 1 and 0 < scores["completeness"] <= 1
    assert 0 <= scores["flanking_share"] <= 1 and 0 <= scores["control_share"] <= 1
    assert {"nodes", "links", "metadata", "qParams"} <= set(data)
    assert data["target"]["square"] == move and move in data["position"]["truth"]
    assert out.with_suffix(".png").stat().st_size > 5_000


@pytest.mark.parametrize("case", ["other model", "past the end", "not a move"])
def test_bad_input_is_one_error_line_and_nothing_written(case, tiny_run, tiny_transcoders,
                                                         tiny_corpus, tmp_path):  # fmt: skip
    game, length = first_test_game(tiny_corpus)
    transcoders, ply, move = tiny_transcoders, 5, "C4"
    if case == "other model":
        transcoders = tmp_path / "other"
        shutil.copytree(tiny_transcoders, transcoders)
        metrics = json.loads((transcoders / "metrics.json").read_text())
        metrics["model_sha256"] = "0" * 64
        (transcoders / "metrics.json").write_text(json.dumps(metrics))
    elif case == "past the end":
        ply = length
    else:
        move = "D4"
    out = tmp_path / "graph.json"
    done = run_in_process(
        "attribution_graph.py",
        *graph_args(tiny_run, transcoders, tiny_corpus, game, ply, move, out),
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    said = {"other model": "another model", "past the end": "outside", "not a move": "not a move"}
    assert said[case] in lines[0]
    assert not out.exists() and not out.with_suffix(".png").exists()


def test_the_stage_grades_positions_beside_its_controls(tiny_run, tiny_transcoders,
                                                        tiny_corpus, tmp_path):  # fmt: skip
    spec = registry.stage("graphs")
    assert spec.reads == ("transcoders",)
    model = load_run_model(tiny_run, "cpu")
    cfg = spec.configure("tiny", ["positions=4", "progress=false"])
    result = spec.measure(model, tiny_corpus, {"transcoders": TranscoderResult.load(
        tiny_transcoders)}, cfg)  # fmt: skip
    result.save(tmp_path / "graphs")
    grading = json.loads((tmp_path / "graphs" / "metrics.json").read_text())["grading"]
    assert grading["positions"] == 4
    for key in ("flanking_share", "control_share", "shuffled_share", "random_init_share"):
        assert grading[key]["n"] >= 3 and 0 <= grading[key]["mean"] <= 1
    layers = sum(grading["by_layer"][layer]["mean"] for layer in grading["by_layer"])
    assert layers == pytest.approx(grading["flanking_share"]["mean"], abs=1e-9)
    assert (tmp_path / "graphs" / "examples" / "graph-0.json").exists()
    lines = stage_lines({"graphs": spec.load(tmp_path / "graphs").summary()}, in_report=False)
    assert lines[0] == "## How it computes a move"
    assert any(line.startswith("| MLP 1 |") for line in lines)
