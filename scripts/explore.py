"""A local page to step through games, see what every layer's probe reads, and flip discs.

    python scripts/explore.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR
        [--more-games championship.h5] [--interventions DIR] [--sae DIR] [--circuits DIR]
        [--worldmodel DIR] [--port 8050]
    python scripts/explore.py --run RUN_DIR --games PATH.h5 --snapshot STEP --dynamics DIR

--snapshot STEP shows the run's weights at a training step it kept (snapshot_log) with the
probes the dynamics stage fitted on them (from --dynamics DIR unless --probes is given), so
the board the probes read at step 500 can be set beside the finished model's.
Serves the page at http://127.0.0.1:PORT/ and its JSON API under /api (see
probes/explorer/server.py and the README). Every registered stage (probes.stages) may be given
its finished folder (--NAME DIR), which the page then shows: the interventions' headline edit
is the default edit, the circuits' neuron rules, an SAE's active features, the world-model
verdict. Nothing is written to the run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from othello.common import cli
from othello.common.errors import UserError
from othello.model.run_dir import snapshot_dir
from probes.explorer.api import open_explorer
from probes.explorer.server import serve
from probes.formation.run import snapshot_probes
from probes.stages.registry import ordered


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (or model.pt)")
    parser.add_argument("--games", required=True, help="games.h5 (its test split is listed)")
    parser.add_argument("--more-games", action="append", default=[], help="more games files")
    parser.add_argument("--probes", help="probe directory fitted on this model")
    parser.add_argument("--snapshot", type=int, help="a training step the run kept")
    for spec in ordered():
        if spec.name != "probes":
            parser.add_argument(f"--{spec.name}", help=f"a finished {spec.name} folder")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1: this machine only")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args(argv)
    games = [args.games, *args.more_games]
    stages = {s.name: getattr(args, s.name) for s in ordered() if s.name != "probes"}
    run, probes = model_and_probes(args)
    explorer = open_explorer(run, games, probes, stages)
    print(f"explorer: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    serve(explorer, args.host, args.port)


def model_and_probes(args: argparse.Namespace) -> tuple[Path, Path]:
    """The run (or its snapshot) and the probes fitted on it."""
    if args.snapshot is None:
        if args.probes is None:
            raise UserError("--probes is needed (or --snapshot STEP with --dynamics DIR)")
        return Path(args.run), Path(args.probes)
    run = snapshot_dir(args.run, args.snapshot)
    if args.probes is None and args.dynamics is None:
        raise UserError("--snapshot needs --dynamics DIR (its probes) or --probes")
    return run, Path(args.probes or snapshot_probes(args.dynamics, args.snapshot))


if __name__ == "__main__":
    cli.main(run)
