"""How long the adversarial search takes through the decoding cache (one step a candidate),
beside the naive search that runs a full forward pass over every candidate's prefix, on the
same searches in the same run.

    python benchmarks/bench_soundness.py --run data/runs/cpu --probes data/runs/cpu/probes
        [--searches 1000] [--naive-searches 100] [--budget 500] [--strategy beam]

Both searches start from the same random legal prefixes and find the same errors (checked:
the calls of every search's first error agree); the cached one runs ``--searches`` searches,
the naive one the first ``--naive-searches`` of them, extrapolated.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from othello.model.legality import square_scores
from othello.world.tokens import encode
from probes.failures.boards import padded
from probes.failures.search import SearchConfig, search
from probes.failures.subjects import ModelSubject
from probes.probe_spec import ProbeResult
from probes.stage_spec import load_run_model, model_sha256


class ForwardSubject(ModelSubject):
    """The naive subject: every candidate scored by a forward pass over its whole prefix."""

    def start(self, moves, lengths, me, opp):
        return self._forward(moves, lengths), (moves.astype(np.int8), np.asarray(lengths))

    def extend(self, state, parents, squares, me, opp):
        moves, lengths = state
        moves, lengths = moves[parents].copy(), lengths[parents] + 1
        moves[np.arange(len(parents)), lengths - 1] = squares
        return self._forward(moves, lengths), (moves, lengths)

    def take(self, state, rows):
        return state[0][rows], state[1][rows]

    @torch.no_grad()
    def _forward(self, moves, lengths) -> np.ndarray:
        out = []
        for start in range(0, len(lengths), 512):
            n = np.asarray(lengths[start : start + 512])
            tokens = torch.as_tensor(encode(padded(moves[start : start + 512], n)[:, : n.max()]))
            logits = self.model(tokens)[torch.arange(len(n)), torch.as_tensor(n - 1)]
            out.append(square_scores(logits.float(), -torch.inf).numpy())
        return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--probes", required=True)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--naive-searches", type=int, default=100)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--strategy", default="beam")
    args = parser.parse_args()
    model = load_run_model(args.run, "cpu")
    found = ProbeResult.load(args.probes)
    probes, _ = found.probes(model_sha256(model))
    hook = found.metrics.hook(found.metrics.best_of("mine_theirs").layer)
    timed = {}
    runs = (("cached", ModelSubject(model, probes, hook), args.searches),
            ("naive", ForwardSubject(model, probes, hook), args.naive_searches))  # fmt: skip
    for name, subject, n in runs:
        cfg = SearchConfig(searches=n, budgets=(args.budget,), progress=False)
        began = time.perf_counter()
        result = search(subject, args.strategy, cfg)
        seconds = time.perf_counter() - began
        timed[name] = (result, seconds, n)
        calls = int(result.spent.sum())
        print(f"{name}: {n} searches of budget {args.budget} ({args.strategy}) in {seconds:.1f} s; "
              f"{calls:,} calls, {1e6 * seconds / calls:.0f} us a call; success "
              f"{(result.first > 0).mean():.1%}", flush=True)  # fmt: skip
    cached, naive = timed["cached"], timed["naive"]
    k = args.naive_searches
    same = np.array_equal(cached[0].first[:k], naive[0].first)
    per_search = (naive[1] / naive[2]) / (cached[1] / cached[2])
    print(f"the same first errors in the {k} shared searches: {same}; naive "
          f"{naive[1] / naive[2] * args.searches:.0f} s extrapolated to {args.searches} searches, "
          f"{per_search:.1f}x the cached search's time a search")  # fmt: skip


if __name__ == "__main__":
    main()
