"""Attribution graphs on the tiny run: scripts/attribution_graph.py writes the graph the outside
checks read (circuit-tracer's layout with our scores), the graph stage grades a few positions
beside its controls and renders its report section, and bad input (transcoders of another
model, a ply past the game's end, a target that is not a move) is one error line with nothing
written."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import run_in_process

from othello.corpora.corpus import GamesFile
from othello.world.squares import parse_square, square_name
from othello.world.tokens import encode
from probes.graphs.replacement import Forward
from probes.graphs.survey import top_move
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


@pytest.fixture(scope="module")
def graphs_folder(tiny_run, tiny_transcoders, tiny_corpus, tmp_path_factory):
    """The graph stage on four positions of the tiny run, saved."""
    spec = registry.stage("graphs")
    model = load_run_model(tiny_run, "cpu")
    cfg = spec.configure("tiny", ["positions=4", "progress=false"])
    inputs = {"transcoders": TranscoderResult.load(tiny_transcoders)}
    folder = tmp_path_factory.mktemp("graphs") / "graphs"
    spec.measure(model, tiny_corpus, inputs, cfg).save(folder)
    return folder


def test_the_stage_grades_positions_beside_its_controls(graphs_folder, tiny_run):
    spec = registry.stage("graphs")
    assert spec.reads == ("transcoders",)
    metrics = json.loads((graphs_folder / "metrics.json").read_text())
    grading = metrics["grading"]
    assert metrics["warnings"] == []  # four positions asked, four graded
    assert grading["positions"] == 4
    for key in ("flanking_share", "control_share", "shuffled_share", "random_init_share"):
        assert grading[key]["n"] >= 3 and 0 <= grading[key]["mean"] <= 1
    layers = sum(grading["by_layer"][layer]["mean"] for layer in grading["by_layer"])
    assert layers == pytest.approx(grading["flanking_share"]["mean"], abs=1e-9)
    example = json.loads((graphs_folder / "examples" / "graph-0.json").read_text())
    record = json.loads((graphs_folder / "records.json").read_text())[0]
    moves = [parse_square(m) for m in example["position"]["moves"]]
    forward = Forward.of(load_run_model(tiny_run, "cpu"), torch.as_tensor(encode(moves)))
    assert example["target"]["square"] == square_name(top_move(forward))  # the model's own
    assert example["scores"]["flanking_share"] == pytest.approx(record["flanking_share"])
    lines = stage_lines({"graphs": spec.load(graphs_folder).summary()}, in_report=False)
    assert lines[0] == "## How it computes a move"
    assert any(line.startswith("| MLP 1 |") for line in lines)


def test_the_explorer_graphs_any_move_on_request(graphs_folder, tiny_run, tiny_corpus,
                                                 tiny_probes):  # fmt: skip
    from probes.explorer.run import ExplorerRun
    from probes.explorer.server import create_app

    explorer = ExplorerRun.load(tiny_run, [tiny_corpus], tiny_probes, {"graphs": graphs_folder})
    client = create_app(explorer).test_client()
    info = client.get("/api/info").get_json()
    assert "graphs" in info["stages"] and "graph reads" in info["graphs"]["headline"]
    game, _ = first_test_game(tiny_corpus)
    top = client.get("/api/graph?game=0&ply=12").get_json()
    assert 0 <= top["scores"]["flanking_share"] <= 1 and len(top["top"]) > 0
    assert top["square"] in top["truth"]
    other = client.get("/api/graph?game=0&ply=12&square=0").get_json()  # A1: not the top move
    assert other["square"] == 0 and other["target"] == "logit A1"
    bad = client.get("/api/graph?game=0&ply=99")
    assert bad.status_code == 404 and "error" in bad.get_json()


def test_a_probe_reading_is_a_target_too(tiny_run, tiny_transcoders, tiny_corpus, tiny_probes,
                                         tmp_path):  # fmt: skip
    game, _ = first_test_game(tiny_corpus)
    out = tmp_path / "probe.json"
    args = graph_args(tiny_run, tiny_transcoders, tiny_corpus, game, 9, "C4", out)
    args[args.index("--move")] = "--probe"
    done = run_in_process("attribution_graph.py", *args, "--probes", tiny_probes)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["target"]["kind"] == "probe" and data["target"]["square"] == "C4"
    assert 0 < data["scores"]["completeness"] <= 1 and "flanking_share" not in data["scores"]
