"""Probe fitting and cache writing, each beside the obvious baseline in the same run.

    python benchmarks/bench_probes.py [--run data/runs/cpu] [--games data/games-cpu-seed0.h5]
        [--train-games 200] [--test-games 100] [--cache-games 2000]

1. Fit time of mine/theirs linear probes for every layer and all 64 squares: our batched torch
   fit beside scikit-learn's LogisticRegression (one L-BFGS fit per square and layer, the way
   a researcher would do it) on the same training positions, with held-out accuracy of both.
2. Cache throughput: MB/s of ``write_cache`` end to end (forward pass, labels, HDF5), of the
   HDF5 write alone, and of ``numpy.ndarray.tofile`` writing the same bytes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import h5py
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sklearn_crosscheck import sklearn_accuracy, take_slice  # noqa: E402  (the tests' oracle)

from othello.model.checkpoint import MODEL  # noqa: E402
from probes.acts.writer import write_cache  # noqa: E402
from probes.common import ProbeKey
from probes.fit import FitConfig, fit_probes  # noqa: E402
from probes.metrics import evaluate_probes  # noqa: E402


def bench_fit(acts_path: Path, n_train: int, n_test: int, epochs: int) -> dict:
    from probes.acts.reader import ActsFile

    with ActsFile(acts_path) as acts:
        hooks = acts.hooks
        data = take_slice(acts, hooks, "board_relative", n_train, n_test)
    positions = int(data.valid_mask[data.split == 0].sum())
    began = time.perf_counter()
    cfg = FitConfig(
        probes=("mine_theirs/linear",),
        epochs=epochs,
        batch_positions=1024,
        chunk_games=1 << 30,
    )
    probes = fit_probes(data, cfg, progress=False)
    ours_s = time.perf_counter() - began
    counts = evaluate_probes(data, probes, "test", chunk_games=1 << 30)
    ours_acc = [counts[ProbeKey("mine_theirs", "linear", h)].summary()["accuracy"] for h in hooks]
    began = time.perf_counter()
    sk_acc = [
        float(sklearn_accuracy(data, h, "board_relative", list(range(64))).mean()) for h in hooks
    ]
    sk_s = time.perf_counter() - began
    fits = 64 * len(hooks)
    return {
        "layers": len(hooks),
        "train_positions": positions,
        "torch_seconds": round(ours_s, 2),
        "sklearn_seconds": round(sk_s, 2),
        "speedup": round(sk_s / ours_s, 1),
        "torch_fits_per_s": round(fits / ours_s, 1),
        "sklearn_fits_per_s": round(fits / sk_s, 2),
        "torch_accuracy_by_layer": [round(a, 4) for a in ours_acc],
        "sklearn_accuracy_by_layer": [round(a, 4) for a in sk_acc],
    }


def bench_cache(run: Path, games: Path, n_games: int, workdir: Path) -> dict:
    out = workdir / "acts.h5"
    began = time.perf_counter()
    write_cache(run / MODEL, games, out, n_games=n_games, progress=False)
    end_to_end = time.perf_counter() - began
    size = out.stat().st_size / 1e6
    with h5py.File(out) as f:
        arrays = {name: f["acts"][name][:] for name in f["acts"]}
    n_bytes = sum(a.nbytes for a in arrays.values()) / 1e6
    began = time.perf_counter()
    with h5py.File(workdir / "h5only.h5", "w") as f:
        for name, a in arrays.items():
            ds = f.create_dataset(name, a.shape, a.dtype, chunks=(min(256, len(a)), *a.shape[1:]))
            for start in range(0, len(a), 256):
                ds[start : start + 256] = a[start : start + 256]
    h5_s = time.perf_counter() - began
    began = time.perf_counter()
    with open(workdir / "plain.bin", "wb") as handle:
        for a in arrays.values():
            a.tofile(handle)
    np_s = time.perf_counter() - began
    return {
        "games": n_games,
        "file_mb": round(size, 1),
        "end_to_end_mb_per_s": round(size / end_to_end, 1),
        "end_to_end_seconds": round(end_to_end, 2),
        "activation_mb": round(n_bytes, 1),
        "hdf5_write_mb_per_s": round(n_bytes / h5_s, 1),
        "numpy_tofile_mb_per_s": round(n_bytes / np_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="data/runs/cpu")
    parser.add_argument("--games", default="data/games-cpu-seed0.h5")
    parser.add_argument("--train-games", type=int, default=200)
    parser.add_argument("--test-games", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=FitConfig.epochs)
    parser.add_argument("--cache-games", type=int, default=2000)
    args = parser.parse_args()
    run, games = Path(args.run), Path(args.games)
    if not (run / MODEL).exists() or not games.exists():
        raise SystemExit(
            f"needs a trained run and its corpus: make train (missing {run}/{MODEL} or {games})"
        )
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = bench_cache(run, games, args.cache_games, tmp)
        print("cache:", json.dumps(cache))
        n = args.train_games + args.test_games
        fractions = (args.train_games / n, 0.0, args.test_games / n)
        write_cache(
            run / MODEL, games, tmp / "slice.h5", n_games=n, fractions=fractions, progress=False
        )
        fit = bench_fit(tmp / "slice.h5", args.train_games, args.test_games, args.epochs)
        print("probe fit:", json.dumps(fit))


if __name__ == "__main__":
    main()
