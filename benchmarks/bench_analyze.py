"""How long `make analyze` takes, stage by stage, for a model of the published shape on this
machine, beside a plain forward pass of the same model over the same games.

    python benchmarks/bench_analyze.py [--games data/games-cpu-seed0.h5] [--preset cpu]

The checkpoint is a TransformerLens-format (LNPre, no unembedding bias, as the published
synthetic_model.pth) Othello-GPT of 8 layers, d_model 512, 8 heads with random weights: the
time of every stage but one depends on the shape, not on what the weights learned. The one:
the gradient edit stops each case once its probe reads the target, so its cost follows the
optimiser steps per edit, printed at the end (a trained model's, from its own
interventions/details.json, is the figure to compare). Each stage is the command
`make analyze` runs, timed on its own; the work folder is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from othello.common.files import DETAILS as INTERVENTION_DETAILS
from othello.corpora.corpus import GamesFile
from othello.interop.formats import from_transformer_lens
from othello.model.hooks import block_prefix
from othello.world.tokens import encode
from probes.stages.registry import stage

ROOT = Path(__file__).resolve().parent.parent


def published_shape_checkpoint(path: Path) -> None:
    """Random weights in the published file's layout (8 layers, d512, LNPre, no b_U)."""
    g = torch.Generator().manual_seed(0)
    d, h, layers = 512, 8, 8

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    state = {"embed.W_E": r(61, d), "pos_embed.W_pos": r(59, d), "unembed.W_U": r(d, 61)}
    for layer in range(layers):
        p = block_prefix(layer)
        for x in "QKV":
            state[p + f"attn.W_{x}"], state[p + f"attn.b_{x}"] = r(h, d, d // h), r(h, d // h)
        state |= {p + "attn.W_O": r(h, d // h, d), p + "attn.b_O": r(d)}
        state |= {p + "mlp.W_in": r(d, 4 * d), p + "mlp.b_in": r(4 * d)}
        state |= {p + "mlp.W_out": r(4 * d, d), p + "mlp.b_out": r(d)}
    torch.save(state, path)


def forward_games_per_s(checkpoint: Path, games: Path, n: int = 512) -> float:
    """The baseline: a plain batched forward pass over n test games."""
    state = torch.load(checkpoint, weights_only=True)
    model = from_transformer_lens(state)
    with GamesFile(games) as corpus:
        index = corpus.split_indices("test")[:n]
        tokens = torch.as_tensor(encode(corpus.moves[index][:, :59]))
    with torch.inference_mode():
        model(tokens[:16])
        began = time.perf_counter()
        for start in range(0, n, 256):
            model(tokens[start : start + 256])
    return n / (time.perf_counter() - began)


def stages(tmp: Path, checkpoint: Path, games: Path, preset: str) -> list[tuple[str, list]]:
    games_n = stage("probes").configure(preset).games
    sweep = stage("interventions").configure(preset).sweep
    run, report = tmp / "run", tmp / "report"
    cases = tmp / "cases.h5"
    return [
        ("import", ["scripts/convert_checkpoint.py", "import", "--kind", "transformer_lens",
                    "--in", checkpoint, "--out", run]),
        ("eval (10,000 test games)", ["scripts/evaluate.py", "--run", run, "--games", games]),
        (f"cache ({games_n:,} games)", ["scripts/cache.py", "--run", run, "--games",
            games, "--out", run / "acts.h5", "--n-games", games_n, "--no-progress"]),
        ("cache, random-init control", ["scripts/cache.py", "--run", run, "--games", games,
            "--out", run / "control" / "acts.h5", "--n-games", games_n, "--control",
            "--no-progress"]),
        ("probes, the model's and the control's, with figures", ["scripts/run_stage.py",
            "probes", "--run", run, "--report", report, "--games", games, "--preset", preset,
            "--no-progress"]),
        (f"intervention cases ({sweep.n_cases:,} + {sweep.tune_cases} tuning)",
            ["scripts/make_intervention_set.py", "--games", games, "--out", cases,
             "--n-cases", sweep.n_cases, "--tune-cases", sweep.tune_cases]),
        ("interventions (linear + gradient, every layer)", ["scripts/run_stage.py",
            "interventions", "--run", run, "--report", report, "--games", games, "--cases",
            cases, "--preset", preset, "--no-progress"]),
        ("report", ["scripts/report.py", "--run", run, "--out", report]),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default=str(ROOT / "data" / "games-cpu-seed0.h5"))
    parser.add_argument("--preset", default="cpu", help="stage sizes (othello.training.config)")
    args = parser.parse_args()
    print(
        f"# bench_analyze  {time.strftime('%Y-%m-%d')}  {platform.processor() or 'cpu'}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}  preset={args.preset}"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        checkpoint = tmp / "synthetic_model.pth"
        published_shape_checkpoint(checkpoint)
        rate = forward_games_per_s(checkpoint, args.games)
        print(f"plain forward pass, 8 layers d512: {rate:,.0f} games/s")
        total = 0.0
        for label, command in stages(tmp, checkpoint, Path(args.games), args.preset):
            began = time.perf_counter()
            done = subprocess.run([sys.executable, *map(str, command)], cwd=ROOT,
                                  capture_output=True, text=True)  # fmt: skip
            seconds = time.perf_counter() - began
            total += seconds
            if done.returncode:
                sys.exit(f"{label} failed:\n{done.stderr[-2000:]}")
            print(f"{label:55s} {seconds:8.1f} s", flush=True)
        print(f"{'all stages':55s} {total:8.1f} s ({total / 60:.1f} min)")
        details = json.loads((tmp / "report" / "interventions" / INTERVENTION_DETAILS).read_text())
        for method, steps in details.get("steps_per_edit", {}).items():
            print(f"{method} edit: {steps:.1f} optimiser steps per edit (random weights)")


if __name__ == "__main__":
    main()
