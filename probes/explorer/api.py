"""What the explorer computes: one position of one game, read by the model and every probe,
edited by hand, attended to and attributed. Plain dicts in, plain dicts out, so the page, a
notebook (through the JSON API) and the tests call the same functions.

A position is ``ply`` T of a game: the board after move T (0-based), which the model has read
as moves 0..T, as in ``acts.h5``. Squares are indices 0..63 (A1 = 0, H8 = 63). Bad input
raises :class:`ExplorerError` with an HTTP status and a reason naming the game, ply, square,
layer or head. Nothing here writes a file.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from othello.checkpoint import file_sha256, load_model, model_file
from othello.corpus import GamesFile
from othello.errors import UserError
from othello.labels import replay
from othello.model import resid_layer
from othello.squares import MAX_MOVES, N_SQUARES, parse_square, square_name
from othello.tokens import PLAYABLE_SQUARES, encode
from probes.interventions.cases import Cases, flip_disc, position_cases
from probes.interventions.editors import editor
from probes.interventions.edits import intervene, latent_saliency, topn_errors
from probes.interventions.sweep import edit_hooks
from probes.sae.model import load_sae
from probes.sae.plots import property_name
from probes.schemes import scheme
from probes.store import load_probes

N_POSITIONS = MAX_MOVES - 1
READ_SCHEMES = ("mine_theirs", "flipped", "legal")  # what the page shows per layer


class ExplorerError(ValueError):
    """Bad input from the page or the API: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Game:
    moves: np.ndarray  # int8 [60], padded with -1
    length: int
    label: str  # how the page names it


def parse_moves(text: str) -> Game:
    """A typed move list ("F5 D6 C3" or "f5,d6,c3"), checked move by move with the engine."""
    names = [x for x in text.replace(",", " ").split() if x]
    if not names or len(names) > MAX_MOVES:
        raise ExplorerError(f"a move list needs 1 to {MAX_MOVES} moves, got {len(names)}")
    moves = np.full(MAX_MOVES, -1, np.int8)
    for ply, name in enumerate(names):
        try:
            moves[ply] = parse_square(name)
        except ValueError:
            raise ExplorerError(f"move {ply + 1} ({name!r}) is not a square like F5") from None
    labels = replay(moves[None], np.array([len(names)], np.int8))
    if not labels.valid[0]:
        ply = int(labels.error[0])
        raise ExplorerError(f"move {ply + 1} ({names[ply].upper()}) is illegal at ply {ply}")
    return Game(moves, len(names), "typed moves")


