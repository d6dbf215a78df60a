"""Is it a world model? The field's tests side by side: Myhill-Nerode compression and
distinction (true state and Vafa et al.'s board-only state), whole-board probe accuracy,
inductive-bias probes, neuron simulation and attribution patching, with controls.

    python scripts/world_model.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR --out DIR
        [--control-probes DIR] [--interventions DIR] [key=value ...]
    python scripts/world_model.py --engine --games PATH.h5 --out DIR     # the engine itself

Settings are WorldModelConfig's fields (probes/worldmodel/stage.py): ``game_samples=10000``,
``parts=nerode,whole_board``, ``nerode.trials=1000``, ``nerode.suffix_samples=30``,
``inductive.n_tasks=6``, ``simulation.layers=2,3``, ``controls=false``, ... Every figure is on
held-out test games; a legal_set model's accept threshold is chosen on validation games.
Writes DIR/metrics.json. A missing file, or probes of another model, end with one error line
and nothing written.
"""

from __future__ import annotations

import argparse

from othello.common import cli, settings
from probes.interventions.stage import InterventionResults
from probes.stage import ProbeMetrics
from probes.worldmodel.report import verdict_table
from probes.worldmodel.stage import WorldModelConfig, run_world_model


def extra_figures(args: argparse.Namespace) -> dict:
    """Figures of other stages the verdict sets beside these: the control's probes and the
    edit's share of the gap closed (the headline method, on the first reported case set)."""
    extra = {}
    if args.control_probes:
        extra["control_probes"] = ProbeMetrics.load(args.control_probes)
    if args.interventions:
        extra["edit_gap_closed"] = InterventionResults.load(args.interventions).gap_closed()
    return extra


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="settings (key=value):\n" + settings.describe(WorldModelConfig()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", help="run directory holding model.pt")
    who.add_argument("--engine", action="store_true", help="test the rules engine itself")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--probes", help="probe folder fitted on this model")
    parser.add_argument("--control-probes", help="probe folder of its random-init control")
    parser.add_argument("--interventions", help="intervention stage folder, for the verdict")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="WorldModelConfig overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    cfg = settings.apply_overrides(WorldModelConfig(), args.settings)
    if args.no_progress:
        cfg.quiet()
    result = run_world_model(args.run, args.games, args.probes, args.out, cfg, extra_figures(args))
    print("\n".join(verdict_table(result)))
    for warning in result["warnings"]:
        print(f"WARNING: {warning}")
    print(f"wrote {args.out}/metrics.json")


if __name__ == "__main__":
    cli.main(run)
