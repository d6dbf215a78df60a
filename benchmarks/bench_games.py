"""Games/s for corpus generation and label replay, beside the baselines, on this machine.

    python benchmarks/bench_games.py [--n 2000000]

Prints: generation end to end (file written) with 1 process and with --workers 2; the numpy
batch engine and the scalar reference playing random games; replay into full per-ply labels
from the written file, beside the scalar reference; and peak memory at two corpus sizes.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import batch_engine as batch  # noqa: E402
import reference as ref  # noqa: E402

from othello.corpora.corpus import GamesFile  # noqa: E402
from othello.world.labels import replay  # noqa: E402

CHILD = """
import json, resource, sys, time
from othello.corpora.generate import generate_corpus
n, workers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
generate_corpus(out, n, seed=1, workers=workers, progress=False)
seconds = time.perf_counter() - t
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": seconds, "peak_rss_mb": rss / 1024}))
"""


def generate_in_child(n: int, workers: int, out: Path) -> dict:
    """Time a fresh process making a corpus (start-up and file writing included)."""
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(workers), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = time.perf_counter() - began
    return figures


def reference_random_games(n: int) -> float:
    """Games/s of the scalar reference playing uniformly random games."""
    rng = random.Random(0)
    began = time.perf_counter()
    for _ in range(n):
        board, colour = ref.start_board(), ref.BLACK
        while True:
            moves = ref.legal_moves(board, colour)
            if not moves:
                colour = ref.other(colour)
                moves = ref.legal_moves(board, colour)
                if not moves:
                    break
            ref.play(board, colour, rng.choice(moves))
            colour = ref.other(colour)
    return n / (time.perf_counter() - began)


def labels_from_file(path: Path, chunk: int = 1 << 15) -> tuple[float, int]:
    """Games/s replaying a games file into all per-square label arrays, chunk by chunk."""
    began = time.perf_counter()
    with GamesFile(path) as games:
        for _, moves, length in games.iter_chunks(chunk):
            labels = replay(moves, length)
            labels.board_colour(), labels.board_relative()
            labels.flipped_squares(), labels.legal_squares()
        n = games.n_games
    return n / (time.perf_counter() - began), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_in_child(20_000, 1, tmp / "warm.h5")  # compile once into numba's cache
        for workers in (1, 2):
            f = generate_in_child(args.n, workers, tmp / f"g{workers}.h5")
            rows.append(
                (
                    "generate -> games.h5, 1 process x 2 threads"
                    if workers == 1
                    else "generate -> games.h5, --workers 2",
                    args.n,
                    args.n / f["process_seconds"],
                    f["peak_rss_mb"],
                )
            )
        small = generate_in_child(args.n // 4, 1, tmp / "small.h5")
        began = time.perf_counter()
        batch.generate_games(1, 0, 20_000)
        rows.append(
            ("numpy batch engine (in memory)", 20_000, 20_000 / (time.perf_counter() - began), None)
        )
        reference_rate = reference_random_games(200)
        rows.append(("scalar reference (in memory)", 200, reference_rate, None))
        labels_from_file(tmp / "small.h5")  # warm-up
        label_rate, n_labelled = labels_from_file(tmp / "g1.h5")
        rows.append(("replay -> full per-ply labels, from games.h5", n_labelled, label_rate, None))
        with GamesFile(tmp / "g1.h5") as games:
            moves, length = games.read(0, 200)
        began = time.perf_counter()
        for i in range(200):
            ref.replay(moves[i, : length[i]].tolist())
        ref_label_rate = 200 / (time.perf_counter() - began)
        rows.append(("scalar reference replay with labels", 200, ref_label_rate, None))

    print(
        f"# bench_games  {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}"
        f"  python {platform.python_version()}"
    )
    print(f"{'what':52s} {'games':>10s} {'games/s':>12s} {'peak MB':>9s}")
    for what, n, rate, rss in rows:
        peak = f"{rss:9.0f}" if rss else f"{'':9s}"
        print(f"{what:52s} {n:10,d} {rate:12,.0f} {peak}")
    gen = rows[0][2]
    print(
        f"generation speed-up over the scalar reference: {gen / reference_rate:,.0f}x; "
        f"labels: {label_rate / ref_label_rate:,.0f}x"
    )
    print(
        f"peak memory generating {args.n // 4:,} games: {small['peak_rss_mb']:.0f} MB; "
        f"{args.n:,} games: {rows[0][3]:.0f} MB"
    )


if __name__ == "__main__":
    main()
