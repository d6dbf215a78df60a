"""A stand-in Hugging Face hub on 127.0.0.1 that takes uploads and serves them back, for the
tests of publishing (``convert_checkpoint.py export --push``) and loading from a repository
(``othello.from_pretrained("OWNER/NAME")``). It answers the calls huggingface_hub makes:

* ``POST /api/repos/create`` (``create_repo``), ``POST /api/validate-yaml`` (a README's front
  matter), ``POST /api/models/{repo}/preupload/{rev}`` (every file "regular": sent inline, so no
  LFS or xet storage is involved) and ``POST /api/models/{repo}/commit/{rev}`` (the NDJSON
  commit: a header line, then one base64 file per line);
* ``HEAD`` / ``GET /{repo}/resolve/{rev}/{file}`` as the hub does (X-Repo-Commit, ETag, sizes)
  and ``GET /api/models/{repo}/revision/{rev}`` (the repository's files).

Each commit is the sha1 of what the repository then holds. The requests seen are kept in order.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commit: str = "0" * 40


class Hub:
    """The repositories (id -> :class:`Repo`) and the requests the server saw."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.seen: list[str] = []
        self.address = ""


def _handler(hub: Hub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hub.seen.append(f"POST {self.path}")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                data = json.loads(body)
                repo_id = f"{data['organization']}/{data['name']}"
                hub.repos.setdefault(repo_id, Repo())
                return self.json({"url": f"{hub.address}/{repo_id}", "name": repo_id})
            if path == "/api/validate-yaml":
                return self.json({"errors": [], "warnings": []})
            repo_id, _, action = path.removeprefix("/api/models/").rpartition("/")
            repo_id, _, verb = repo_id.rpartition("/")
            if repo_id not in hub.repos:
                return self.json({"error": "Repository not found"}, 404)
            if verb == "preupload":
                files = json.loads(body)["files"]
                return self.json({"files": [{"path": f["path"], "uploadMode": "regular",
                                             "shouldIgnore": False} for f in files]})  # fmt: skip
            if verb == "commit":
                return self.commit(hub.repos[repo_id], repo_id, body)
            self.json({"error": f"no such call {path}"}, 404)

        def commit(self, repo: Repo, repo_id: str, body: bytes) -> None:
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    repo.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            state = json.dumps({k: hashlib.sha256(v).hexdigest() for k, v in repo.files.items()})
            repo.commit = hashlib.sha1(state.encode()).hexdigest()
            url = f"{hub.address}/{repo_id}/commit/{repo.commit}"
            self.json({"commitUrl": url, "commitOid": repo.commit, "success": True})

        def do_HEAD(self) -> None:
            self.resolve(body=False)

        def do_GET(self) -> None:
            if self.path.startswith("/api/models/"):
                hub.seen.append(f"GET {self.path}")
                repo_id, _, _ = self.path.removeprefix("/api/models/").partition("/revision/")
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self.json({"error": "Repository not found"}, 404)
                return self.json({"id": repo_id, "sha": repo.commit,
                                  "siblings": [{"rfilename": f} for f in repo.files]})  # fmt: skip
            self.resolve(body=True)

        def resolve(self, body: bool) -> None:
            hub.seen.append(f"{self.command} {self.path}")
            repo_id, _, rest = self.path.lstrip("/").partition("/resolve/")
            revision, _, name = rest.partition("/")
            repo = hub.repos.get(repo_id)
            if repo is None or revision not in ("main", repo.commit) or name not in repo.files:
                headers = {"X-Error-Code": "RepoNotFound" if repo is None else "EntryNotFound"}
                return self.send(404, b"", headers, body)
            data = repo.files[name]
            digest = hashlib.sha256(data).hexdigest()
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{digest}"'}
            self.send(200, data, headers, body)

        def json(self, data: dict, status: int = 200) -> None:
            self.send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def send(self, status: int, data: bytes, headers: dict, body: bool = True) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": len(data)}.items():
                self.send_header(key, str(value))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    return Handler


@contextmanager
def stand_in_hub() -> Iterator[Hub]:
    """The server, running on a free port of 127.0.0.1 (``hub.address``) until the block ends."""
    hub = Hub()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.address = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
