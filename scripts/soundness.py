"""Where does the model fail, and is its board to blame? Adversarial search and the board behind
every error.

    python scripts/soundness.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR --out DIR
        [--interventions DIR] [--preset tiny] [key=value ...]
    python scripts/soundness.py --engine --games PATH.h5 --out DIR     # the rules as the model

Searches (random legal games, greedy and beam search on the model's mass on illegal moves, and
one guided by the probe's wrong squares; an illegal top move, and as a second criterion any
illegal move the accept rule accepts) from the same random legal starts, each within a
budget of model calls (``search.budgets=50,100,200,500``, ``search.searches=1000``), beside the
held-out corpus's natural errors; every error (natural and found) classified by the probe's
board at it (wrong board: the proposed move is legal there; wrong reading: it is not), then
the model's board set to the truth where the probe reads it wrong (the intervention sweep's
headline edit: ``--interventions DIR``, else a small sweep on tuning cases) against as many
random other squares, and the same edit at right answers. ``--engine`` searches the rules
themselves (never fail: the known answer).

Writes DIR/metrics.json (``search``: per budget ``success_rate``, ``searches``,
``errors_per_1000_calls`` and ``baseline``; ``errors``: ``n``, ``wrong_board_share``,
``fixed_by_true_board_share``, ``fixed_by_control_share``, each ``{"mean", "stderr"}``),
DIR/errors.json (one entry per error: ``moves``, ``ply``, ``proposed``, ``kind``,
``true_board``, ``probed_board``) and DIR/soundness.png. Probes of another model, a budget of 0
or below, games of another corpus: one error line, exit 1, nothing written.
"""

from __future__ import annotations

from othello.common import cli
from othello.common.errors import UserError
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("soundness", __doc__)
    parser.add_argument("--run", help="run directory holding model.pt")
    parser.add_argument("--games", required=True, help="the run's games file (games.h5)")
    parser.add_argument("--probes", help="the run's probe folder (make probes)")
    parser.add_argument("--interventions", help="a finished interventions folder (its edit)")
    parser.add_argument("--engine", action="store_true", help="search the rules, not a model")
    args = parser.parse_intermixed_args(argv)
    if args.engine == (args.run is not None) or (args.run and not args.probes):
        raise UserError("give --run RUN_DIR with --probes PROBE_DIR, or --engine alone")
    if args.engine:
        from probes.failures.engine import run_engine

        job = job_from_args("soundness", args, None, args.games)
        run_engine(job)
        return
    inputs = {"probes": args.probes, "interventions": args.interventions}
    job = job_from_args("soundness", args, args.run, args.games, inputs)
    run_job("soundness", job)


if __name__ == "__main__":
    cli.main(run)
