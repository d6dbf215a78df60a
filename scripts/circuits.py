"""How the model computes the board and its move: attribution, logit lens, heads, a neuron
atlas with controls and a causal check, and activation patching, each against the true board.

    python scripts/circuits.py --run RUN_DIR --games PATH.h5 --probes PROBE_DIR --out DIR
        [key=value ...]

Settings are CircuitsConfig's fields (probes/circuits/stage.py): ``test_games=200``,
``layers=4,5`` (the atlas's MLP layers; default all), ``tree_positions=4000``,
``max_depth=8``, ``control_neurons=128``, ``ablation=mean|zero``, ``patch_pairs=100``, ...
Figures are on test games; tree depths, head classes and the neurons ablated are chosen on
training and validation games. Writes DIR/neurons.json, neuron_layers.json, atlas.npz,
attribution.json, logit_lens.json, heads.json, ablation.json, patching.json, the figures and,
last, metrics.json. Probes of another model, or a missing file, end with one error line and
nothing written.
"""

from __future__ import annotations

import argparse

from othello.common import cli, settings
from probes.circuits.stage import CircuitsConfig, run_circuits


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="settings (key=value):\n" + settings.describe(CircuitsConfig()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    parser.add_argument("--probes", required=True, help="probe folder fitted on this model")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("settings", nargs="*", help="CircuitsConfig overrides, key=value")
    args = parser.parse_intermixed_args(argv)
    cfg = settings.apply_overrides(CircuitsConfig(), args.settings)
    m = run_circuits(args.run, args.games, args.probes, args.out, cfg, not args.no_progress)
    print(f"logit lens (last layer): top-1 legal {100 * m['logit_lens_final']:.1f}%")
    for layer, n in m["neurons"].items():
        print(
            f"layer {layer}: {100 * n['share']:.1f}% of neurons with test R^2 > "
            f"{cfg.r2_threshold:g} (random-init {100 * n['random_init']:.1f}%, shuffled "
            f"{100 * n['shuffled_labels']:.1f}%): {n['verdict']}"
        )
    ratio = m["ablation_ratio"]
    print(f"ablation ratio (matching / control): {'n/a' if ratio is None else f'{ratio:.2f}x'}")
    print(f"patching: {m['patching_pairs']} pairs; wrote {args.out}/metrics.json")
    for warning in m["warnings"]:
        print(f"WARNING: {warning}")


if __name__ == "__main__":
    cli.main(run)
