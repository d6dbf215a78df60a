"""The explorer's computations and JSON API on the tiny model: every answer equals the engine
or the library computed independently, every bad input is a 4xx, nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import load_model_file
from othello.world.labels import replay
from othello.world.squares import parse_square
from othello.world.tokens import PLAYABLE_SQUARES, encode
from probes.acts.writer import write_cache
from probes.common import ProbeKey
from probes.explorer import answers
from probes.explorer.api import open_explorer
from probes.explorer.inputs import ExplorerError, parse_moves, pick_game
from probes.explorer.server import create_app
from probes.fit import FitConfig
from probes.interventions.cases import case_at, legal_moves_on_flip, position_cases
from probes.interventions.edits import linear_editor
from probes.interventions.run import edit_hooks, intervene, latent_saliency
from probes.probe_stage import run_probe_stage
from probes.sae.model import SAEConfig, load_sae
from probes.sae.stage import run_sae
from probes.store import load_probes


@pytest.fixture(scope="module")
def setup(tiny_run, tiny_corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explore")
    acts = write_cache(tiny_run, tiny_corpus, tmp / "acts.h5", n_games=200, progress=False)
    probes = ("mine_theirs/linear", "flipped/linear", "legal/linear", "mine_theirs/mlp")
    fit = FitConfig(probes=probes, epochs=1, min_steps=50)  # what they read, not how well
    run_probe_stage(acts, tmp / "probes", fit, False)
    before = snapshot(tiny_run)
    explorer = open_explorer(tiny_run, [tiny_corpus], tmp / "probes")
    with GamesFile(tiny_corpus) as games:
        game = int(games.split_indices("test")[0])
        moves, length = games.read(game, game + 1)
    return explorer, create_app(explorer).test_client(), game, moves[0], int(length[0]), before


def snapshot(folder) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def test_position_is_the_engine_the_model_and_the_probes(setup, tiny_run):
    explorer, client, game, moves, length, _ = setup
    ply = 20
    answer = client.get(f"/api/position?game={game}&ply={ply}").json
    labels = replay(moves[None], np.array([length], np.int8))
    assert answer["board"] == labels.board_colour()[0, ply].tolist()
    assert answer["legal"] == np.flatnonzero(labels.legal_squares()[0, ply]).tolist()
    model = load_model_file(tiny_run)
    logits = model(torch.as_tensor(encode(moves[None, : ply + 1])))[0, ply]
    expected = np.zeros(64)
    expected[PLAYABLE_SQUARES] = logits.softmax(-1)[1:].detach().numpy()
    np.testing.assert_allclose(answer["predictions"], expected, atol=1e-5)
    assert sum(answer["predictions"]) == pytest.approx(1, abs=1e-3)
    assert set(answer["probes"]) == {"0", "1", "2"} and len(answer["probes"]["2"]) == 64
    probes, _ = load_probes(explorer.probe_dir)
    hook = explorer.hooks[2]
    _, cache = model.run_with_cache(torch.as_tensor(encode(moves[None, : ply + 1])), [hook])
    probe = probes[ProbeKey("mine_theirs", "linear", hook)]
    reading = probe(cache[hook][0, ply][None])[0].argmax(-1)
    assert answer["probes"]["2"] == reading.tolist()
    read = answer["probe_readings"]["2"]["mine_theirs"]
    truth = labels.board_relative()[0, ply]
    assert read["wrong"] == np.flatnonzero(reading.numpy() != truth).tolist()
    assert read["accuracy"] == pytest.approx(1 - len(read["wrong"]) / 64, abs=1e-4)


def test_intervention_matches_the_engine_and_the_library(setup, tiny_run):
    explorer, client, game, moves, length, _ = setup
    ply = 15
    labels = replay(moves[None], np.array([length], np.int8))
    board = labels.board_relative()[0, ply]
    square = int(np.flatnonzero(board > 0)[0])
    answer = client.get(
        f"/api/intervene?game={game}&ply={ply}&square={square}&method=linear&layer=1&scale=3"
    ).json
    player = int(labels.next_player[0, ply])
    mine = int(labels.white[0, ply] if player else labels.black[0, ply])
    theirs = int(labels.black[0, ply] if player else labels.white[0, ply])
    _, before, after = legal_moves_on_flip(mine, theirs, square)
    assert answer["legal_before"] == [s for s in range(64) if before >> s & 1]
    assert answer["legal_after"] == [s for s in range(64) if after >> s & 1]
    assert answer["edited_board_relative"][square] == 3 - board[square]
    case = case_at(moves[None], np.array([length], np.int8), 0, ply, square)
    hooks = explorer.hooks.values()
    probes = {h: explorer.probes[ProbeKey("mine_theirs", "linear", h)] for h in hooks}
    logits = intervene(
        load_model_file(tiny_run),
        case,
        edit_hooks(explorer.hooks, 1, True),
        linear_editor(probes, 3.0),
    )[0]
    expected = np.zeros(64)
    expected[PLAYABLE_SQUARES] = logits.softmax(-1)[1:].numpy()
    np.testing.assert_allclose(answer["predictions_after"], expected, atol=1e-5)
    posted = client.post("/api/intervene", json={"game": game, "ply": ply, "square": square})
    assert posted.status_code == 200 and posted.json["method"] == "linear"  # the default edit
    gradient = client.get(f"/api/intervene?game={game}&ply={ply}&square={square}&method=gradient")
    assert gradient.status_code == 200 and gradient.json["setting"].startswith("mlp probe")


def test_typed_moves_attention_and_saliency(setup, tiny_run):
    explorer, client, *_ = setup
    answer = client.get("/api/position?moves=F5 D6 C3&ply=2").json
    assert answer["moves"] == ["F5", "D6", "C3"] and answer["to_move"] == "white"
    heads = client.get("/api/attention?moves=F5,D6,C3&ply=2&layer=1").json["heads"]
    model = load_model_file(tiny_run)
    moves = np.array([parse_square(s) for s in ("F5", "D6", "C3")] + [-1] * 57, np.int8)
    tokens = torch.as_tensor(encode(moves[None, :3]))
    _, cache = model.run_with_cache(tokens, ["blocks.1.attn.hook_pattern"])
    np.testing.assert_allclose(heads, cache["blocks.1.attn.hook_pattern"][0].numpy(), atol=1e-4)
    one = client.get("/api/attention?moves=F5,D6,C3&ply=2&layer=1&head=3").json["heads"]
    assert one == [heads[3]]
    saliency = client.get("/api/saliency?moves=F5,D6,C3&ply=2&method=linear").json
    layer, scale = explorer.defaults["layer"], explorer.defaults["scale"]
    assert saliency["layer"] == layer and saliency["setting"] == f"scale {scale:g}"
    hooks = explorer.hooks
    probes = {h: explorer.probes[ProbeKey("mine_theirs", "linear", h)] for h in hooks.values()}
    edit, edited = linear_editor(probes, scale), edit_hooks(hooks, layer, True)
    expected = latent_saliency(model, position_cases(moves, 3, 2), edited, edit)
    assert saliency["predicted_square"] == expected["predicted_square"]
    values = np.array([np.nan if v is None else v for v in saliency["saliency"]])
    np.testing.assert_allclose(values, expected["saliency"], atol=1e-5)  # NaN where empty


def test_info_and_the_games_list_say_what_the_run_holds(setup, tiny_corpus):
    explorer, client, *_ = setup
    info = client.get("/api/info").json
    assert info["layers"] == [0, 1, 2] and info["heads"] == 4 and info["n_layers"] == 2
    assert info["methods"] == ["linear", "mlp"] and info["editors"] == ["linear", "gradient"]
    assert info["schemes"] == ["mine_theirs", "flipped", "legal"]
    assert info["defaults"]["method"] == "linear" and info["defaults"]["chosen_on"] == "default"
    listed = client.get("/api/games?offset=2&limit=5").json
    with GamesFile(tiny_corpus) as games:
        rows = games.split_indices("test")
        assert listed["total"] == len(rows)
        assert [g["game"] for g in listed["games"]] == rows[2:7].tolist()
        assert [g["length"] for g in listed["games"]] == games.length[rows[2:7]].tolist()


@pytest.mark.parametrize(
    "url, status, reason",
    [
        ("/api/position?game=99999999&ply=3", 404, "game 99999999 is out of range"),
        ("/api/position?game={g}&ply=70", 404, "ply 70 is out of range"),
        ("/api/position?game={g}", 400, "missing parameter ply"),
        ("/api/position?game=abc&ply=1", 400, "game='abc' is not int"),
        ("/api/position?moves=F5,D6,A1&ply=1", 400, "move 3 (A1) is illegal at ply 2"),
        ("/api/position?moves=F5,Z9&ply=0", 400, "move 2 ('Z9') is not a square"),
        ("/api/intervene?game={g}&ply=3&square=0", 400, "square A1 is empty"),
        ("/api/intervene?game={g}&ply=3&square=99", 400, "square 99 is outside 0..63"),
        ("/api/intervene?game={g}&ply=3&square=27&layer=7", 400, "layer 7 is out of range"),
        ("/api/intervene?game={g}&ply=3&square=27&method=magic", 400, "unknown method 'magic'"),
        ("/api/attention?game={g}&ply=3&layer=5", 400, "layer 5 is out of range"),
        ("/api/attention?game={g}&ply=3&layer=0&head=4", 400, "head 4 is out of range"),
        ("/api/nothing", 404, "not found"),
    ],
)
def test_bad_input_is_a_4xx_with_the_reason(setup, url, status, reason):
    _, client, game, *_ = setup
    answer = client.get(url.format(g=game))
    assert answer.status_code == status and reason in answer.json["error"]
    assert client.get(f"/api/position?game={game}&ply=1").status_code == 200  # still serving


def test_a_malformed_post_and_nothing_written(setup, tiny_run):
    _, client, *_, before = setup
    answer = client.post("/api/intervene", data="[1, 2", content_type="application/json")
    assert answer.status_code == 400 and "JSON object" in answer.json["error"]
    page = client.get("/")
    assert page.status_code == 200 and b"<svg" not in page.data  # drawn by the page itself
    for outside in (b"src=", b"href=", b"url(", b"@import"):  # nothing fetched from elsewhere
        assert outside not in page.data
    assert snapshot(tiny_run) == before


def test_sae_features_at_a_position(setup, tiny_run, tiny_corpus):
    explorer, _, game, moves, length, _ = setup
    acts = explorer.probe_dir.parent / "acts.h5"
    folder = explorer.probe_dir.parent / "sae"
    cfg = SAEConfig(k=4, expansion=2, epochs=1)
    run_sae(acts, "1", folder, cfg, run=tiny_run, probe_dir=explorer.probe_dir, progress=False)
    with_sae = open_explorer(tiny_run, [tiny_corpus], explorer.probe_dir, {"sae": folder})
    answer = answers.position(with_sae, pick_game(with_sae.games, game, 0, None), 10)[
        "sae_features"
    ]
    sae, _ = load_sae(folder)
    model = load_model_file(tiny_run)
    hook = with_sae.hooks[1]
    _, cache = model.run_with_cache(torch.as_tensor(encode(moves[None, :11])), [hook])
    features = sae.encode(cache[hook][0, 10])
    assert answer["layer"] == 1 and answer["active"] == int((features > 0).sum()) <= 4
    strongest = features.argsort(descending=True)[: answer["active"]].tolist()
    assert [f["feature"] for f in answer["top"]] == strongest
    assert all(" " in f["match"] for f in answer["top"])  # "D4 mine", a named property


def test_parse_moves_accepts_either_separator():
    game = parse_moves("f5, d6 c3")
    assert game.length == 3 and game.moves[0] == parse_square("F5")
    with pytest.raises(ExplorerError, match="1 to 60 moves"):
        parse_moves("  ")
