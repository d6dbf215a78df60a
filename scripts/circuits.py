"""How the model computes the board and its move: attribution, logit lens, heads, a neuron
atlas with controls and a causal check, and activation patching, each against the true board.

    python scripts/circuits.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR --out DIR
        [--preset tiny] [key=value ...]

Settings are CircuitsConfig's fields (probes/circuits/config.py): ``test_games=200``,
``layers=4,5`` (the atlas's MLP layers; default all), ``tree_positions=4000``,
``max_depth=8``, ``control_neurons=128``, ``ablation=mean|zero``, ``patch_pairs=100``, ...
Figures are on test games; tree depths, head classes and the neurons ablated are chosen on
training and validation games. Writes DIR/neurons.json, neuron_layers.json, atlas.npz,
attribution.json, logit_lens.json, heads.json, ablation.json, patching.json, the figures and,
last, metrics.json. Probes of another model, or a missing file, end with one error line and
nothing written.
"""

from __future__ import annotations

from othello.common import cli
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("circuits", __doc__)
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--probes", required=True, help="probe folder fitted on this model")
    args = parser.parse_intermixed_args(argv)
    job = job_from_args("circuits", args, args.run, args.games, {"probes": args.probes})
    run_job("circuits", job)


if __name__ == "__main__":
    cli.main(run)
