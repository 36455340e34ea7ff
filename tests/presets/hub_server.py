"""A local HTTP server speaking the parts of the Hub protocol huggingface_hub uses.

Downloads: `GET /api/models/{repo}/revision/{rev}`, `GET /api/models/{repo}/tree/
{rev}`, `HEAD`/`GET /{repo}/resolve/{rev}/{file}` (with `X-Repo-Commit`, `ETag`,
`Content-Length`, and no `X-Xet-Hash`, so plain HTTP is used), and 404s with
`X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound`.
Uploads: `POST /api/validate-yaml` (model card), `/api/repos/create`,
`/api/models/{repo}/preupload/{rev}` (every file "regular", i.e. inline) and
`/api/models/{repo}/commit/{rev}` (NDJSON).
Every request is logged in `server.requests` as `(method, path)`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import threading
import urllib.parse
from pathlib import Path


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclasses.dataclass
class FakeRepo:
    commits: dict[str, dict[str, bytes]] = dataclasses.field(default_factory=dict)
    refs: dict[str, str] = dataclasses.field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


class FakeHub:
    """Holds repositories and serves them on 127.0.0.1 in a thread."""

    def __init__(self):
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), _make_handler(self)
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def commit(
        self, repo_id: str, files: dict[str, bytes], branch: str = "main"
    ) -> str:
        """Adds a commit holding exactly `files`; returns its hash."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, FakeRepo())
            digest = hashlib.sha1(repo_id.encode())
            digest.update(str(len(repo.commits)).encode())
            for name in sorted(files):
                digest.update(name.encode() + b"\0" + files[name])
            sha = digest.hexdigest()
            repo.commits[sha] = dict(files)
            repo.refs[branch] = sha
            return sha

    def commit_folder(self, repo_id: str, folder: Path, branch: str = "main") -> str:
        """Adds a commit holding the files of `folder`; returns its hash."""
        files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}
        return self.commit(repo_id, files, branch)

    def files_requested(self, method: str = "GET") -> list[str]:
        """Names of the files fetched through `/resolve/`."""
        return [
            path.rsplit("/", 1)[1]
            for m, path in self.requests
            if m == method and "/resolve/" in path
        ]


def _make_handler(hub: FakeHub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        # -- helpers --------------------------------------------------
        def _send(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, status, value, headers=None):
            headers = {"Content-Type": "application/json", **(headers or {})}
            self._send(status, json.dumps(value).encode(), headers)

        def _error(self, code, message, head=False):
            body = json.dumps({"error": message}).encode()
            headers = {"X-Error-Code": code, "X-Error-Message": message}
            headers["Content-Type"] = "application/json"
            self._send(404, body, headers, head=head)

        def _repo_and_commit(self, repo_id, revision, head=False):
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error("RepoNotFound", "Repository not found", head)
                return None, None
            sha = repo.resolve(revision)
            if sha is None:
                self._error("RevisionNotFound", "Invalid rev id: " + revision, head)
                return None, None
            return repo, sha

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length)

        # -- routes ---------------------------------------------------
        def do_HEAD(self):
            self._route("HEAD")

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def _route(self, method):
            parsed = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parsed.path)
            with hub._lock:
                hub.requests.append((method, path))
            parts = path.strip("/").split("/")
            if method == "POST":
                return self._post(parts)
            if parts[:2] == ["api", "models"] and len(parts) >= 5:
                repo_id = "/".join(parts[2:4])
                kind, revision = parts[4], "/".join(parts[5:])
                repo, sha = self._repo_and_commit(repo_id, revision)
                if repo is None:
                    return
                files = repo.commits[sha]
                if kind == "revision":
                    return self._json(
                        200,
                        {
                            "id": repo_id,
                            "modelId": repo_id,
                            "sha": sha,
                            "private": False,
                            "siblings": [{"rfilename": n} for n in sorted(files)],
                        },
                    )
                if kind == "tree":
                    return self._json(
                        200,
                        [
                            {
                                "type": "file",
                                "path": name,
                                "size": len(data),
                                "oid": _git_blob_sha(data),
                            }
                            for name, data in sorted(files.items())
                        ],
                    )
            if len(parts) >= 5 and parts[2] == "resolve":
                repo_id = "/".join(parts[:2])
                revision, filename = parts[3], "/".join(parts[4:])
                head = method == "HEAD"
                repo, sha = self._repo_and_commit(repo_id, revision, head)
                if repo is None:
                    return
                data = repo.commits[sha].get(filename)
                if data is None:
                    return self._error("EntryNotFound", "Entry not found", head)
                headers = {
                    "X-Repo-Commit": sha,
                    "ETag": f'"{_git_blob_sha(data)}"',
                    "Content-Type": "application/octet-stream",
                }
                return self._send(200, data, headers, head=head)
            self._error("RepoNotFound", "Unknown route " + path)

        def _post(self, parts):
            body = self._body()
            if parts == ["api", "validate-yaml"]:
                return self._json(200, {"errors": [], "warnings": []})
            if parts == ["api", "repos", "create"]:
                payload = json.loads(body)
                owner = payload.get("organization") or "user"
                repo_id = f"{owner}/{payload['name']}"
                if "/" in payload["name"]:
                    repo_id = payload["name"]
                url = f"{hub.endpoint}/{repo_id}"
                if repo_id in hub.repos:
                    error = "You already created this model repo"
                    return self._json(409, {"error": error, "url": url})
                hub.repos[repo_id] = FakeRepo()
                return self._json(200, {"url": url})
            if parts[:2] == ["api", "models"] and len(parts) >= 6:
                repo_id = "/".join(parts[2:4])
                kind, revision = parts[4], "/".join(parts[5:])
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error("RepoNotFound", "Repository not found")
                if kind == "preupload":
                    files = json.loads(body)["files"]
                    return self._json(
                        200,
                        {
                            "files": [
                                {
                                    "path": f["path"],
                                    "uploadMode": "regular",
                                    "shouldIgnore": False,
                                }
                                for f in files
                            ]
                        },
                    )
                if kind == "commit":
                    parent = repo.resolve(revision)
                    files = dict(repo.commits[parent]) if parent else {}
                    for line in body.decode().splitlines():
                        entry = json.loads(line)
                        if entry["key"] == "file":
                            value = entry["value"]
                            files[value["path"]] = base64.b64decode(value["content"])
                    sha = hub.commit(repo_id, files, branch=revision)
                    return self._json(
                        200,
                        {
                            "commitUrl": f"{hub.endpoint}/{repo_id}/commit/{sha}",
                            "commitOid": sha,
                            "pullRequestUrl": None,
                        },
                    )
            self._error("RepoNotFound", "Unknown route " + "/".join(parts))

    return Handler
