"""A local page to step through games, see what every layer's probe reads, and flip discs.

    python scripts/explore.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR
        [--more-games championship.h5] [--interventions DIR] [--sae SAE_DIR] [--port 8050]

Serves the page at http://127.0.0.1:PORT/ and its JSON API under /api (see
probes/explorer/server.py and the README). --interventions takes the default edit (method,
start layer, scale) from that sweep's choices. Nothing is written to the run directory.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from probes.explorer.api import Explorer
from probes.explorer.server import serve


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--games", required=True, help="games.h5 (its test split is listed)")
    parser.add_argument("--more-games", action="append", default=[], help="more games files")
    parser.add_argument("--probes", required=True, help="probe directory from fit_probes.py")
    parser.add_argument("--interventions", help="intervene.py output: the default edit")
    parser.add_argument("--sae", help="an SAE folder (train_sae.py): its active features")
    parser.add_argument("--circuits", help="a circuits folder (circuits.py): neuron rules")
    parser.add_argument("--world-model", help="a world_model.py folder: the verdict table")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1: this machine only")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args(argv)
    games = [args.games, *args.more_games]
    explorer = Explorer(
        args.run, games, args.probes, args.interventions, args.sae, args.circuits, args.world_model
    )
    print(f"explorer: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    serve(explorer, args.host, args.port)


if __name__ == "__main__":
    cli.main(run)
