"""Intervention throughput: batched edits beside the obvious per-case loop, same cases.

    python benchmarks/bench_interventions.py --run data/runs/cpu --probes data/runs/cpu/probes \
        --games data/games-cpu-seed0.h5 [--n-cases 1000] [--loop-cases 100]

The baseline is what a notebook does: one forward pass per case with a hook that edits that
case. Both apply the same linear edit (start layer 1, every later layer) and must give the
same logits; cases/s is printed for each, and for the gradient editor batched.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from othello.common.hashing import file_sha256
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooks import resid_layer
from probes.common import ProbeKey
from probes.interventions.cases import build_sets
from probes.interventions.edits import gradient_editor, linear_editor
from probes.interventions.run import edit_hooks, intervene
from probes.store import load_probes


def rate(fn, n: int) -> tuple[float, torch.Tensor]:
    began = time.perf_counter()
    out = fn()
    return n / (time.perf_counter() - began), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--probes", required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--n-cases", type=int, default=1000)
    parser.add_argument("--loop-cases", type=int, default=100)
    parser.add_argument("--layer", type=int, default=1)
    args = parser.parse_args()
    path = model_file(args.run)
    model = load_model_file(path)
    probes, meta = load_probes(args.probes, model_sha256=file_sha256(path))
    hooks = {resid_layer(h): h for h in meta["hooks"]}
    linear = {h: probes[ProbeKey("mine_theirs", "linear", h)] for h in hooks.values()}
    cases = build_sets(args.games, args.n_cases, 0, seed=0)["natural"]
    edited = edit_hooks(hooks, args.layer, True)
    edit = linear_editor(linear, 2.0)
    intervene(model, cases.take(slice(0, 8)), edited, edit)  # warm-up

    batched, logits = rate(lambda: intervene(model, cases, edited, edit), len(cases))
    few = cases.take(slice(0, args.loop_cases))
    loop, loop_logits = rate(
        lambda: torch.cat(
            [intervene(model, few.take(slice(k, k + 1)), edited, edit) for k in range(len(few))]
        ),
        len(few),
    )
    same = torch.allclose(loop_logits, logits[: len(few)], atol=1e-4)
    gradient, _ = rate(lambda: intervene(model, cases, edited, gradient_editor(linear)), len(cases))
    print(
        f"# bench_interventions  {time.strftime('%Y-%m-%d')}  {platform.processor() or 'cpu'}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}"
    )
    print(
        f"model {model.cfg.n_layers} layers d_model {model.cfg.d_model}; linear edit from "
        f"layer {args.layer} on, {len(edited)} hooks"
    )
    print(f"{'linear edit, batched (' + str(len(cases)) + ' cases)':45s} {batched:10,.0f} cases/s")
    print(f"{'linear edit, one case per forward (baseline)':45s} {loop:10,.0f} cases/s")
    print(f"batched / per-case: {batched / loop:.1f}x; same logits: {same}")
    print(f"{'gradient edit (linear probe), batched':45s} {gradient:10,.0f} cases/s")


if __name__ == "__main__":
    main()
