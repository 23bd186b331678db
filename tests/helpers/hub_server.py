"""A stand-in for the Hugging Face Hub on loopback: the part of its file API that ``huggingface_hub`` downloads with.

```python
from helpers.hub_server import LoopbackHub

with LoopbackHub({"org/bench": {"qa/camera.jsonl": b"...", "videos/v.zip": zip_bytes}}) as hub:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}    # what huggingface_hub reads
    ...
    hub.requests                                              # every request: (method, path, Range header)
```

It serves dataset repositories (``repo_id -> {path: bytes}``) at one commit, as the Hub does:

* ``HEAD|GET /datasets/<repo>/resolve/<revision>/<path>``: ``X-Repo-Commit``, ``ETag`` (the sha256, as for LFS
  files), ``Content-Length``, byte ranges (``Range: bytes=N-``, 206) for resumed downloads;
* ``GET /api/datasets/<repo>/revision/<revision>``: the repository's info with its files and their sizes;
* errors the way the Hub says them: 404 with ``X-Error-Code`` ``RepoNotFound``, ``RevisionNotFound`` or
  ``EntryNotFound``.

``bytes_per_s`` slows every body down (a download that a test can interrupt halfway); ``reported_sizes`` makes the
repository info claim other file sizes (a download too big for the disk); ``revision`` may be the branch ``main`` or
the commit.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
_INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/revision/(?P<revision>[^/?]+)")


class LoopbackHub:
    def __init__(
        self,
        repos: dict[str, dict[str, bytes]],
        *,
        bytes_per_s: float | None = None,
        reported_sizes: dict[str, int] | None = None,
    ):
        self.repos = repos
        self.bytes_per_s = bytes_per_s
        self.reported_sizes = reported_sizes or {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ranged_gets(self, path: str) -> list[str]:
        """The ``Range`` headers of the GETs of ``path`` that asked for part of it (resumed downloads)."""
        return [rng for method, got, rng in self.requests if method == "GET" and got.endswith(path) and rng]

    def gets(self, path: str) -> int:
        return sum(1 for method, got, _ in self.requests if method == "GET" and got.endswith("/" + path))


def _handler(hub: LoopbackHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            path = unquote(self.path)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            if match := _INFO.match(path):
                return self._info(match["repo"], match["revision"], body)
            if match := _RESOLVE.match(path):
                return self._file(match["repo"], match["revision"], match["path"], body)
            self._error(404, "EntryNotFound", body)

        def _repo(self, repo: str, revision: str, body: bool) -> dict[str, bytes] | None:
            if repo not in hub.repos:
                self._error(404, "RepoNotFound", body)
                return None
            if revision not in ("main", COMMIT):
                self._error(404, "RevisionNotFound", body)
                return None
            return hub.repos[repo]

        def _info(self, repo: str, revision: str, body: bool) -> None:
            files = self._repo(repo, revision, body)
            if files is None:
                return
            siblings = [
                {"rfilename": name, "size": hub.reported_sizes.get(name, len(data))}
                for name, data in sorted(files.items())
            ]
            payload = json.dumps({"id": repo, "sha": COMMIT, "private": False, "siblings": siblings}).encode()
            self._send(200, payload, {"Content-Type": "application/json"}, body)

        def _file(self, repo: str, revision: str, name: str, body: bool) -> None:
            files = self._repo(repo, revision, body)
            if files is None:
                return
            if name not in files:
                return self._error(404, "EntryNotFound", body)
            data = files[name]
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            headers["Accept-Ranges"] = "bytes"
            start = _range_start(self.headers.get("Range"))
            if body and start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                return self._send(206, data[start:], headers, body)
            self._send(200, data, headers, body)

        def _error(self, status: int, code: str, body: bool) -> None:
            payload = json.dumps({"error": code}).encode()
            self._send(status, payload, {"X-Error-Code": code, "X-Error-Message": code}, body)

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if not body:
                return
            if hub.bytes_per_s is None:
                self.wfile.write(payload)
                return
            chunk = max(1, int(hub.bytes_per_s / 20))
            try:
                for offset in range(0, len(payload), chunk):
                    self.wfile.write(payload[offset : offset + chunk])
                    self.wfile.flush()
                    time.sleep(chunk / hub.bytes_per_s)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away mid-body (a killed download)

    return Handler


def _range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else 0
