"""The explorer's circuit views: a neuron's page, the neurons most active at a position, the
logit attribution of the current prediction, and patching against a one-move-different game.

Everything about weights (a neuron's probe-direction maps, its logit effects) and about the
current game (its activation along the game, the attribution, the patching) is computed on
request from the model and the probes; what needs a pass over many games (the neuron's rule,
its R^2, its top-activating test positions) comes from a finished circuits folder
(``scripts/circuits.py``, ``--circuits DIR``) when one is given. The answers are plain dicts.
Route functions at the end take the explorer and a request's parameters, as
:data:`probes.explorer.server.ROUTES` wants them.
"""

from __future__ import annotations

import numpy as np
import torch

from othello.model.evaluate import square_scores
from othello.model.hooked import HookedModel
from othello.model.hooks import act_name
from othello.model.kinds import HEADS, NEURONS
from othello.world.game import Game
from othello.world.labels import replay
from othello.world.squares import square_name
from othello.world.tokens import decode, encode
from probes.circuits.attribution import attribution_hooks, logit_parts, part_names
from probes.circuits.directions import probe_directions
from probes.circuits.neurons import logit_effects, promoted_and_suppressed, weight_maps
from probes.circuits.patching import corrupt_at, patch_maps, patch_task
from probes.circuits.positions import GameBatch
from probes.circuits.view import CircuitsFolder
from probes.explorer.inputs import ExplorerError, check_block, check_part, check_ply
from probes.explorer.shape import nullable
from probes.fit import Probes


class CircuitsView:
    """A model, its probes' directions and (optionally) a circuits folder, answering one
    neuron, position or prediction at a time."""

    def __init__(self, model: HookedModel, probes: Probes, folder: CircuitsFolder | None) -> None:
        self.model = model
        self.directions = probe_directions(probes)
        self.folder = folder or CircuitsFolder()
        self._maps: dict[int, tuple[dict, np.ndarray]] = {}

    def check_neuron(self, layer: int, neuron: int) -> None:
        cfg = self.model.cfg
        check_part(self.model, NEURONS, "a neuron's view")
        check_block(cfg, layer)
        if not 0 <= neuron < cfg.mlp_width:
            raise ExplorerError(f"neuron {neuron} is out of range (0..{cfg.mlp_width - 1})")

    def layer_maps(self, layer: int) -> tuple[dict, np.ndarray]:
        """The layer's probe-direction maps and logit effects, computed once."""
        if layer not in self._maps:
            with torch.inference_mode():
                maps = weight_maps(self.model, layer, self.directions.get(layer, {}))
                self._maps[layer] = (maps, logit_effects(self.model, layer))
        return self._maps[layer]

    def activations(self, game: Game, layers: list[int] | None = None) -> dict[int, np.ndarray]:
        """Each neuron's activation along the game at ``layers`` (all when None):
        {layer: [positions, neurons]}."""
        n = min(game.length, 59)
        tokens = torch.as_tensor(encode(game.moves[None, :n]))
        layers = range(self.model.cfg.n_layers) if layers is None else layers
        hooks = {layer: act_name("post", layer) for layer in layers}
        with torch.inference_mode():
            _, cache = self.model.run_with_cache(tokens, list(hooks.values()))
        return {layer: cache[h][0].float().numpy() for layer, h in hooks.items()}

    def neuron(self, game: Game, ply: int, layer: int, neuron: int) -> dict:
        """One neuron's page: its activation along the game, its rule and R^2 (from the
        circuits folder), its probe-direction maps and logit effects, its top test positions."""
        check_ply(game, ply)
        self.check_neuron(layer, neuron)
        acts = self.activations(game, [layer])[layer][:, neuron]
        maps, effects = self.layer_maps(layer)
        record = self.folder.records.get((layer, neuron))
        promotes, suppresses = promoted_and_suppressed(effects[neuron])
        return {
            "layer": layer,
            "neuron": neuron,
            "ply": ply,
            "activation": nullable(acts),
            "rule": record["rule"] if record else None,
            "r2_test": record["r2_test"] if record else None,
            "depth": record["depth"] if record else None,
            "controls": record["controls"] if record else None,
            "maps": {m: nullable(v[neuron]) for m, v in maps.items()},
            "logit_effect": nullable(effects[neuron]),
            "promotes": promotes,
            "suppresses": suppresses,
            "top_positions": self.folder.top_positions(layer, neuron),
            "note": None
            if record
            else "no circuits folder covers this neuron: run "
            "scripts/circuits.py and start the explorer with --circuits DIR for its rule",
        }

    def active(self, game: Game, ply: int, top: int = 12) -> dict:
        """The neurons most active at this position (every layer), with their rules."""
        check_part(self.model, NEURONS, "the most active neurons")
        check_ply(game, ply)
        acts = self.activations(game)
        flat = [(float(a[ply, n]), layer, int(n)) for layer, a in acts.items()
                for n in np.argsort(-a[ply])[:top]]  # fmt: skip
        flat.sort(reverse=True)
        out = []
        for value, layer, n in flat[:top]:
            record = self.folder.records.get((layer, n))
            out.append({"layer": layer, "neuron": n, "activation": round(value, 4),
                        "rule": record["rule"] if record else None,
                        "r2_test": record["r2_test"] if record else None})  # fmt: skip
        return {"ply": ply, "neurons": out}

    def attribution(self, game: Game, ply: int) -> dict:
        """The current prediction's direct logit attribution: each part's share of the top
        move's logit (the parts sum to it)."""
        check_part(self.model, HEADS, "direct logit attribution")
        check_ply(game, ply)
        tokens = torch.as_tensor(encode(game.moves[None, : ply + 1]))
        with torch.inference_mode():
            logits, cache = self.model.run_with_cache(tokens, attribution_hooks(self.model))
            parts = logit_parts(self.model, cache)[0, ply]  # [parts, vocab]
        scores = square_scores(logits[0, ply].float(), -torch.inf)
        square = int(scores.argmax())
        token = int(encode(np.array([square]))[0])
        values = parts[:, token].double()
        names = part_names(self.model)
        return {
            "ply": ply,
            "predicted": square_name(square),
            "logit": round(float(logits[0, ply, token]), 5),
            "parts": [
                {"part": n, "value": round(float(v), 5)} for n, v in zip(names, values, strict=True)
            ],
            "sum": round(float(values.sum()), 5),
        }

    def patching(self, game: Game, ply: int, follow: int = 3, seed: int = 0) -> dict:
        """Patching at this position against a game one move different ``follow`` moves
        earlier (or fewer, when no such game exists): share restored by layer x position and
        layer x head (:mod:`probes.circuits.patching`)."""
        check_ply(game, ply)
        found = find_pair(self.model, game, ply, follow, seed)
        if found is None:
            raise ExplorerError(f"{game.label}: no one-move-different game ends at ply {ply} "
                                "with another top move; try another position", 404)  # fmt: skip
        task, pairs, f = found
        with torch.inference_mode():
            maps = patch_maps(self.model, task, f)
        p = int(pairs.ply[0])
        return {
            **maps,
            "ply": ply,
            "differs_at": p,
            "clean_move": square_name(int(pairs.clean[0, p])),
            "corrupted_move": square_name(int(pairs.corrupt[0, p])),
            "clean_top": square_name(int(_square(task.good[0]))),
            "corrupted_top": square_name(int(_square(task.bad[0]))),
        }


