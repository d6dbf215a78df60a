"""How long the dynamics of a run take, beside the naive route: the existing stage scripts run
on each snapshot (cache, probes, intervention cases and sweep, the world-model tests), timed
on two snapshots in the same run and extrapolated to all of them.

    python benchmarks/bench_dynamics.py --run data/runs/cpu --games data/games-cpu-seed0.h5
        [--preset cpu] [--naive-snapshots 2]

The dynamics stage runs with the preset's sizes into a temporary folder; the naive route runs
each script with the dynamics' own sizes (the same games, cases and trials), so the two do the
same measurements. Prints seconds and the peak memory of each.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from othello.model.run_dir import snapshot_models
from probes.stages.registry import stage

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list) -> tuple[float, float]:
    """Seconds and the child's peak RSS (GB) of ``python COMMAND``."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, *map(str, command)], cwd=ROOT, capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"{command[0]} failed:\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    return time.perf_counter() - began, peak


def naive_commands(snapshot: Path, games: Path, tmp: Path, cfg) -> list[list]:
    """The stage scripts measuring one snapshot as the dynamics does."""
    acts, probes = tmp / "acts.h5", tmp / "probes"
    cases = tmp / "cases.h5"
    schemes = "probes=mine_theirs/linear,black_white/linear,flipped/linear,legal/linear"
    return [
        ["scripts/cache.py", "--run", snapshot, "--games", games, "--out", acts,
         "--n-games", cfg.probe_games, "--no-progress"],
        ["scripts/fit_probes.py", "--acts", acts, "--out", probes, "--no-progress", schemes,
         f"epochs={cfg.probe_epochs}", f"min_steps={cfg.probe_min_steps}", "allow_small=true"],
        ["scripts/make_intervention_set.py", "--games", games, "--out", cases, "--n-cases",
         cfg.cases, "--tune-cases", cfg.tune_cases],
        ["scripts/intervene.py", "--run", snapshot, "--probes", probes, "--games", games,
         "--set", cases, "--out", tmp / "interventions", "--no-progress", "methods=linear",
         "gallery=0", "saliency=0"],
        ["scripts/world_model.py", "--run", snapshot, "--games", games, "--out", tmp / "wm",
         "--no-progress", "parts=nerode,inductive_bias", "controls=false",
         "states=board_and_mover", f"game_samples={cfg.state_games}",
         f"val_games={cfg.val_games}", f"nerode.trials={cfg.trials}",
         f"nerode.suffix_samples={cfg.suffix_samples}", f"inductive.n_tasks={cfg.inductive_tasks}",
         f"inductive.anchors={cfg.inductive_anchors}"],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "data" / "runs" / "cpu"))
    parser.add_argument("--games", default=str(ROOT / "data" / "games-cpu-seed0.h5"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--naive-snapshots", type=int, default=2)
    args = parser.parse_args()
    run, games = Path(args.run), Path(args.games)
    snapshots = snapshot_models(run)
    cfg = stage("dynamics").configure(args.preset)
    print(f"# bench_dynamics {time.strftime('%Y-%m-%d')} run={run} snapshots={len(snapshots)}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        command = ["scripts/dynamics.py", "--run", run, "--games", games, "--out",
                   tmp / "dynamics", "--preset", args.preset, "--no-progress"]  # fmt: skip
        seconds, peak = timed(command)
        print(f"dynamics stage, {len(snapshots)} snapshots: {seconds:8.1f} s "
              f"({seconds / 60:.1f} min), peak RSS {peak:.2f} GB")  # fmt: skip
        picked = sorted(snapshots)[-args.naive_snapshots :]
        total = 0.0
        for step in picked:
            folder = tmp / f"naive-{step}"
            folder.mkdir()
            for command in naive_commands(snapshots[step].parent, games, folder, cfg):
                total += timed(command)[0]
        per = total / len(picked)
        print(
            f"naive route: {per:8.1f} s per snapshot (mean of {len(picked)}), "
            f"extrapolated to {len(snapshots)}: {per * len(snapshots) / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