class Explorer:
    """A run's model, its probes and games files, ready to answer one position at a time.

    ``defaults`` (method, start layer, setting) come from an intervention sweep's choices
    (``interventions/details.json``) when given, else a linear edit at the mine/theirs probe's
    best layer. The model is shared, so requests are served one at a time (a lock).
    """

    def __init__(
        self,
        run: str | os.PathLike,
        games: list[str | os.PathLike],
        probe_dir: str | os.PathLike,
        interventions: str | os.PathLike | None = None,
        sae: str | os.PathLike | None = None,
    ) -> None:
        path = model_file(run)
        self.probe_dir = Path(probe_dir)
        self.model = load_model(path)
        self.probes, meta = load_probes(probe_dir, model_sha256=file_sha256(path))
        self.hooks = {resid_layer(h): h for h in meta["hooks"]}
        self.layers = sorted(self.hooks)
        self.games = [GamesFile(p) for p in games]
        self.test_rows = [g.split_indices("test") for g in self.games]
        self.defaults = self._defaults(Path(probe_dir), interventions)
        self.sae = SAEView(sae, self.hooks) if sae is not None else None
        self.lock = threading.Lock()
        self._warm_up()

    def _warm_up(self) -> None:
        """Compile the engine's kernels and run the model once, so the first request is as
        fast as the rest."""
        game = parse_moves("F5 D6 C3")
        self.position(game, 2)
        self.intervene(game, 2, parse_square("D5"), "linear", self.layers[-1], 1.0)

    def _defaults(self, probe_dir: Path, interventions) -> dict:
        """The headline edit of an intervention sweep (method and start layer chosen on its
        tuning cases, and the linear scale it chose there), else a linear edit at scale 2
        from the mine/theirs probe's best layer."""
        if interventions is None:
            best = json.loads((probe_dir / "metrics.json").read_text())["best"]
            layer = int(best["mine_theirs/linear"]["layer"])
            return {"method": "linear", "layer": layer, "scale": 2.0, "chosen_on": "default"}
        folder = Path(interventions)
        choice = json.loads((folder / "details.json").read_text())["choice"]
        metrics = json.loads((folder / "metrics.json").read_text())
        head = choice["headline"]
        scale = 2.0
        if "linear" in choice["by_method"]:
            scale = metrics["linear"][choice["by_method"]["linear"]["start_layer"]]["scale"]
        return {"method": head["method"], "layer": int(head["start_layer"]), "scale": scale,
                "chosen_on": "the sweep's tuning cases"}  # fmt: skip

    # --- inputs -------------------------------------------------------------------------

    def game(self, game: int | None = None, file: int = 0, moves: str | None = None) -> Game:
        if moves:
            return parse_moves(moves)
        if game is None:
            raise ExplorerError("say which game: game=I (a row of the games file) or moves=...")
        if not 0 <= file < len(self.games):
            raise ExplorerError(f"file {file} is out of range (0..{len(self.games) - 1})", 404)
        games = self.games[file]
        if not 0 <= game < games.n_games:
            raise ExplorerError(
                f"game {game} is out of range: {games.path.name} holds {games.n_games:,}", 404
            )
        row, length = games.read(game, game + 1)
        return Game(row[0], int(length[0]), f"{games.path.name} game {game}")

    def check_ply(self, game: Game, ply: int) -> None:
        last = min(game.length, N_POSITIONS) - 1
        if not 0 <= ply <= last:
            raise ExplorerError(f"{game.label}: ply {ply} is out of range (0..{last})", 404)

    def check_layer(self, layer: int) -> str:
        if layer not in self.hooks:
            raise ExplorerError(
                f"layer {layer} is out of range: the probes cover layers "
                f"{self.layers[0]}..{self.layers[-1]}"
            )
        return self.hooks[layer]

    # --- answers ------------------------------------------------------------------------

    def games_list(self, file: int = 0, offset: int = 0, limit: int = 100) -> dict:
        """Test-split games of a games file (every game when it has no test split)."""
        if not 0 <= file < len(self.games):
            raise ExplorerError(f"file {file} is out of range (0..{len(self.games) - 1})", 404)
        rows = self.test_rows[file]
        if len(rows) == 0:
            rows = np.arange(self.games[file].n_games)
        chosen = rows[offset : offset + limit]
        lengths = self.games[file].length[chosen] if len(chosen) else []
        return {
            "file": file,
            "name": self.games[file].path.name,
            "total": int(len(rows)),
            "games": [
                {"game": int(g), "length": int(n)} for g, n in zip(chosen, lengths, strict=True)
            ],
        }

    def info(self) -> dict:
        cfg = self.model.cfg
        return {
            "layers": self.layers,
            "heads": cfg.n_heads,
            "n_layers": cfg.n_layers,
            "d_model": cfg.d_model,
            "methods": sorted({k.split("/")[1] for k in self.probes} & {"linear", "mlp"}),
            "editors": ["linear", "gradient"],
            "defaults": self.defaults,
            "files": [g.path.name for g in self.games],
            "schemes": [
                s for s in READ_SCHEMES if any(k.startswith(f"{s}/linear/") for k in self.probes)
            ],
        }

    def position(self, game: Game, ply: int) -> dict:
        """The engine's board and legal moves, the model's next-move probabilities and every
        layer's probe readings, at one position."""
        self.check_ply(game, ply)
        labels = replay(game.moves[None], np.array([game.length], np.int8))
        truth = {
            "mine_theirs": labels.board_relative()[0, ply],
            "flipped": labels.flipped_squares()[0, ply].astype(np.int8),
            "legal": labels.legal_squares()[0, ply].astype(np.int8),
        }
        tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
        with self.lock, torch.inference_mode():
            logits, cache = self.model.run_with_cache(tokens, list(self.hooks.values()))
        next_logits = logits[0, ply]
        legal = np.flatnonzero(truth["legal"]).tolist()
        readings = {
            str(layer): self._readings(cache[hook][0, ply], hook, truth)
            for layer, hook in self.hooks.items()
        }
        player = int(labels.next_player[0, ply])
        sae = self.sae.features(cache, ply) if self.sae is not None else None
        return {
            "sae_features": sae,
            "game": game.label,
            "ply": ply,
            "moves": [square_name(int(m)) for m in game.moves[: game.length]],
            "last_move": square_name(int(game.moves[ply])),
            "board": labels.board_colour()[0, ply].tolist(),
            "board_relative": truth["mine_theirs"].tolist(),
            "to_move": {0: "black", 1: "white"}.get(player),
            "legal": legal,
            "predictions": square_probabilities(next_logits),
            "top_n_errors": int(topn_errors(next_logits[None], _bitboard(legal))[0]),
            "probes": {
                layer: r["mine_theirs"]["reading"]
                for layer, r in readings.items()
                if "mine_theirs" in r
            },
            "probe_readings": readings,
        }

    def _readings(self, x: torch.Tensor, hook: str, truth: dict) -> dict:
        out = {}
        for name in READ_SCHEMES:
            probe = self.probes.get(f"{name}/linear/{hook}")
            if probe is None:
                continue
            with torch.inference_mode():
                p = probe(x.float()[None])[0].softmax(-1)  # [64, C]
            reading = p.argmax(-1).numpy()
            wrong = np.flatnonzero(reading != truth[name])
            out[name] = {
                "classes": list(scheme(name).classes),
                "reading": reading.tolist(),
                "confidence": [round(float(v), 4) for v in p.max(-1).values],
                "wrong": wrong.tolist(),
                "accuracy": round(1 - len(wrong) / N_SQUARES, 4),
            }
        return out

    def intervene(
        self,
        game: Game,
        ply: int,
        square: int,
        method: str | None = None,
        layer: int | None = None,
        scale: float | None = None,
    ) -> dict:
        """Flip the disc on ``square`` in the model's board (from ``layer`` on) and compare the
        model's next-move predictions with the engine's legal moves of the edited board."""
        self.check_ply(game, ply)
        if not 0 <= square < N_SQUARES:
            raise ExplorerError(f"square {square} is outside 0..63")
        method = method or self.defaults["method"]
        layer = self.defaults["layer"] if layer is None else layer
        self.check_layer(layer)
        case = self._case(game, ply, square)
        edit, setting = self._editor(method, scale)
        hooks = edit_hooks(self.hooks, layer, later_layers=True)
        with self.lock:
            before = intervene(self.model, case, [], None)[0]
            after = intervene(self.model, case, hooks, edit)[0]
        board = replay(game.moves[None], np.array([game.length], np.int8)).board_relative()[0, ply]
        edited = board.copy()
        edited[square] = 3 - edited[square]
        legal_before, legal_after = _squares(case.legal_before[0]), _squares(case.legal_after[0])
        return {
            "square": square,
            "method": method,
            "layer": layer,
            "setting": setting,
            "board_relative": board.tolist(),
            "edited_board_relative": edited.tolist(),
            "legal_before": legal_before,
            "legal_after": legal_after,
            "predictions_before": square_probabilities(before),
            "predictions_after": square_probabilities(after),
            "errors_before": int(topn_errors(before[None], case.legal_before)[0]),
            "errors_after": int(topn_errors(after[None], case.legal_after)[0]),
        }

    def _case(self, game: Game, ply: int, square: int) -> Cases:
        labels = replay(game.moves[None], np.array([game.length], np.int8))
        player = int(labels.next_player[0, ply])
        if player < 0:
            raise ExplorerError(f"{game.label}: nobody is to move after ply {ply}")
        mine = int(labels.white[0, ply] if player == 1 else labels.black[0, ply])
        theirs = int(labels.black[0, ply] if player == 1 else labels.white[0, ply])
        try:
            current, before, after = flip_disc(mine, theirs, square)
        except ValueError as exc:
            raise ExplorerError(f"{game.label} ply {ply}: {exc}") from None
        one = np.zeros(1, np.int64)
        return Cases(
            game.moves[None], np.array([game.length], np.int8), one + ply, one + square,
            one + current, np.array([before], np.uint64), np.array([after], np.uint64), one,
        )  # fmt: skip

    def _editor(self, method: str, scale: float | None):
        """The edit function and its label: linear at ``scale`` (default: the sweep's), or
        gradient along the MLP probe (the linear one where no MLP probes were fitted)."""
        if method not in ("linear", "gradient"):
            raise ExplorerError(f"unknown method {method!r}; choose linear or gradient")
        spec = editor(method)
        if method == "linear":
            candidate = {"scale": float(self.defaults["scale"] if scale is None else scale)}
        else:
            candidate = spec.candidates(spec.settings())[0]
            if f"mine_theirs/mlp/{self.hooks[self.layers[0]]}" not in self.probes:
                candidate["probe"] = "linear"
        kind = "linear" if method == "linear" else candidate["probe"]
        probes = {h: self.probes[f"mine_theirs/{kind}/{h}"] for h in self.hooks.values()}
        return spec.build(probes, candidate), spec.describe(candidate)

    def attention(self, game: Game, ply: int, layer: int) -> dict:
        """Every head's attention pattern over positions 0..ply of one block."""
        self.check_ply(game, ply)
        if not 0 <= layer < self.model.cfg.n_layers:
            raise ExplorerError(
                f"layer {layer} is out of range: blocks 0..{self.model.cfg.n_layers - 1}"
            )
        tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
        hook = f"blocks.{layer}.attn.hook_pattern"
        with self.lock, torch.inference_mode():
            _, cache = self.model.run_with_cache(tokens, [hook])
        pattern = cache[hook][0]  # [head, query, key]
        return {
            "layer": layer,
            "moves": [square_name(int(m)) for m in game.moves[: ply + 1]],
            "heads": [[[round(float(v), 4) for v in row] for row in head] for head in pattern],
        }

    def saliency(self, game: Game, ply: int, method=None, layer=None, scale=None) -> dict:
        """Li et al.'s latent saliency of the predicted move: how much flipping each disc in
        the model's board lowers its probability."""
        self.check_ply(game, ply)
        method = method or self.defaults["method"]
        layer = self.defaults["layer"] if layer is None else layer
        self.check_layer(layer)
        edit, setting = self._editor(method, scale)
        labels = replay(game.moves[None], np.array([game.length], np.int8))
        if int(labels.next_player[0, ply]) < 0:
            raise ExplorerError(f"{game.label}: nobody is to move after ply {ply}")
        cases = position_cases(game.moves, game.length, ply)
        with self.lock:
            result = latent_saliency(self.model, cases, edit_hooks(self.hooks, layer, True), edit)
        result["saliency"] = [
            None if np.isnan(v) else round(float(v), 5) for v in result["saliency"]
        ]
        return {**result, "method": method, "layer": layer, "setting": setting}


