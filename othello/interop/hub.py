"""The published Othello-GPT models on the Hugging Face hub, fetched into the hub's own cache.

``make published`` turns a model name into a local file and a record of exactly which bytes
were analysed (hub commit, size, sha256), so a report on "the published model" says which
version of it. The download itself is left to ``huggingface_hub.hf_hub_download``: its cache
(shared with every other tool on the machine, so nothing is downloaded twice), its progress
bar, its resumable ``.incomplete`` files. We write nothing of our own until the file is whole.

``huggingface_hub`` is the optional ``hub`` extra (``pip install -e ".[hub]"``), imported only
when fetching. The library reads ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` once, at
import; :func:`fetch_published` reads them at call time and passes them explicitly, so a
setting made after the import (a test, a notebook) is the one obeyed.

Our own models travel as Hugging Face folders (:mod:`othello.interop.formats.hf`):
:func:`fetch_folder` brings one from a hub repository into the same cache, :func:`push_folder`
publishes one (``HF_TOKEN`` or ``hf auth login``'s token).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from othello.common.atomic import write_text
from othello.common.errors import UserError
from othello.common.hashing import file_sha256

REPO_ID = "NeelNanda/Othello-GPT-Transformer-Lens"
HUB_URL = "https://huggingface.co"  # the hand-download address, whatever HF_ENDPOINT says
FORMAT = "transformer_lens"  # both files: HookedTransformer state dicts, LayerNorm folded
CHAMPIONSHIP_GAMES = "data/championship.h5"  # `make championship PGN=...` writes it
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RECORD_KEYS = ("repo_id", "filename", "commit", "size", "sha256")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\"()\\]+")  # "[Errno 111] Connection refused"


@dataclass(frozen=True)
class PublishedModel:
    """One published checkpoint: where it lives on the hub and which games it is analysed on
    (``synthetic``: our synthetic corpus; ``championship``: imported championship games)."""

    name: str
    repo_id: str
    filename: str
    corpus: str
    about: str

    def url(self, revision: str | None = None) -> str:
        return f"{HUB_URL}/{self.repo_id}/resolve/{revision or 'main'}/{self.filename}"

    def analyze_command(self, path: str = "PATH") -> str:
        """The ``make`` line that analyses a copy of this file fetched some other way."""
        games = f" GAMES={CHAMPIONSHIP_GAMES}" if self.corpus == "championship" else ""
        return (
            f"make analyze CHECKPOINT={path} FORMAT={FORMAT} RUN=published-{self.name} "
            f"PRESET=cpu{games}"
        )


PUBLISHED: dict[str, PublishedModel] = {
    "synthetic": PublishedModel(
        "synthetic", REPO_ID, "synthetic_model.pth", "synthetic",
        "Li et al.'s model trained on synthetic games (uniformly random legal moves)",
    ),
    "championship": PublishedModel(
        "championship", REPO_ID, "championship_model.pth", "championship",
        "Li et al.'s model trained on championship games",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class FetchedModel:
    """A published checkpoint in the local hub cache, and which bytes it is."""

    name: str
    repo_id: str
    filename: str
    corpus: str
    revision: str  # as asked ("main" unless --revision said otherwise)
    commit: str | None  # the hub commit the revision resolved to
    url: str
    path: Path
    size: int
    sha256: str

    def record(self) -> dict:
        """JSON-ready: what ``convert_checkpoint.py import --source-json`` records."""
        return asdict(self) | {"path": str(self.path)}


def published_model(name: str) -> PublishedModel:
    if name not in PUBLISHED:
        raise UserError(f"no published model {name!r}; choose one of {sorted(PUBLISHED)}")
    return PUBLISHED[name]


def fetch_published(name: str, revision: str | None = None) -> FetchedModel:
    """The published model ``name`` from the hub (or the hub cache, offline): its local path,
    resolved commit, size and sha256. When it cannot be had, one :class:`UserError` says what,
    where to download it by hand and the command that analyses the copy."""
    model = published_model(name)
    manual = f"download {model.url(None)} by hand and analyse it with: {model.analyze_command()}"
    hf = _import_hub(f"fetching {model.filename} ({model.repo_id})", manual)
    download, errors = hf.hf_hub_download, _fetch_errors(hf)  # imported before _quiet
    try:
        with _quiet(hf):
            local = download(
                model.repo_id,
                model.filename,
                revision=revision,
                endpoint=_endpoint(),
                cache_dir=_cache_dir(),
                local_files_only=_offline(),
            )
    except errors as exc:
        raise UserError(_unreachable(model, revision, exc)) from None
    path = Path(local)
    sha256 = file_sha256(path)
    blob = path.resolve().name  # the hub names a large file's blob after its sha256
    if _SHA256.fullmatch(blob) and blob != sha256:
        raise UserError(
            f"{path}: the cached copy of {model.filename} is damaged (sha256 {sha256[:12]}..., "
            f"the hub says {blob[:12]}...); delete {path.resolve()} and fetch it again"
        )
    commit = path.parent.name if _COMMIT.fullmatch(path.parent.name) else None
    return FetchedModel(
        model.name, model.repo_id, model.filename, model.corpus, revision or "main", commit,
        model.url(commit or revision), path, path.stat().st_size, sha256,
    )  # fmt: skip


def write_record(fetched: FetchedModel, out: str | os.PathLike) -> Path:
    return write_text(out, json.dumps(fetched.record(), indent=2) + "\n")


def read_record(path: str | os.PathLike) -> dict:
    """A record written by :func:`write_record`, checked enough to be worth recording."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable hub record ({exc})") from None
    missing = [k for k in _RECORD_KEYS if not isinstance(record, dict) or k not in record]
    if missing:
        raise UserError(f"{path}: not a hub record (no {', '.join(missing)})")
    return record


