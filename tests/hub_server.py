"""A local, in-memory server speaking the Hugging Face Hub protocol, so tests drive the real
`huggingface_hub` client (and transformers on top of it) end to end.

It implements what the client sends to create a repo, upload (preupload, LFS batch + PUT, NDJSON
commit, pull requests), read repo info and trees, and download (`HEAD`/`GET .../resolve/...`).
Faults can be injected (`fail(...)`) to test what our code does when the Hub misbehaves.

    with HubServer(token="hf_test") as hub:   # HF_ENDPOINT=hub.url
        ...
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HUB_TOKEN = "hf_localtesttoken0123456789"  # what the tests' server accepts
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".png", ".jpg", ".parquet")
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch or refs/pr/N -> commit sha
    commits: dict[str, dict[str, bytes | str]] = field(
        default_factory=dict
    )  # sha -> path -> content
    messages: list[str] = field(default_factory=list)

    def files(self, revision: str) -> dict[str, bytes | str] | None:
        """Files at a branch, PR ref or commit sha; str values are LFS oids."""
        sha = self.refs.get(revision, revision)
        return self.commits.get(sha)

    def resolve(self, revision: str) -> str:
        return self.refs.get(revision, revision)


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` with `status`, close the
    connection without answering when `status` is None, or answer normally after `delay_s`."""

    path: str
    status: int | None
    times: int
    delay_s: float = 0.0