class SAEView:
    """An SAE folder (train_sae.py) read alongside the probes: the features active at a
    position, strongest first, each with the board property it best matches."""

    def __init__(self, folder: str | os.PathLike, hooks: dict[int, str]) -> None:
        self.sae, cfg = load_sae(folder)
        self.hook = cfg["metadata"]["hook_name"]
        if self.hook not in hooks.values():
            raise UserError(f"{folder}: the SAE reads {self.hook}, which the probes do not cover")
        board = json.loads((Path(folder) / "details.json").read_text())["board"]["mine_theirs"]
        self.match, self.match_f1 = board["feature_match"], board["feature_match_f1"]
        self.layer = resid_layer(self.hook)

    def features(self, cache: dict, ply: int, top: int = 8) -> dict:
        with torch.inference_mode():
            acts = self.sae.encode(cache[self.hook][0, ply].float())
        values, index = acts.topk(top)
        return {
            "layer": self.layer,
            "active": int((acts > 0).sum()),
            "top": [
                {
                    "feature": int(f),
                    "activation": round(float(v), 4),
                    "match": property_name("mine_theirs", self.match[int(f)])[0],
                    "match_f1": self.match_f1[int(f)],
                }
                for v, f in zip(values, index, strict=True)
                if v > 0
            ],
        }


def square_probabilities(logits: torch.Tensor) -> list[float]:
    """64 probabilities of the next move from logits over the 61 tokens (0 on the centre)."""
    p = logits.float().softmax(-1)[1:]
    out = np.zeros(N_SQUARES)
    out[PLAYABLE_SQUARES] = p.numpy()
    return [round(float(v), 5) for v in out]


def _bitboard(squares: list[int]) -> np.ndarray:
    return np.array([sum(1 << s for s in squares)], dtype=np.uint64)


def _squares(bitboard) -> list[int]:
    return [s for s in range(N_SQUARES) if int(bitboard) >> s & 1]
