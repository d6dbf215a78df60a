"""`make published`: the published models fetched through the Hugging Face hub's cache, offline.

Nothing here contacts the real hub: a cache is laid out by hand in a temporary HF_HOME, or a
stand-in hub answers on 127.0.0.1 through HF_ENDPOINT, or the address is a closed port. The
fetches run in fresh interpreters: huggingface_hub fixes HF_HUB_OFFLINE when first imported,
and this process must not keep a setting of one test for the others.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from checkpoints import random_tl_state
from conftest import TESTS, run_in_process, run_script

# the hub client is an optional extra (make published installs it); without it these tests
# skip and test_without_the_hub_client_the_error_names_the_file_and_the_manual_route runs
HAS_HUB = importlib.util.find_spec("huggingface_hub") is not None
NEEDS_HUB = pytest.mark.skipif(
    not HAS_HUB, reason='huggingface_hub is not installed: pip install -e ".[hub]"'
)

REPO = "NeelNanda/Othello-GPT-Transformer-Lens"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
URL = f"https://huggingface.co/{REPO}/resolve/main"
ANALYZE = "make analyze CHECKPOINT=PATH FORMAT=transformer_lens RUN=published-{} PRESET=cpu"


def published_bytes(**changes) -> bytes:
    """A small model in the published file's form (LNPre, no unembedding bias)."""
    state = random_tl_state(n_layers=2, d=32, h=4, d_mlp=96, norm="LNPre") | changes
    del state["unembed.b_U"]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def hub_env(monkeypatch, hf_home: Path, endpoint: str | None = None, offline=False) -> None:
    """The hub settings a fresh interpreter (and ``fetch_published`` at call time) reads."""
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for name, value in (("HF_ENDPOINT", endpoint), ("HF_HUB_OFFLINE", "1" if offline else None)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def lay_out_cache(hf_home: Path, filename: str, data: bytes, blob: str | None = None) -> Path:
    """The hub library's cache layout: the blob named after its sha256, refs/main holding the
    commit, and the snapshot's file a relative link to the blob."""
    repo = hf_home / "hub" / f"models--{REPO.replace('/', '--')}"
    blob = blob or hashlib.sha256(data).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / blob).write_bytes(data)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT / filename
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(Path("..", "..", "blobs", blob))
    return snapshot


