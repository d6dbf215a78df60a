"""The explorer's web server: the page at ``/`` and the JSON API under ``/api``.

Flask handles routing, query parsing and JSON responses (and gives the tests a client that
needs no socket); every route is one entry of :data:`ROUTES`, an answer of
:mod:`probes.explorer.answers` (or :mod:`probes.explorer.circuits`) on the loaded run. Bad
input of any kind (an unknown game, an illegal typed move, an empty square to flip, a layer or
head out of range, a malformed parameter) is answered with a 4xx JSON ``{"error": reason}``;
the server keeps serving.

API (GET with query parameters; ``intervene`` also takes POST with a JSON object). A game is
``game=I`` (row I of games file ``file=K``, default 0) or ``moves=F5,D6,...`` (typed, checked
by the engine); a position is ``ply=T``, the board after move T (0-based):

* ``/api/info``: layers, heads, editors, the default edit (from the tuned sweep), files, the
  stages loaded (``stages``) and what their views add (``world_model``: the verdict).
* ``/api/games?file=K&offset=0&limit=100``: the test-split games of a file.
* ``/api/position?game=I&ply=T``: ``board`` (64: 0 empty, 1 black, 2 white),
  ``board_relative`` (0 empty, 1 mine, 2 theirs), ``to_move``, ``legal`` (squares),
  ``predictions`` (64 next-move probabilities), ``top_n_errors``, ``probes`` ({layer: 64
  mine/theirs readings}) and ``probe_readings`` ({layer: {scheme: reading, confidence, wrong,
  accuracy}}; ``kind=K`` reads the probes of kind K, default linear), and what the loaded
  stages' views add (with an SAE, ``sae_features``: its strongest active features and the
  board property each best matches).
* ``/api/intervene?game=I&ply=T&square=S[&method=linear|gradient&layer=L&scale=X]``: the
  edited board, its legal moves and the model's predictions before and after the edit.
* ``/api/attention?game=I&ply=T&layer=L[&head=H]``: attention patterns of block L.
* ``/api/saliency?game=I&ply=T[&method&layer&scale]``: Li et al.'s latent saliency map.
* ``/api/neuron?game=I&ply=T&layer=L&neuron=N``: a neuron's page (activation along the game,
  rule and R^2 with ``--circuits``, probe-direction maps, logit effects, top test positions);
  ``/api/neurons?game=I&ply=T``: the neurons most active at the position;
  ``/api/attribution?game=I&ply=T``: the predicted move's direct logit attribution;
  ``/api/patching?game=I&ply=T``: patching against a one-move-different game
  (:mod:`probes.explorer.circuits`).
* ``/api/graph?game=I&ply=T[&square=S]``: with ``--graphs DIR``, the attribution graph of move
  S (default: the model's top move): scores, the rules' squares, the top features and labels.
"""

from __future__ import annotations

import functools
from importlib import resources

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from probes.explorer import answers, circuits
from probes.explorer.inputs import ExplorerError, pick_game
from probes.explorer.run import ExplorerRun


class Params:
    """A request's parameters (query string, or a POSTed JSON object), typed on reading."""

    def __init__(self) -> None:
        body = request.get_json(silent=True) if request.method == "POST" else None
        if request.method == "POST" and not isinstance(body, dict):
            raise ExplorerError("the body must be a JSON object")
        self.values = {k: str(v) for k, v in (body or request.args).items()}

    def text(self, name: str) -> str | None:
        return self.values.get(name) or None

    def number(self, name: str, kind=int, required: bool = False):
        value = self.values.get(name, "")
        if value == "":
            if required:
                raise ExplorerError(f"missing parameter {name}")
            return None
        try:
            return kind(value)
        except ValueError:
            raise ExplorerError(f"{name}={value!r} is not {kind.__name__}") from None

    def game(self, run: ExplorerRun):
        return pick_game(
            run.games, self.number("game"), self.number("file") or 0, self.text("moves")
        )

    def edit(self) -> tuple[str | None, int | None, float | None]:
        """The edit an intervention or a saliency map uses: method, start layer, scale
        (each None: the sweep's choice)."""
        return self.text("method"), self.number("layer"), self.number("scale", float)


def games(e: ExplorerRun, p: Params) -> dict:
    limit = min(p.number("limit") or 100, 1000)
    return answers.games_list(e, p.number("file") or 0, p.number("offset") or 0, limit)


def position(e: ExplorerRun, p: Params) -> dict:
    ply, kind = p.number("ply", required=True), p.text("kind") or "linear"
    return answers.position(e, p.game(e), ply, kind)


def intervene(e: ExplorerRun, p: Params) -> dict:
    square = p.number("square", required=True)
    return answers.intervention(e, p.game(e), p.number("ply", required=True), square, *p.edit())


def attention(e: ExplorerRun, p: Params) -> dict:
    layer = p.number("layer", required=True)
    return answers.attention(e, p.game(e), p.number("ply", required=True), layer, p.number("head"))


def saliency(e: ExplorerRun, p: Params) -> dict:
    return answers.saliency(e, p.game(e), p.number("ply", required=True), *p.edit())


# path -> (what answers it, the HTTP methods it takes): every route of the explorer
ROUTES = {
    "/api/info": (lambda e, p: answers.info(e), ["GET"]),
    "/api/games": (games, ["GET"]),
    "/api/position": (position, ["GET"]),
    "/api/intervene": (intervene, ["GET", "POST"]),
    "/api/attention": (attention, ["GET"]),
    "/api/saliency": (saliency, ["GET"]),
    "/api/neuron": (circuits.neuron_route, ["GET"]),
    "/api/neurons": (circuits.active_route, ["GET"]),
    "/api/attribution": (circuits.attribution_route, ["GET"]),
    "/api/patching": (circuits.patching_route, ["GET"]),
    "/api/graph": (circuits.graph_route, ["GET"]),
}


def create_app(explorer: ExplorerRun) -> Flask:
    """The Flask app serving ``explorer``: the page, every route of :data:`ROUTES` as JSON,
    and a 4xx JSON ``{"error": reason}`` for any bad input."""
    app = Flask(__name__)
    page = resources.files("probes.explorer").joinpath("page.html").read_text()
    app.add_url_rule("/", "index", lambda: Response(page, mimetype="text/html"))
    for path, (answer, methods) in ROUTES.items():
        view = functools.partial(_answer, explorer, answer)
        app.add_url_rule(path, path, view, methods=methods)

    @app.errorhandler(ExplorerError)
    def bad_input(exc: ExplorerError):
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description), exc.code

    return app


def _answer(explorer: ExplorerRun, answer) -> Response:
    return jsonify(answer(explorer, Params()))


def serve(explorer: ExplorerRun, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve until interrupted, one request at a time (the model is shared)."""
    create_app(explorer).run(host=host, port=port, threaded=False, use_reloader=False)
