"""Explorer latency: a position request (forward pass with every probe reading) and an
intervention, through the JSON API, beside a plain forward pass of the same model.

    python benchmarks/bench_explore.py [--run data/runs/cpu] [--games data/games-cpu-seed0.h5]
        [--probes data/runs/cpu/probes] [--interventions reports/cpu/interventions]
        [--screenshot docs/explorer.png]

Two models: the run given (the `cpu` preset's by default) and the published shape (8 layers,
d_model 512, random weights and random probes: latency depends on the shape only). Requests go
through Flask's test client, so the figures include routing and JSON but not a socket. Targets
(issue "explorer"): position <= 50 ms (cpu) / 250 ms (paper shape), intervention <= 100 / 500.
--screenshot also opens the page on the run in headless Chromium, flips a disc and saves it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from othello.common.files import METRICS as PROBE_METRICS
from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import load_model_file, save_model
from othello.model.gpt import GPT
from othello.model.hooks import resid_hooks
from othello.model.run_dir import MODEL
from othello.training.config import preset
from othello.world.tokens import encode
from probes.common import ProbeKey
from probes.explorer.api import open_explorer
from probes.explorer.server import create_app
from probes.kinds import make_probe
from probes.store import save_probes

ROOT = Path(__file__).resolve().parent.parent


def median_ms(call, repeats: int = 20) -> float:
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def random_run(tmp: Path, model: GPT, best_layer: str, mlp: bool) -> tuple[Path, Path]:
    """``model`` saved as a run, with random linear probes of every scheme the explorer reads
    at every layer (and mine/theirs MLP probes with ``mlp``) and a probe metrics file naming
    ``best_layer``: random probes have no figures. Shared with bench_circuits.py."""
    save_model(model, tmp / "run" / MODEL)
    hooks, d = list(resid_hooks(model.cfg.n_layers).values()), model.cfg.d_model
    probes = {}
    for hook in hooks:
        for name, classes in (("mine_theirs", 3), ("flipped", 2), ("legal", 2)):
            probe = make_probe("linear", d, classes)
            torch.nn.init.normal_(probe.weight, std=0.05)
            probes[ProbeKey(name, "linear", hook)] = probe
        if mlp:
            probes[ProbeKey("mine_theirs", "mlp", hook)] = make_probe("mlp", d, 3)
    meta = {"model_sha256": file_sha256(tmp / "run" / MODEL), "hooks": hooks}
    save_probes(probes, meta, tmp / "probes")
    best = {"layer": best_layer, "accuracy": 0.0, "val_accuracy": 0.0}
    metrics = {"layers": {str(i): h for i, h in enumerate(hooks)}, "val": {}, "baselines": {},
               "best": {"mine_theirs/linear": best}}  # fmt: skip
    (tmp / "probes" / PROBE_METRICS).write_text(json.dumps(metrics))
    return tmp / "run", tmp / "probes"


def paper_shape_run(tmp: Path) -> tuple[Path, Path]:
    """A random 8-layer d512 model and random probes of every scheme the page reads."""
    torch.manual_seed(0)
    return random_run(tmp, GPT(preset("paper").model).eval(), "6", mlp=True)


def measure(label: str, run, games, probes, interventions=None) -> None:
    explorer = open_explorer(run, [games], probes, {"interventions": interventions})
    client = create_app(explorer).test_client()
    game = int(explorer.test_rows[0][0])
    ply = 30
    position = client.get(f"/api/position?game={game}&ply={ply}").json
    square = next(s for s, c in enumerate(position["board"]) if c)
    model = load_model_file(Path(run) / MODEL if Path(run).is_dir() else run)
    with GamesFile(games) as corpus:
        tokens = torch.as_tensor(encode(corpus.moves[game : game + 1, : ply + 1]))

    def forward():
        with torch.inference_mode():
            model(tokens)

    rows = {
        "plain forward pass (the baseline)": median_ms(forward),
        "position (forward + every probe)": median_ms(
            lambda: client.get(f"/api/position?game={game}&ply={ply}")
        ),
    }
    for method in ("linear", "gradient"):
        url = f"/api/intervene?game={game}&ply={ply}&square={square}&method={method}"
        rows[f"intervention, {method}"] = median_ms(lambda url=url: client.get(url))
    cfg = explorer.model.cfg
    print(f"{label}: {cfg.n_layers} layers, d_model {cfg.d_model}, default {explorer.defaults}")
    for name, ms in rows.items():
        print(f"  {name:42s} {ms:8.1f} ms")


def screenshot(run, games, probes, interventions, path: Path) -> None:
    """The page on ``run`` after stepping to ply 20 and flipping a disc."""
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from test_explorer_browser import browser, serving, wait_for

    app = create_app(open_explorer(run, [games], probes, {"interventions": interventions}))
    with serving(app) as url, tempfile.TemporaryDirectory() as profile, browser(profile) as d:
        d.get(url)
        wait_for(d, "return document.body.getAttribute('data-ready') === '1'")
        body = d.find_element("tag name", "body")
        for _ in range(20):
            body.send_keys("\ue014")
        wait_for(d, "return document.getElementById('ply-label').textContent.startsWith('ply 20 ')")
        board = d.execute_script("return state.position.board")
        square = next(s for s, c in enumerate(board) if c)
        d.execute_script(
            "document.querySelector(`#board-svg g[data-square='${arguments[0]}']`)"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            square,
        )
        wait_for(d, "return document.getElementById('edited-legal') !== null")
        time.sleep(0.5)
        d.save_screenshot(str(path))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "data" / "runs" / "cpu"))
    parser.add_argument("--games", default=str(ROOT / "data" / "games-cpu-seed0.h5"))
    parser.add_argument("--probes", default=str(ROOT / "data" / "runs" / "cpu" / "probes"))
    parser.add_argument("--interventions", default=str(ROOT / "reports" / "cpu" / "interventions"))
    parser.add_argument("--screenshot", help="save a screenshot of the page on --run here")
    args = parser.parse_args()
    interventions = args.interventions if Path(args.interventions).exists() else None
    print(
        f"# bench_explore  {time.strftime('%Y-%m-%d')}  {platform.processor() or 'cpu'}  "
        f"threads={torch.get_num_threads()}  torch {torch.__version__}  (median of 20)"
    )
    measure(Path(args.run).name, args.run, args.games, args.probes, interventions)
    with tempfile.TemporaryDirectory() as tmp:
        run, probes = paper_shape_run(Path(tmp))
        measure("published shape, random weights", run, args.games, probes)
    if args.screenshot:
        screenshot(args.run, args.games, args.probes, interventions, Path(args.screenshot))


if __name__ == "__main__":
    main()
