"""A local page to step through games, see what every layer's probe reads, and flip discs.

    python scripts/explore.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR
        [--more-games championship.h5] [--interventions DIR] [--sae DIR] [--circuits DIR]
        [--worldmodel DIR] [--port 8050]

Serves the page at http://127.0.0.1:PORT/ and its JSON API under /api (see
probes/explorer/server.py and the README). Every registered stage (probes.stages) may be given
its finished folder (--NAME DIR), which the page then shows: the interventions' headline edit
is the default edit, the circuits' neuron rules, an SAE's active features, the world-model
verdict. Nothing is written to the run directory.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from probes.explorer.api import open_explorer
from probes.explorer.server import serve
from probes.stages.registry import ordered


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--games", required=True, help="games.h5 (its test split is listed)")
    parser.add_argument("--more-games", action="append", default=[], help="more games files")
    parser.add_argument("--probes", required=True, help="probe directory from fit_probes.py")
    for spec in ordered():
        if spec.name != "probes":
            parser.add_argument(f"--{spec.name}", help=f"a finished {spec.name} folder")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1: this machine only")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args(argv)
    games = [args.games, *args.more_games]
    stages = {s.name: getattr(args, s.name) for s in ordered() if s.name != "probes"}
    explorer = open_explorer(args.run, games, args.probes, stages)
    print(f"explorer: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    serve(explorer, args.host, args.port)


if __name__ == "__main__":
    cli.main(run)