def fetch_folder(repo_id: str, revision: str | None = None) -> Path:
    """The Hugging Face folder in hub repository ``repo_id`` (its files that
    :func:`othello.load_model` reads), from the hub cache (offline too) or downloaded into it:
    the local snapshot folder. When it cannot be had, one :class:`UserError` names the
    repository, the files to download by hand and what loads them."""
    from othello.interop.formats.hf import CONFIG, TOKENIZER, WEIGHTS

    where = f"{repo_id}, revision {revision or 'main'}"
    manual = (
        f"download {CONFIG}, {WEIGHTS} and {TOKENIZER} from "
        f"{HUB_URL}/{repo_id}/tree/{revision or 'main'} into a folder DIR by hand and load it "
        "with othello.load_model(DIR) or make analyze CHECKPOINT=DIR FORMAT=hf"
    )
    hf = _import_hub(f"loading {repo_id}", manual)
    download, errors = hf.hf_hub_download, _fetch_errors(hf)
    paths = []
    try:
        with _quiet(hf):
            for name in (CONFIG, WEIGHTS, TOKENIZER):
                paths.append(Path(download(
                    repo_id, name, revision=revision, endpoint=_endpoint(),
                    cache_dir=_cache_dir(), local_files_only=_offline(),
                )))  # fmt: skip
    except errors as exc:
        raise UserError(
            f"could not fetch {name} of {where} from the Hugging Face hub, and it is not in the "
            f"hub cache ({_why(exc)}); {manual}"
        ) from None
    folders = sorted({str(path.parent) for path in paths})
    if len(folders) > 1:  # "main" moved between two downloads
        raise UserError(f"{where}: its files came from different commits ({folders}); fetch again")
    return Path(folders[0])


def push_folder(folder: str | os.PathLike, repo_id: str) -> str:
    """Publish the Hugging Face folder ``folder`` as hub repository ``repo_id`` (created when
    missing, public) in one commit of all its files; the commit's URL. Errors name the
    repository and say why (no token, refused, unreachable)."""
    manual = f"upload the files of {folder} at {HUB_URL}/new by hand"
    hf = _import_hub(f"pushing to {repo_id}", manual)
    api, errors = hf.HfApi(endpoint=_endpoint()), _fetch_errors(hf)
    try:
        with _quiet(hf):
            api.create_repo(repo_id, exist_ok=True)
            commit = api.upload_folder(
                folder_path=str(folder), repo_id=repo_id,
                commit_message=f"Othello-GPT exported by othello-gpt ({Path(folder).name})",
            )  # fmt: skip
    except errors as exc:
        raise UserError(
            f"could not push {folder} to {repo_id} on the Hugging Face hub ({_why(exc)}); "
            f"set HF_TOKEN to a write token, or {manual}"
        ) from None
    return str(commit.commit_url)


def _import_hub(doing: str, manual: str):
    """The hub client, an optional extra: without it the error says how to get it and, as
    when the hub is unreachable, what to download by hand (``manual``) and what reads it."""
    try:
        import huggingface_hub
    except ImportError:
        raise UserError(
            f'{doing} needs huggingface_hub: pip install -e ".[hub]"; or {manual}'
        ) from None
    return huggingface_hub


def _endpoint() -> str:
    """The hub's address the environment names now (``HF_ENDPOINT``: a mirror, a test)."""
    return (os.environ.get("HF_ENDPOINT") or HUB_URL).rstrip("/")


def _cache_dir() -> str | None:
    """The hub cache the environment names now; None leaves the library's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _fetch_errors(hf) -> tuple[type[BaseException], ...]:
    """What ``hf_hub_download`` raises when the file cannot be had: not cached and offline or
    unreachable, the hub refusing (no such revision, 5xx), a proxy. ``OSError`` covers the
    connection errors of huggingface_hub 0.x (requests); 1.x and later raise httpx's."""
    utils = importlib.import_module(f"{hf.__name__}.utils")
    errors = [OSError, utils.HfHubHTTPError, utils.LocalEntryNotFoundError, utils.HFValidationError]
    for module in ("httpx", "httpx2"):
        transport = getattr(sys.modules.get(module), "TransportError", None)
        if transport is not None:
            errors.append(transport)
    return tuple(errors)


@contextmanager
def _quiet(hf) -> Iterator[None]:
    """The library logs a warning per retry; a user error must stay one ``error:`` line."""
    logger = logging.getLogger(hf.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _why(exc: BaseException) -> str:
    """Why the hub could not be had, in one line: the innermost error (refused, DNS, 404),
    after the hub's own answer when it gave one (``RepositoryNotFoundError``, a gated repo)."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = " ".join(str(cause).split())
    errno = _ERRNO.search(text)  # requests (0.x) buries it in a long repr
    why = f"{type(cause).__name__}: {errno.group(0) if errno else text[:300]}"
    answer = type(exc).__name__  # the hub's error code, as huggingface_hub names it
    if cause is not exc and answer.endswith(("NotFoundError", "RepoError")):
        why = f"{answer}; {why}"
    return "HF_HUB_OFFLINE is set" if _offline() else why


def _unreachable(model: PublishedModel, revision: str | None, exc: BaseException) -> str:
    return (
        f"could not fetch {model.filename} ({model.repo_id}, revision {revision or 'main'}) "
        f"from the Hugging Face hub, and it is not in the hub cache ({_why(exc)}); download "
        f"{model.url(revision)} by hand and analyse it with: {model.analyze_command()}"
    )