class HubServer:
    def __init__(self, token: str | None = None):
        self.token = token  # when set, writes need "Authorization: Bearer <token>"
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> HubServer:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def fail(self, path: str, status: int | None = 500, times: int = 1_000_000) -> None:
        self.faults.append(Fault(path, status, times))

    def slow(self, path: str, delay_s: float, times: int = 1_000_000) -> None:
        """Answer requests whose path contains `path` only after `delay_s` seconds."""
        self.faults.append(Fault(path, None, times, delay_s))

    def file(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model"
    ) -> bytes:
        content = self.repos[repo_type, repo_id].files(revision)[path]
        return self.lfs[content] if isinstance(content, str) else content

    def edit(self, repo_id: str, path: str, content: bytes, repo_type: str = "model") -> None:
        """Commit a change to main, as someone editing a file on the Hub's website does."""
        repo = self.repos[repo_type, repo_id]
        files = {**repo.files("main"), path: content}
        repo.refs["main"] = self._commit(repo, repo.refs["main"], files, f"Update {path}")

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
                    fault.times -= 1
                    return fault
        return None

    def _commit(self, repo: Repo, parent: str | None, files: dict, message: str) -> str:
        sha = hashlib.sha1(
            f"{parent}{message}{sorted(files)}{len(repo.commits)}".encode()
        ).hexdigest()
        repo.commits[sha] = files
        repo.messages.append(message)
        return sha


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        # --- plumbing ---------------------------------------------------------------------------
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
                  content_type: str = "application/json") -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload, headers: dict | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), headers)

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(
                status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}
            )

        def _authorized(self) -> bool:
            if hub.token is None:
                return True
            header = self.headers.get("Authorization", "")
            hub.authorizations.append(header)
            if header == f"Bearer {hub.token}":
                return True
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return False

        def _repo(self, repo_type: str, repo_id: str) -> Repo | None:
            repo = hub.repos.get((repo_type, repo_id))
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
            return repo

        def _route(self, routes) -> None:
            split = urlsplit(self.path)
            hub.requests.append((self.command, split.path))
            fault = hub._take_fault(split.path)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            elif fault is not None:
                if fault.status is None:  # drop the connection mid-request
                    self.close_connection = True
                    self.connection.close()
                    return
                self._body()
                return self._error(fault.status, "InjectedFault", f"injected HTTP {fault.status}")
            for pattern, action in routes:
                match = re.fullmatch(pattern, split.path)
                if match:
                    groups = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    return action(query=parse_qs(split.query), **groups)
            self._error(404, "NotFound", f"no route for {self.command} {split.path}")

        def do_GET(self) -> None:
            self._route([
                (r"/api/whoami-v2", self.whoami),
                (rf"/api/(?P<kind>models|datasets|spaces)/{REPO}(?:/revision/(?P<rev>.+))?", self.info),
                (rf"/api/(?P<kind>models|datasets|spaces)/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", self.tree),
                (rf"/(?:(?P<kind>datasets|spaces)/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", self.resolve),
            ])  # fmt: skip

        do_HEAD = do_GET

        def do_POST(self) -> None:
            self._route([
                (r"/api/repos/create", self.create),
                (r"/api/validate-yaml", self.validate_yaml),
                (rf"/api/(?P<kind>models|datasets|spaces)/{REPO}/preupload/(?P<rev>.+)", self.preupload),
                (rf"/api/(?P<kind>models|datasets|spaces)/{REPO}/commit/(?P<rev>.+)", self.commit),
                (rf"/api/(?P<kind>models|datasets|spaces)/{REPO}/branch/(?P<branch>.+)", self.branch),
                (rf"/(?:(?P<kind>datasets|spaces)/)?{REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ])  # fmt: skip

        def do_PUT(self) -> None:
            self._route([(r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_put)])

        # --- endpoints --------------------------------------------------------------------------
        def whoami(self, query) -> None:
            if self._authorized():
                self._json(200, {"name": "tester", "type": "user", "orgs": []})

        def create(self, query) -> None:
            payload = json.loads(self._body())
            if not self._authorized():
                return
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}"
            url = f"{hub.url}/{repo_id}"
            if (repo_type, repo_id) in hub.repos:
                return self._json(409, {"error": "You already created this model repo", "url": url})
            repo = Repo(private=payload.get("visibility") == "private")
            repo.refs["main"] = hub._commit(
                repo, None, {".gitattributes": GITATTRIBUTES}, "initial commit"
            )
            hub.repos[repo_type, repo_id] = repo
            self._json(200, {"url": url, "name": repo_id})

        def validate_yaml(self, query) -> None:
            self._body()
            self._json(200, {"errors": [], "warnings": []})

        def preupload(self, kind, repo, rev, query) -> None:
            payload = json.loads(self._body())
            if not self._authorized() or (found := self._repo(TYPES[kind], repo)) is None:
                return
            current = found.files(rev) or {}
            answers = []
            for item in payload["files"]:
                path, lfs = (
                    item["path"],
                    item["path"].endswith(LFS_SUFFIXES) or item["size"] > 10_000_000,
                )
                existing = current.get(path)
                oid = None
                if isinstance(existing, str):
                    oid = existing
                elif existing is not None:
                    oid = git_blob_sha1(existing)
                answers.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                                "shouldIgnore": False, "oid": oid})  # fmt: skip
            self._json(200, {"files": answers})

        def lfs_batch(self, repo, query, kind=None) -> None:
            payload = json.loads(self._body())
            if not self._authorized():
                return
            objects = []
            for obj in payload["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in hub.lfs:
                    entry["actions"] = {"upload": {"href": f"{hub.url}/lfs-upload/{obj['oid']}"}}
                objects.append(entry)
            self._json(200, {"transfer": "basic", "objects": objects})

        def lfs_put(self, oid, query) -> None:
            content = self._body()
            if hashlib.sha256(content).hexdigest() != oid:
                return self._error(400, "BadRequest", "content does not match its oid")
            hub.lfs[oid] = content
            self._send(200)

        def commit(self, kind, repo, rev, query) -> None:
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if not self._authorized() or (found := self._repo(TYPES[kind], repo)) is None:
                return
            files = dict(found.files(rev) or {})
            header = {}
            for line in lines:
                value = line["value"]
                if line["key"] == "header":
                    header = value
                elif line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "lfsFile":
                    if value["oid"] not in hub.lfs:
                        return self._error(
                            422, "BadRequest", f"LFS object {value['oid']} was not uploaded"
                        )
                    files[value["path"]] = value["oid"]
                elif line["key"] == "deletedFile":
                    files.pop(value["path"], None)
            sha = hub._commit(found, found.resolve(rev), files, header.get("summary", ""))
            pr_url = None
            if query.get("create_pr") == ["1"]:
                number = 1 + sum(ref.startswith("refs/pr/") for ref in found.refs)
                found.refs[f"refs/pr/{number}"] = sha
                pr_url = f"{hub.url}/{repo}/discussions/{number}"
            else:
                found.refs[rev] = sha
            self._json(200, {"commitUrl": f"{hub.url}/{repo}/commit/{sha}", "commitOid": sha,
                             "pullRequestUrl": pr_url})  # fmt: skip

        def branch(self, kind, repo, branch, query) -> None:
            payload = json.loads(self._body() or b"{}")
            if not self._authorized() or (found := self._repo(TYPES[kind], repo)) is None:
                return
            if branch in found.refs:
                return self._error(409, "BranchAlreadyExists", f"branch {branch} already exists")
            found.refs[branch] = found.resolve(payload.get("startingPoint") or "main")
            self._json(200, {})

        def _files_or_404(self, kind: str | None, repo: str, rev: str) -> tuple[Repo, dict] | None:
            found = self._repo(TYPES.get(kind or "models", "model"), repo)
            if found is None:
                return None
            files = found.files(rev)
            if files is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                return None
            return found, files

        def info(self, kind, repo, query, rev="main") -> None:
            if (resolved := self._files_or_404(kind, repo, rev)) is None:
                return
            found, files = resolved
            self._json(200, {"id": repo, "sha": found.resolve(rev), "private": found.private,
                             "siblings": [{"rfilename": path} for path in sorted(files)]})  # fmt: skip

        def tree(self, kind, repo, rev, query, path="") -> None:
            if (resolved := self._files_or_404(kind, repo, rev)) is None:
                return
            _, files = resolved
            prefix = path.rstrip("/") + "/" if path else ""
            entries = [self._entry(p, c) for p, c in sorted(files.items()) if p.startswith(prefix)]
            if path and not entries:
                return self._error(404, "EntryNotFound", f"{path} does not exist")
            self._json(200, entries)

        def _entry(self, path: str, content: bytes | str) -> dict:
            if isinstance(content, str):
                size = len(hub.lfs[content])
                return {"type": "file", "path": path, "size": size, "oid": content,
                        "lfs": {"oid": content, "size": size, "pointerSize": 134}}  # fmt: skip
            return {
                "type": "file",
                "path": path,
                "size": len(content),
                "oid": git_blob_sha1(content),
            }

        def resolve(self, repo, rev, path, query, kind=None) -> None:
            if (resolved := self._files_or_404(kind, repo, rev)) is None:
                return
            found, files = resolved
            content = files.get(path)
            if content is None:
                return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}")
            headers = {"X-Repo-Commit": found.resolve(rev)}
            if isinstance(content, str):
                headers |= {
                    "X-Linked-Etag": f'"{content}"',
                    "X-Linked-Size": str(len(hub.lfs[content])),
                }
                headers["ETag"], content = f'"{content}"', hub.lfs[content]
            else:
                headers["ETag"] = f'"{git_blob_sha1(content)}"'
            self._send(200, content, headers, "application/octet-stream")

    return Handler


__all__ = ["HUB_TOKEN", "HubServer"]
