"""The explorer's answers, one function each over a loaded :class:`ExplorerRun`: the games
list, the run's shape, a position read by the model and every probe, a hand edit, attention
patterns and latent saliency. Each checks its input first (:mod:`probes.explorer.inputs`),
runs the model under the run's lock and shapes its numbers for JSON last
(:mod:`probes.explorer.shape`)."""

from __future__ import annotations

import numpy as np
import torch

from othello.model.evaluate import square_probabilities
from othello.model.hooks import act_name
from othello.world.game import Game
from othello.world.squares import N_SQUARES, bitboard_squares, parse_square, square_name
from othello.world.tokens import encode
from probes.common import ProbeKey
from probes.explorer.inputs import (
    ExplorerError,
    check_block,
    check_head,
    check_kind,
    check_layer,
    check_ply,
    check_someone_moves,
    check_square,
    parse_moves,
    pick_file,
)
from probes.explorer.run import ExplorerRun
from probes.explorer.shape import nullable, rounded
from probes.interventions.cases import case_at, position_cases
from probes.interventions.run import edit_hooks, intervene, latent_saliency
from probes.interventions.scoring import topn_errors
from probes.schemes import scheme

READ_SCHEMES = ("mine_theirs", "flipped", "legal")  # what the page shows per layer


def warm_up(run: ExplorerRun) -> ExplorerRun:
    """Compile the engine's kernels and run the model once, so the first request is as fast
    as the rest."""
    game = parse_moves("F5 D6 C3")
    position(run, game, 2)
    intervention(run, game, 2, parse_square("D5"), None, run.layers[-1], 1.0)
    return run


def games_list(run: ExplorerRun, file: int = 0, offset: int = 0, limit: int = 100) -> dict:
    """Test-split games of a games file (every game when it has no test split)."""
    games = pick_file(run.games, file)
    rows = run.test_rows[file]
    if len(rows) == 0:
        rows = np.arange(games.n_games)
    chosen = rows[offset : offset + limit]
    lengths = games.length[chosen] if len(chosen) else []
    return {
        "file": file,
        "name": games.path.name,
        "total": int(len(rows)),
        "games": [{"game": int(g), "length": int(n)} for g, n in zip(chosen, lengths, strict=True)],
    }


def info(run: ExplorerRun) -> dict:
    """The run's shape, the probe kinds and editors it can use (from the registries), the
    default edit, the games files and what each loaded stage's view adds (the world-model
    verdict, ...)."""
    cfg = run.model.cfg
    fitted = {key.fitted for key in run.probes}
    answer = {
        "layers": run.layers,
        "kind": cfg.kind,
        "heads": getattr(cfg, "n_heads", None),  # None: a model without attention heads
        "n_layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "methods": run.edits.kinds(),
        "editors": run.edits.usable(),
        "defaults": run.defaults,
        "files": [g.path.name for g in run.games],
        "schemes": [s for s in READ_SCHEMES if ProbeKey(s, "linear") in fitted],
        "stages": list(run.views),
    }
    for view in run.views.values():
        answer.update(view.info())
    return answer


def position(run: ExplorerRun, game: Game, ply: int, kind: str = "linear") -> dict:
    """The engine's board and legal moves, the model's next-move probabilities and every
    layer's probe readings (probes of ``kind``), at one position."""
    check_ply(game, ply)
    check_kind({key.kind for key in run.probes}, kind)
    labels = game.labels
    truth = {
        "mine_theirs": labels.board_relative()[0, ply],
        "flipped": labels.flipped_squares()[0, ply].astype(np.int8),
        "legal": labels.legal_squares()[0, ply].astype(np.int8),
    }
    tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
    with run.lock, torch.inference_mode():
        logits, cache = run.model.run_with_cache(tokens, list(run.hooks.values()))
    legal = np.flatnonzero(truth["legal"]).tolist()
    readings = {
        str(layer): _readings(run, cache[hook][0, ply], hook, truth, kind)
        for layer, hook in run.hooks.items()
    }
    player = int(labels.next_player[0, ply])
    answer = {
        "game": game.label,
        "ply": ply,
        "moves": [square_name(int(m)) for m in game.moves[: game.length]],
        "last_move": square_name(int(game.moves[ply])),
        "board": labels.board_colour()[0, ply].tolist(),
        "board_relative": truth["mine_theirs"].tolist(),
        "to_move": {0: "black", 1: "white"}.get(player),
        "legal": legal,
        "predictions": rounded(square_probabilities(logits[0, ply])),
        "top_n_errors": int(topn_errors(logits[0, ply][None], legal_bits(legal))[0]),
        "probes": {
            layer: r["mine_theirs"]["reading"]
            for layer, r in readings.items()
            if "mine_theirs" in r
        },
        "probe_readings": readings,
        "kind": kind,
    }
    for view in run.views.values():
        answer.update(view.at_position(cache, ply))
    return answer


