"""How long the dynamics of a run take, beside the naive route: the existing stage scripts run
on each snapshot (cache, probes, intervention cases and sweep, the world-model tests), timed
on the same snapshots in the same run, each extrapolated to all of a run's snapshots.

    python benchmarks/bench_dynamics.py --run data/runs/cpu --games data/games-cpu-seed0.h5
        [--preset cpu] [--snapshots 2]

The dynamics stage runs with the preset's sizes on a run folder holding only the last N
snapshots (links); the naive route runs each script on the same snapshots with the dynamics'
own sizes (the same games, cases and trials), so the two do the same measurements. Prints
seconds per snapshot, the stage's peak memory and the ratio.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from othello.common.files import CONFIG, METRICS_LOG, MODEL, SNAPSHOTS
from othello.model.run_dir import snapshot_dir, snapshot_models
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
         f"inductive.anchors={cfg.inductive_anchors}", f"inductive.steps={cfg.inductive_steps}"],
    ]  # fmt: skip


def picked_run(run: Path, steps: list[int], out: Path) -> Path:
    """A run folder holding only the snapshots ``steps`` of ``run`` (links, nothing copied)."""
    out.mkdir()
    for name in (CONFIG, METRICS_LOG, MODEL):
        if (run / name).exists():
            (out / name).symlink_to(run / name)
    (out / SNAPSHOTS).mkdir()
    for step in steps:
        folder = snapshot_dir(run, step)
        (out / SNAPSHOTS / folder.name).symlink_to(folder)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "data" / "runs" / "cpu"))
    parser.add_argument("--games", default=str(ROOT / "data" / "games-cpu-seed0.h5"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--snapshots", type=int, default=2, help="the last N snapshots, timed")
    args = parser.parse_args()
    run, games = Path(args.run), Path(args.games)
    snapshots = snapshot_models(run)
    cfg = stage("dynamics").configure(args.preset)
    picked = sorted(snapshots)[-args.snapshots :]
    print(f"# bench_dynamics {time.strftime('%Y-%m-%d')} run={run} snapshots={len(snapshots)}, "
          f"timed on steps {picked}")  # fmt: skip
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        command = ["scripts/dynamics.py", "--run", picked_run(run, picked, tmp / "run"),
                   "--games", games, "--out", tmp / "dynamics", "--preset", args.preset,
                   "--no-progress"]  # fmt: skip
        seconds, peak = timed(command)
        report("dynamics stage", seconds / len(picked), len(snapshots))
        print(f"  peak RSS {peak:.2f} GB")
        naive = 0.0
        for step in picked:
            folder = tmp / f"naive-{step}"
            folder.mkdir()
            for command in naive_commands(snapshots[step].parent, games, folder, cfg):
                naive += timed(command)[0]
        report("naive route (the stage scripts)", naive / len(picked), len(snapshots))
        print(f"  the stage is {naive / seconds:.1f}x faster")


def report(what: str, per_snapshot: float, snapshots: int) -> None:
    print(f"{what}: {per_snapshot:8.1f} s per snapshot, extrapolated to {snapshots}: "
          f"{per_snapshot * snapshots / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
