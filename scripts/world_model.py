"""Is it a world model? The field's tests side by side: Myhill-Nerode compression and
distinction (true state and Vafa et al.'s board-only state), whole-board probe accuracy,
inductive-bias probes, neuron simulation and attribution patching, with controls.

    python scripts/world_model.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR --out DIR
        [--interventions DIR] [--preset tiny] [key=value ...]
    python scripts/world_model.py --engine --games PATH.h5 --out DIR     # the engine itself

Settings are WorldModelConfig's fields (probes/worldmodel/stage.py): ``game_samples=10000``,
``parts=nerode,whole_board``, ``nerode.trials=1000``, ``nerode.suffix_samples=30``,
``inductive.n_tasks=6``, ``simulation.layers=2,3``, ``controls=false``, ... Every figure is on
held-out test games; a legal_set model's accept threshold is chosen on validation games. The
control's probes are read beside PROBE_DIR (RUN/control/probes). Writes DIR/metrics.json. A
missing file, or probes of another model, end with one error line and nothing written.
"""

from __future__ import annotations

from othello.common import cli
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("worldmodel", __doc__)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", help="run directory holding model.pt")
    who.add_argument("--engine", action="store_true", help="test the rules engine itself")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--probes", help="probe folder fitted on this model")
    parser.add_argument("--interventions", help="intervention stage folder, for the verdict")
    args = parser.parse_intermixed_args(argv)
    inputs = {"probes": args.probes, "interventions": args.interventions}
    job = job_from_args("worldmodel", args, args.run, args.games, inputs)
    run_job("worldmodel", job)


if __name__ == "__main__":
    cli.main(run)