def _readings(run: ExplorerRun, x: torch.Tensor, hook: str, truth: dict, kind: str) -> dict:
    """Each shown scheme's probe reading at one hook, against the engine's ``truth``."""
    out = {}
    for name in READ_SCHEMES:
        probe = run.probes.get(ProbeKey(name, kind, hook))
        if probe is None:
            continue
        with torch.inference_mode():
            p = probe(x.float()[None])[0].softmax(-1)  # [64, C]
        reading = p.argmax(-1).numpy()
        wrong = np.flatnonzero(reading != truth[name])
        out[name] = {
            "classes": list(scheme(name).classes),
            "reading": reading.tolist(),
            "confidence": rounded(p.max(-1).values, 4),
            "wrong": wrong.tolist(),
            "accuracy": round(1 - len(wrong) / N_SQUARES, 4),
        }
    return out


def intervention(
    run: ExplorerRun, game: Game, ply: int, square: int, method=None, layer=None, scale=None
) -> dict:
    """Flip the disc on ``square`` in the model's board (from ``layer`` on) and compare the
    model's next-move predictions with the engine's legal moves of the edited board."""
    check_ply(game, ply)
    check_square(square)
    method, layer = method_layer(run, method, layer)
    try:
        case = case_at(game.moves[None], np.array([game.length], np.int8), 0, ply, square)
    except ValueError as exc:
        raise ExplorerError(str(exc).replace("game 0", game.label)) from None
    edit, setting = run.edits.make(method, scale)
    hooks = edit_hooks(run.hooks, layer, later_layers=True)
    with run.lock:
        before = intervene(run.model, case, [], None)[0]
        after = intervene(run.model, case, hooks, edit)[0]
    board = game.labels.board_relative()[0, ply]
    edited = board.copy()
    edited[square] = 3 - edited[square]
    return {
        "square": square,
        "method": method,
        "layer": layer,
        "setting": setting,
        "board_relative": board.tolist(),
        "edited_board_relative": edited.tolist(),
        "legal_before": bitboard_squares(case.legal_before[0]),
        "legal_after": bitboard_squares(case.legal_after[0]),
        "predictions_before": rounded(square_probabilities(before)),
        "predictions_after": rounded(square_probabilities(after)),
        "errors_before": int(topn_errors(before[None], case.legal_before)[0]),
        "errors_after": int(topn_errors(after[None], case.legal_after)[0]),
    }


def method_layer(run: ExplorerRun, method: str | None, layer: int | None) -> tuple[str, int]:
    """The edit's method and start layer: the defaults where not given, checked."""
    method = method or run.defaults["method"]
    layer = run.defaults["layer"] if layer is None else layer
    check_layer(run.hooks, layer)
    return method, layer


def attention(run: ExplorerRun, game: Game, ply: int, layer: int, head: int | None = None) -> dict:
    """Every head's attention pattern (or head ``head``'s) over positions 0..ply of one
    block."""
    check_ply(game, ply)
    check_block(run.model.cfg, layer)
    check_head(run.model, head)
    tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
    hook = act_name("pattern", layer)
    with run.lock, torch.inference_mode():
        _, cache = run.model.run_with_cache(tokens, [hook])
    patterns = cache[hook][0] if head is None else cache[hook][0, head : head + 1]
    return {
        "layer": layer,
        "moves": [square_name(int(m)) for m in game.moves[: ply + 1]],
        "heads": [[rounded(row, 4) for row in pattern] for pattern in patterns],
    }


def saliency(run: ExplorerRun, game: Game, ply: int, method=None, layer=None, scale=None) -> dict:
    """Li et al.'s latent saliency of the predicted move: how much flipping each disc in the
    model's board lowers its probability (null where there is no disc to flip)."""
    check_ply(game, ply)
    method, layer = method_layer(run, method, layer)
    edit, setting = run.edits.make(method, scale)
    check_someone_moves(game, ply)
    cases = position_cases(game.moves, game.length, ply)
    with run.lock:
        result = latent_saliency(run.model, cases, edit_hooks(run.hooks, layer, True), edit)
    result["saliency"] = nullable(result["saliency"], 5)
    return {**result, "method": method, "layer": layer, "setting": setting}


def legal_bits(squares: list[int]) -> np.ndarray:
    """A legal-move list as the one-row bitboard the scoring takes."""
    return np.array([sum(1 << s for s in squares)], dtype=np.uint64)
