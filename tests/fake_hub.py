"""A Hugging Face Hub for tests: an HTTP server on the loopback interface, and a stand-in for
``huggingface_hub.HfApi`` that records what a push sends.

:class:`FakeHub` answers what ``huggingface_hub.snapshot_download`` asks of a Hub (a model
repository's revision, its file tree, each file through ``resolve``), with the error codes
the real one gives, and records every request so that a test can tell what was fetched.
Point huggingface_hub at it with :func:`use_hub` (in-process) or ``HF_ENDPOINT`` (a
subprocess). :class:`RecordingHfApi` keeps the calls of a push and, given a FakeHub,
commits the files there, so what ``img2img push`` uploads can be downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> files


class FakeHub:
    """Model repositories (branches and tags to commits, commits to files) served on
    127.0.0.1; ``requests`` lists (method, path) of every request answered."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hub._answer(self, body=True)

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo_id: str, files: dict[str, bytes], revision: str = "main") -> str:
        """Make a commit of ``files`` on top of ``revision`` (a branch, made from main when
        new) and return its hash."""
        repo = self.repos.setdefault(repo_id, Repo())
        parent = repo.refs.get(revision) or repo.refs.get("main")
        tree = {**(repo.commits[parent] if parent else {}), **files}
        digest = hashlib.sha1(repr((parent, sorted(tree.items()))).encode()).hexdigest()
        repo.commits[digest] = tree
        repo.refs[revision] = digest
        return digest

    def tag(self, repo_id: str, tag: str, commit: str) -> None:
        self.repos[repo_id].refs[tag] = commit

    def downloads(self) -> list[str]:
        """The paths of the file downloads answered (GET on ``/resolve/``)."""
        return [path for method, path in self.requests if method == "GET" and "/resolve/" in path]

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, path))
        status, headers, content = self._route(unquote(path))
        handler.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(content))}.items():
            handler.send_header(name, value)
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def _route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"]:
            repo_id, rest = "/".join(parts[2:4]), parts[4:]
            if rest[:1] == ["revision"]:
                return self._info(repo_id, "/".join(rest[1:]))
            if rest[:1] == ["tree"]:
                return self._tree(repo_id, rest[1])
            return self._info(repo_id, "main") if not rest else _error(404, "EntryNotFound")
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._file(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        return _error(404, "EntryNotFound")

    def _commit(self, repo_id: str, revision: str) -> tuple[str | None, tuple | None]:
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, _error(404, "RepoNotFound")
        commit = revision if revision in repo.commits else repo.refs.get(revision)
        if commit is None:
            return None, _error(404, "RevisionNotFound")
        return commit, None

    def _info(self, repo_id: str, revision: str) -> tuple[int, dict[str, str], bytes]:
        commit, error = self._commit(repo_id, revision)
        if error:
            return error
        files = self.repos[repo_id].commits[commit]
        info = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": commit,
            "private": False,
            "siblings": [{"rfilename": name} for name in files],
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()

    def _tree(self, repo_id: str, revision: str) -> tuple[int, dict[str, str], bytes]:
        commit, error = self._commit(repo_id, revision)
        if error:
            return error
        files = self.repos[repo_id].commits[commit]
        entries = [
            {"type": "file", "oid": _blob_id(content), "size": len(content), "path": name}
            for name, content in files.items()
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(entries).encode()

    def _file(self, repo_id: str, revision: str, name: str) -> tuple[int, dict[str, str], bytes]:
        commit, error = self._commit(repo_id, revision)
        if error:
            return error
        files = self.repos[repo_id].commits[commit]
        if name not in files:
            return _error(404, "EntryNotFound")
        content = files[name]
        headers = {"X-Repo-Commit": commit, "ETag": f'"{_blob_id(content)}"'}
        return 200, headers, content


def _blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _error(status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    message = json.dumps({"error": code}).encode()
    return status, {"X-Error-Code": code, "Content-Type": "application/json"}, message


def use_hub(monkeypatch: Any, hub: FakeHub, cache: Path, offline: bool = False) -> None:
    """Point this process's huggingface_hub at ``hub`` with its cache in ``cache``: what the
    ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` variables set when it is
    imported (a subprocess is given the variables themselves)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


@dataclass
class RecordingHfApi:
    """Records the calls ``img2img push`` makes of ``huggingface_hub.HfApi``; with a
    ``hub``, commits the uploaded files there as the real Hub would."""

    hub: FakeHub | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)

    def create_repo(self, repo_id: str, **options: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))
        return f"{self.hub.url if self.hub else 'https://hub.test'}/{repo_id}"

    def create_branch(self, repo_id: str, **options: Any) -> None:
        self.calls.append(("create_branch", {"repo_id": repo_id, **options}))

    def create_commit(self, repo_id: str, operations: list, **options: Any) -> None:
        files = {}
        for operation in operations:
            source = operation.path_or_fileobj
            files[operation.path_in_repo] = (
                source if isinstance(source, bytes) else Path(source).read_bytes()
            )
        self.calls.append(("create_commit", {"repo_id": repo_id, "files": files, **options}))
        self.uploads = files
        if self.hub is not None:
            self.hub.commit(repo_id, files, options.get("revision") or "main")
