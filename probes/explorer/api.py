"""What the explorer computes: one position of one game, read by the model and every probe,
edited by hand, attended to and attributed. Plain dicts in, plain dicts out, so the page, a
notebook (through the JSON API) and the tests call the same functions.

A position is ``ply`` T of a game: the board after move T (0-based), which the model has read
as moves 0..T, as in ``acts.h5``. Squares are indices 0..63 (A1 = 0, H8 = 63). Probe kinds and
editors are whatever the registries hold (a kind registered in a notebook shows up here). Bad
input raises :class:`probes.explorer.inputs.ExplorerError` with an HTTP status and a reason
naming the game, ply, square, layer or head. Nothing here writes a file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import torch

from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import file_sha256, load_model, model_file
from othello.model.evaluate import square_probabilities
from othello.model.hooks import act_name, hooks_by_layer
from othello.world.game import Game
from othello.world.squares import N_SQUARES, bitboard_squares, parse_square, square_name
from othello.world.tokens import encode
from probes.common import ProbeKey
from probes.explorer.circuits import CircuitsView
from probes.explorer.edits import EditMaker, default_edit
from probes.explorer.inputs import ExplorerError, check_ply, check_someone_moves, parse_moves
from probes.explorer.sae_view import SAEView
from probes.interventions.cases import case_at, position_cases
from probes.interventions.run import edit_hooks, intervene, latent_saliency
from probes.interventions.scoring import topn_errors
from probes.schemes import scheme
from probes.stage import ProbeMetrics
from probes.store import load_probes

READ_SCHEMES = ("mine_theirs", "flipped", "legal")  # what the page shows per layer


def rounded(values, digits: int = 5) -> list[float]:
    return [round(float(v), digits) for v in values]


class Explorer:
    """A run's model, its probes and games files, ready to answer one position at a time.

    The default edit (method, start layer, scale) comes from an intervention sweep's choices
    (``interventions``) when given, else the first registered editor at the mine/theirs probe's
    best layer. The model is shared, so requests are served one at a time (a lock).
    """

    def __init__(
        self,
        run: str | os.PathLike,
        games: list[str | os.PathLike],
        probe_dir: str | os.PathLike,
        interventions: str | os.PathLike | None = None,
        sae: str | os.PathLike | None = None,
        circuits: str | os.PathLike | None = None,
    ) -> None:
        path = model_file(run)
        self.probe_dir = Path(probe_dir)
        self.model = load_model(path)
        self.probes, meta = load_probes(probe_dir, model_sha256=file_sha256(path))
        self.hooks = hooks_by_layer(meta["hooks"])
        self.layers = list(self.hooks)
        self.games = [GamesFile(p) for p in games]
        self.test_rows = [g.split_indices("test") for g in self.games]
        self.defaults = default_edit(ProbeMetrics.load(probe_dir), interventions)
        self.edits = EditMaker(self.probes, list(self.hooks.values()), self.defaults["scale"])
        self.sae = SAEView(sae, self.hooks) if sae is not None else None
        self.circuits = CircuitsView(self.model, self.probes, circuits)  # neurons, patching
        self.lock = threading.Lock()
        self._warm_up()

    def _warm_up(self) -> None:
        """Compile the engine's kernels and run the model once, so the first request is as
        fast as the rest."""
        game = parse_moves("F5 D6 C3")
        self.position(game, 2)
        self.intervene(game, 2, parse_square("D5"), None, self.layers[-1], 1.0)

    # --- inputs -------------------------------------------------------------------------

    def game(self, game: int | None = None, file: int = 0, moves: str | None = None) -> Game:
        if moves:
            return parse_moves(moves)
        if game is None:
            raise ExplorerError("say which game: game=I (a row of the games file) or moves=...")
        games = self._file(file)
        if not 0 <= game < games.n_games:
            raise ExplorerError(
                f"game {game} is out of range: {games.path.name} holds {games.n_games:,}", 404
            )
        row, length = games.read(game, game + 1)
        return Game(row[0], int(length[0]), f"{games.path.name} game {game}")

    def _file(self, file: int) -> GamesFile:
        if not 0 <= file < len(self.games):
            raise ExplorerError(f"file {file} is out of range (0..{len(self.games) - 1})", 404)
        return self.games[file]

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
        games = self._file(file)
        rows = self.test_rows[file]
        if len(rows) == 0:
            rows = np.arange(games.n_games)
        chosen = rows[offset : offset + limit]
        lengths = games.length[chosen] if len(chosen) else []
        return {
            "file": file,
            "name": games.path.name,
            "total": int(len(rows)),
            "games": [
                {"game": int(g), "length": int(n)} for g, n in zip(chosen, lengths, strict=True)
            ],
        }

    def info(self) -> dict:
        """The run's shape, the probe kinds and editors it can use (from the registries), the
        default edit and the games files."""
        cfg = self.model.cfg
        fitted = {key.fitted for key in self.probes}
        return {
            "layers": self.layers,
            "heads": cfg.n_heads,
            "n_layers": cfg.n_layers,
            "d_model": cfg.d_model,
            "methods": self.edits.kinds(),
            "editors": self.edits.usable(),
            "defaults": self.defaults,
            "files": [g.path.name for g in self.games],
            "schemes": [s for s in READ_SCHEMES if ProbeKey(s, "linear") in fitted],
        }

    def position(self, game: Game, ply: int, kind: str = "linear") -> dict:
        """The engine's board and legal moves, the model's next-move probabilities and every
        layer's probe readings (probes of ``kind``), at one position."""
        check_ply(game, ply)
        fitted = sorted({key.kind for key in self.probes})
        if kind not in fitted:
            raise ExplorerError(f"no probes of kind {kind!r}; the run has {', '.join(fitted)}")
        labels = game.labels
        truth = {
            "mine_theirs": labels.board_relative()[0, ply],
            "flipped": labels.flipped_squares()[0, ply].astype(np.int8),
            "legal": labels.legal_squares()[0, ply].astype(np.int8),
        }
        tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
        with self.lock, torch.inference_mode():
            logits, cache = self.model.run_with_cache(tokens, list(self.hooks.values()))
        legal = np.flatnonzero(truth["legal"]).tolist()
        readings = {
            str(layer): self._readings(cache[hook][0, ply], hook, truth, kind)
            for layer, hook in self.hooks.items()
        }
        player = int(labels.next_player[0, ply])
        return {
            "sae_features": self.sae.features(cache, ply) if self.sae is not None else None,
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

    def _readings(self, x: torch.Tensor, hook: str, truth: dict, kind: str) -> dict:
        out = {}
        for name in READ_SCHEMES:
            probe = self.probes.get(ProbeKey(name, kind, hook))
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

    def intervene(self, game: Game, ply: int, square: int, method=None, layer=None, scale=None):
        """Flip the disc on ``square`` in the model's board (from ``layer`` on) and compare the
        model's next-move predictions with the engine's legal moves of the edited board."""
        check_ply(game, ply)
        if not 0 <= square < N_SQUARES:
            raise ExplorerError(f"square {square} is outside 0..63")
        method, layer = self._method_layer(method, layer)
        try:
            case = case_at(game.moves[None], np.array([game.length], np.int8), 0, ply, square)
        except ValueError as exc:
            raise ExplorerError(str(exc).replace("game 0", game.label)) from None
        edit, setting = self.edits.make(method, scale)
        hooks = edit_hooks(self.hooks, layer, later_layers=True)
        with self.lock:
            before = intervene(self.model, case, [], None)[0]
            after = intervene(self.model, case, hooks, edit)[0]
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

    def _method_layer(self, method: str | None, layer: int | None) -> tuple[str, int]:
        """The edit's method and start layer: the defaults where not given, checked."""
        method = method or self.defaults["method"]
        layer = self.defaults["layer"] if layer is None else layer
        self.check_layer(layer)
        return method, layer

    def attention(self, game: Game, ply: int, layer: int, head: int | None = None) -> dict:
        """Every head's attention pattern (or head ``head``'s) over positions 0..ply of one
        block."""
        check_ply(game, ply)
        cfg = self.model.cfg
        if not 0 <= layer < cfg.n_layers:
            raise ExplorerError(f"layer {layer} is out of range: blocks 0..{cfg.n_layers - 1}")
        if head is not None and not 0 <= head < cfg.n_heads:
            raise ExplorerError(f"head {head} is out of range (0..{cfg.n_heads - 1})")
        tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
        hook = act_name("pattern", layer)
        with self.lock, torch.inference_mode():
            _, cache = self.model.run_with_cache(tokens, [hook])
        patterns = cache[hook][0] if head is None else cache[hook][0, head : head + 1]
        return {
            "layer": layer,
            "moves": [square_name(int(m)) for m in game.moves[: ply + 1]],
            "heads": [[rounded(row, 4) for row in pattern] for pattern in patterns],
        }

    def saliency(self, game: Game, ply: int, method=None, layer=None, scale=None) -> dict:
        """Li et al.'s latent saliency of the predicted move: how much flipping each disc in
        the model's board lowers its probability."""
        check_ply(game, ply)
        method, layer = self._method_layer(method, layer)
        edit, setting = self.edits.make(method, scale)
        check_someone_moves(game, ply)
        cases = position_cases(game.moves, game.length, ply)
        with self.lock:
            result = latent_saliency(self.model, cases, edit_hooks(self.hooks, layer, True), edit)
        result["saliency"] = [
            None if np.isnan(v) else round(float(v), 5) for v in result["saliency"]
        ]
        return {**result, "method": method, "layer": layer, "setting": setting}


def legal_bits(squares: list[int]) -> np.ndarray:
    return np.array([sum(1 << s for s in squares)], dtype=np.uint64)