@contextmanager
def stand_in_hub(files: dict[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 answering ``/{repo}/resolve/{main|COMMIT}/{file}`` as the hub
    does for a large file (X-Repo-Commit, ETag = sha256, sizes; GET with Range resumes).
    Yields its address and the requests it saw."""
    seen: list[str] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            seen.append(f"{self.command} {self.path}")
            prefix, _, rest = self.path.partition("/resolve/")
            revision, _, name = rest.partition("/")
            if prefix != f"/{REPO}" or revision not in ("main", COMMIT) or name not in files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = files[name]
            start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
            self.send_response(206 if start else 200)
            digest = hashlib.sha256(data).hexdigest()
            for key, value in (("X-Repo-Commit", COMMIT), ("ETag", f'"{digest}"'),
                               ("X-Linked-Etag", f'"{digest}"'), ("X-Linked-Size", len(data)),
                               ("Content-Length", len(data) - start)):  # fmt: skip
                self.send_header(key, str(value))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if body:
                self.wfile.write(data[start:])

        def log_message(self, *args) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and not result.stdout
    return lines[0]


@NEEDS_HUB
def test_the_cached_file_is_found_offline_and_its_provenance_kept(tmp_path, monkeypatch):
    data = published_bytes()
    snapshot = lay_out_cache(tmp_path / "hf", "synthetic_model.pth", data)
    hub_env(monkeypatch, tmp_path / "hf", offline=True)
    record = tmp_path / "published" / "synthetic.json"
    done = run_script("scripts/fetch_published.py", "--model", "synthetic", "--json-out", record)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(snapshot)]
    fetched = json.loads(record.read_text())
    assert fetched["commit"] == COMMIT and fetched["revision"] == "main"
    assert fetched["sha256"] == hashlib.sha256(data).hexdigest() and fetched["size"] == len(data)
    assert (fetched["repo_id"], fetched["corpus"]) == (REPO, "synthetic")
    assert fetched["url"] == f"https://huggingface.co/{REPO}/resolve/{COMMIT}/synthetic_model.pth"
    # the conversion keeps the record, and refuses a record of other bytes (writing nothing)
    run = tmp_path / "runs" / "published-synthetic"
    args = ("import", "--kind", "transformer_lens", "--in", snapshot, "--source-json", record)
    assert run_in_process("convert_checkpoint.py", *args, "--out", run).returncode == 0
    assert json.loads((run / "config.json").read_text())["imported"]["hub"] == fetched
    record.write_text(json.dumps(fetched | {"sha256": "0" * 64}))
    refused = run_in_process("convert_checkpoint.py", *args, "--out", tmp_path / "other")
    assert "synthetic_model.pth: sha256" in one_error_line(refused)
    assert not (tmp_path / "other").exists()


@NEEDS_HUB
def test_from_pretrained_loads_the_cached_file_offline(tmp_path, monkeypatch):
    """othello.from_pretrained: the TransformerLens-format file in the hub cache, offline,
    converted; the same logits as the importer gives on the file itself."""
    snapshot = lay_out_cache(tmp_path / "hf", "synthetic_model.pth", published_bytes())
    hub_env(monkeypatch, tmp_path / "hf", offline=True)  # a fresh interpreter reads these
    code = (
        "import torch, othello; from othello.interop.formats import load_external; "
        "m = othello.from_pretrained('synthetic'); "
        f"ref = load_external({str(snapshot)!r}, 'transformer_lens'); "
        "x = torch.randint(1, 61, (2, 59)); "
        "print('same', torch.allclose(m(x), ref(x)), m.cfg.n_layers, m.cfg.d_model)"
    )
    done = run_script("-c", code)
    assert done.returncode == 0 and "same True 2 32" in done.stdout, done.stderr


@NEEDS_HUB
def test_a_damaged_cached_copy_is_refused(tmp_path, monkeypatch):
    lay_out_cache(tmp_path / "hf", "synthetic_model.pth", b"truncated", blob="ab" * 32)
    hub_env(monkeypatch, tmp_path / "hf", offline=True)
    line = one_error_line(run_script("scripts/fetch_published.py", "--model", "synthetic"))
    assert "synthetic_model.pth is damaged" in line and "fetch it again" in line


@NEEDS_HUB
def test_no_network_is_one_error_line_and_nothing_written(tmp_path, monkeypatch):
    record = tmp_path / "published.json"
    hub_env(monkeypatch, tmp_path / "hf", offline=True)  # a fresh interpreter: flag at import
    done = run_script("scripts/fetch_published.py", "--model", "synthetic", "--json-out", record)
    line = one_error_line(done)
    assert f"{URL}/synthetic_model.pth" in line and ANALYZE.format("synthetic") in line
    # a refused connection, without the library's ~25 s of retry back-off
    hub_env(monkeypatch, tmp_path / "hf", endpoint=f"http://127.0.0.1:{closed_port()}")
    no_waiting = (
        "import runpy, sys, time; time.sleep = lambda seconds: None; sys.argv = sys.argv[1:]; "
        "runpy.run_path('scripts/fetch_published.py', run_name='__main__')"
    )
    args = ("scripts/fetch_published.py", "--model", "championship", "--json-out", record)
    done = run_script("-c", no_waiting, *args)
    line = one_error_line(done)
    assert "championship_model.pth" in line and "Connection refused" in line
    assert ANALYZE.format("championship") + " GAMES=data/championship.h5" in line
    assert not record.exists() and not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_without_the_hub_client_the_error_names_the_file_and_the_manual_route(tmp_path):
    """A plain install (no hub extra): one error line with the file, the URL to download it
    by hand and the command that analyses it, and nothing written."""
    blocked = (
        "import runpy, sys; sys.modules['huggingface_hub'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path('scripts/fetch_published.py', run_name='__main__')"
    )
    record = tmp_path / "published.json"
    args = ("scripts/fetch_published.py", "--model", "synthetic", "--json-out", record)
    line = one_error_line(run_script("-c", blocked, *args))
    assert "needs huggingface_hub" in line and 'pip install -e ".[hub]"' in line
    assert f"{URL}/synthetic_model.pth" in line and ANALYZE.format("synthetic") in line
    assert not record.exists()


@pytest.mark.parametrize(
    "content, says",
    [
        ("text", "not a loadable state dict"),
        ("list", "not a state dict of tensors"),
        ("vocab60", "vocabulary has 60 tokens; Othello-GPT uses 61"),
        ("context58", "context of 58 positions (positional embedding rows); Othello-GPT reads 59"),
    ],
)
def test_wrong_files_are_refused_naming_the_file(tmp_path, content, says):
    path = tmp_path / "synthetic_model.pth"
    if content == "text":
        path.write_text("<html>a login page, not weights</html>")
    elif content == "list":
        torch.save([torch.zeros(3)], path)
    elif content == "vocab60":
        short = {"embed.W_E": torch.randn(60, 32), "unembed.W_U": torch.randn(32, 60)}
        path.write_bytes(published_bytes(**short))
    else:
        torch.save(random_tl_state(n_ctx=58, norm="LNPre"), path)
    args = ("import", "--kind", "transformer_lens", "--in", path, "--out", tmp_path / "run")
    line = one_error_line(run_in_process("convert_checkpoint.py", *args))
    assert f"{path}:" in line and says in line, line
    assert not (tmp_path / "run").exists()


def test_the_championship_run_needs_its_games(tmp_path):
    missing = tmp_path / "championship.h5"
    done = subprocess.run(
        ["make", "published", "MODEL=championship", f"CHAMPIONSHIP_GAMES={missing}"],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "make championship PGN=" in done.stderr
    assert "fetch_published" not in done.stdout  # refused before fetching anything
    games = tmp_path / "games.h5"
    games.write_bytes(b"")
    plan = subprocess.run(
        ["make", "-n", "explore", "RUN=published-championship", f"CHAMPIONSHIP_GAMES={games}"],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=60,
    )  # fmt: skip
    assert f"scripts/explore.py --run data/runs/published-championship --games {games}" in (
        plan.stdout
    )


@NEEDS_HUB
def test_a_fresh_cache_downloads_from_a_stand_in_hub_and_the_model_is_analysed(
    tmp_path, monkeypatch, tiny_corpus
):
    """The download, its record, the conversion and a short analysis (the library calls the
    stages make; the whole ``make published`` chain is the slow test below)."""
    from othello.common.hashing import file_sha256
    from othello.common.machine import describe_machine
    from othello.model.evaluate import evaluate_run
    from probes.acts.writer import write_cache
    from probes.probe_stage import fit_settings, run_probe_stage
    from probes.report.markdown import _run_lines
    from probes.stages.registry import stage
    from probes.stages.runner import explicit_job

    data, record = published_bytes(), tmp_path / "published.json"
    fetch = ("scripts/fetch_published.py", "--model", "synthetic", "--json-out", record)
    with stand_in_hub({"synthetic_model.pth": data}) as (endpoint, seen):
        hub_env(monkeypatch, tmp_path / "hf", endpoint=endpoint)
        done = run_script(*fetch)
        assert done.returncode == 0, done.stderr
        assert f"GET /{REPO}/resolve/main/synthetic_model.pth" in seen
        seen.clear()
        assert run_script(*fetch).stdout == done.stdout  # the second time from the cache
        assert not [x for x in seen if x.startswith("GET")]
    sha256 = hashlib.sha256(data).hexdigest()
    blobs = tmp_path / "hf" / "hub" / f"models--{REPO.replace('/', '--')}" / "blobs"
    assert [p.name for p in blobs.iterdir()] == [sha256]  # whole, no .incomplete left
    path = Path(done.stdout.strip())
    assert path.read_bytes() == data and path.parent.name == COMMIT
    run = tmp_path / "runs" / "published-synthetic"
    args = ("import", "--kind", "transformer_lens", "--in", path, "--source-json", record)
    assert run_in_process("convert_checkpoint.py", *args, "--out", run).returncode == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["imported"]["hub"]["commit"], config["imported"]["hub"]["sha256"]) == (
        COMMIT, sha256,
    )  # fmt: skip
    evaluation = evaluate_run(run, tiny_corpus, run / "eval", n_games=50)
    acts = write_cache(run / "model.pt", tiny_corpus, run / "acts.h5", n_games=150, progress=False)
    cfg, kinds = fit_settings(["min_steps=30", "probes=mine_theirs/linear"])
    assert run_probe_stage(acts, run / "probes", cfg, False, kinds).layers == {
        str(layer): f"blocks.{layer}.hook_resid_pre" for layer in range(2)
    } | {"2": "blocks.1.hook_resid_post"}
    small = ["test_games=20", "val_games=10", "train_games=20", "tree_positions=300",
             "val_positions=150", "test_positions=150", "max_depth=3", "control_neurons=4",
             "patch_pairs=4", "ablation_games=5", "ablation_groups=1", "pages=1",
             "allow_fewer=true"]  # fmt: skip
    job = explicit_job("circuits", run / "circuits", run, tiny_corpus, {"probes": run / "probes"},
                       overrides=small, progress=False)  # fmt: skip
    circuits = stage("circuits").run(job).metrics
    assert circuits["model_sha256"] == file_sha256(run / "model.pt")  # the circuits take it too
    assert set(circuits["logit_lens"]) == {"0", "1", "2"}
    summary = {"config": config["config"], "eval": evaluation, "training": None,
               "imported": config["imported"], "machine": describe_machine()}  # fmt: skip
    lines = "\n".join(_run_lines(summary))
    assert f"commit `{COMMIT}`" in lines and f"sha256 `{sha256}`" in lines
    assert f"{len(data):,} bytes" in lines and "training set" not in lines
    summary["imported"]["hub"]["corpus"] = "championship"
    assert "may have been in its training set" in "\n".join(_run_lines(summary))


@NEEDS_HUB
@pytest.mark.slow
def test_make_published_downloads_from_a_stand_in_hub_and_reports(
    tmp_path, monkeypatch, tiny_corpus
):
    data = published_bytes()
    shutil.copy(tiny_corpus, tmp_path / "games.h5")
    with stand_in_hub({"synthetic_model.pth": data}) as (endpoint, seen):
        hub_env(monkeypatch, tmp_path / "hf", endpoint=endpoint)
        done = subprocess.run(
            [
                "make", "published", "MODEL=synthetic", "PRESET=tiny", f"GAMES={tmp_path}/games.h5",
                f"RUN_DIR={tmp_path}/runs/published", f"REPORT_DIR={tmp_path}/reports/published",
                f"PUBLISHED_JSON={tmp_path}/published.json",
                "PROBES_ARGS=min_steps=30 probes=mine_theirs/linear --no-progress",
                "INTERVENTIONS_ARGS=methods=linear linear.scales=1,2 --no-progress",
            ],
            capture_output=True, text=True, cwd=TESTS.parent, timeout=1800,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"GET /{REPO}/resolve/main/synthetic_model.pth" in seen
    summary = json.loads((tmp_path / "reports" / "published" / "summary.json").read_text())
    hub = summary["imported"]["hub"]
    assert (hub["commit"], hub["sha256"]) == (COMMIT, hashlib.sha256(data).hexdigest())
    report = (tmp_path / "reports" / "published" / "report.md").read_text()
    assert f"commit `{COMMIT}`" in report and "`synthetic_model.pth`" in report
    assert "training set" not in report
