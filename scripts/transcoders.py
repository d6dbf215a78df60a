"""Transcoders: each MLP replaced by a sparse stand-in, scored against the board.

    python scripts/transcoders.py --run RUN_DIR --games PATH.h5 --out DIR [--preset tiny]
        [key=value ...]

One transcoder per MLP layer (reading ``blocks.{l}.ln2.hook_normalized``, reconstructing
``blocks.{l}.hook_mlp_out``) on activations of ``games`` games of the corpus's validation split
taken in memory, and the same for the random-init model. Settings are TranscoderStageConfig's
(probes/transcoders/spec.py): ``games=3000``, ``spliced_games=300``, ``control=false``,
``transcoder.architecture=jumprelu_transcoder|jumprelu_skip_transcoder|topk_transcoder|
topk_skip_transcoder``, ``transcoder.expansion=4``, ``transcoder.k=16``,
``transcoder.sparsity_coefficient=...``, ``transcoder.epochs=10``, ...

Writes DIR/transcoders/layer_{l}/ and DIR/control/layer_{l}/ (SAELens's cfg.json +
sae_weights.safetensors), DIR/circuit_tracer/config.yaml + layer_{l}.safetensors
(circuit-tracer's), DIR/labels.json (each feature's best board label), DIR/transcoders.png and,
last, DIR/metrics.json (``layers``: per layer ``variance_explained``, ``spliced_top1_legal``,
``spliced_loss``, ``l0``, ``dead_features``, ... and ``random_init``; ``all_layers``: every MLP
replaced at once). A model without MLPs (an LSTM, a Mamba) or a missing file ends with one
error line and nothing written.
"""

from __future__ import annotations

from othello.common import cli
from probes.stages.cli import job_from_args, run_job, stage_parser


def run(argv: list[str] | None) -> None:
    parser = stage_parser("transcoders", __doc__)
    parser.add_argument("--run", required=True, help="run directory holding model.pt")
    parser.add_argument("--games", required=True, help="the games file (games.h5)")
    args = parser.parse_intermixed_args(argv)
    job = job_from_args("transcoders", args, args.run, args.games)
    run_job("transcoders", job)


if __name__ == "__main__":
    cli.main(run)