def find_pair(model: HookedModel, game: Game, ply: int, follow: int, seed: int, tries: int = 6):
    """The pair, among ``tries`` random other moves ``follow``, ``follow - 1``, ... 0
    moves back (all tried in one batch), that differs earliest and whose top moves at
    ``ply`` differ; None when there is none."""
    depths = np.repeat(np.arange(min(follow, ply - 1), -1, -1), tries)
    if len(depths) == 0:
        return None
    n = len(depths)
    moves = np.repeat(game.moves[None].astype(np.int8), n, axis=0)
    length = np.full(n, game.length)
    batch = GameBatch.of(np.arange(n), moves, length)
    pairs = corrupt_at(batch, ply - depths, depths, np.random.default_rng(seed))
    if len(pairs) == 0:
        return None
    with torch.inference_mode():
        task, keep = patch_task(model, pairs, limit=1)  # the first whose tops differ
    if not keep.any():
        return None
    first = pairs.select(np.flatnonzero(keep)[:1])
    return task, first, int(first.end[0] - first.ply[0])


def _square(token: torch.Tensor) -> int:
    return int(decode(np.array([int(token)]))[0])


def boards_at(games, rows: list[int], plies: list[int]) -> list[list[int]]:
    """The mine/theirs board at each (games-file row, ply): the top positions' pictures."""
    if not rows:
        return []
    unique, back = np.unique(np.asarray(rows), return_inverse=True)
    boards = replay(games.moves[unique], games.length[unique]).board_relative()
    return [boards[i, t].tolist() for i, t in zip(back, plies, strict=True)]


# --- routes: (explorer, params) -> answer, as probes.explorer.server.ROUTES wants them --------


def neuron_route(e, p) -> dict:
    layer, neuron = p.number("layer", required=True), p.number("neuron", required=True)
    with e.lock:
        answer = e.circuits.neuron(p.game(e), p.number("ply", required=True), layer, neuron)
    if not e.circuits.folder.same_games(e.games[0]):
        answer["top_positions"] = []  # rows of another games file than the page's first
    top = answer["top_positions"]
    boards = boards_at(e.games[0], [t["game"] for t in top], [t["ply"] for t in top])
    for t, board in zip(top, boards, strict=True):
        t["board_relative"] = board
    return answer


def active_route(e, p) -> dict:
    with e.lock:
        return e.circuits.active(p.game(e), p.number("ply", required=True), p.number("top") or 12)


def attribution_route(e, p) -> dict:
    with e.lock:
        return e.circuits.attribution(p.game(e), p.number("ply", required=True))


def graph_route(e, p) -> dict:
    """``/api/graph?game=I&ply=T[&square=S]``: the attribution graph of move S (the model's
    top move without one), through the graph stage's transcoders (``--graphs DIR``)."""
    view = e.views.get("graphs")
    if view is None:
        raise ExplorerError("no graphs folder given (scripts/explore.py --graphs DIR)", 404)
    game, ply = p.game(e), p.number("ply", required=True)
    check_ply(game, ply)
    with e.lock:
        return view.graph(e.model, game.moves[: game.length], ply, p.number("square"))


def patching_route(e, p) -> dict:
    with e.lock:
        return e.circuits.patching(p.game(e), p.number("ply", required=True))
