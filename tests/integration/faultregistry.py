"""A small registry that misbehaves on purpose: standard library ``http.server`` on 127.0.0.1.

It serves the read side of the distribution API (``/v2/``, manifests by tag or digest, blobs)
from memory, optionally behind a Bearer-token challenge (with a ``/token`` realm that checks
Basic credentials) or plain Basic auth, and injects faults on matching requests:

- ``429``: Too Many Requests with ``Retry-After: <value>``
- ``500`` / ``503``: a server error
- ``reset``: close the connection without answering
- ``truncate``: announce the full ``Content-Length``, send half the body, close
- ``corrupt``: the full length, wrong bytes (a digest mismatch)
- ``slow``: wait ``value`` seconds before answering
- ``hang``: never answer (until the server stops)
- ``drip``: the right status and ``Content-Length``, then the body one byte every ``value``
  seconds; ``drip-headers``: the status line and headers themselves, one byte every ``value``
  seconds (both stop after ``DRIP_FOR`` seconds at most, or when the server stops)
- ``oversize``: the body followed by ``value`` MiB more (``Content-Length`` says so, unless
  ``extra`` is ``"unannounced"``: then no length and the connection closes at the end)
- ``endless``: 200, no ``Content-Length``, zeros until the client hangs up (or ``value`` GiB)
- ``redirect``: ``307`` to ``extra`` (a URL, absolute or relative)
- ``challenge``: ``401`` with ``WWW-Authenticate: <extra>``

Each fault applies to requests whose path contains ``match`` (and method), ``times`` times
(``None``: always).  Besides the distribution API, ``files`` (path -> bytes) are served as
they are (a classic chart repository's ``index.yaml`` and archives), under the same faults.
Used by ``test_warm_faults.py``, ``test_charts_fetch.py`` and ``tests/regressions``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: the longest a drip-feeding fault keeps a connection (the tests' loops are bounded)
DRIP_FOR = 60.0


@dataclass
class Fault:
    match: str
    kind: str
    times: int | None = 1
    value: float = 1.0
    method: str | None = None
    hits: int = 0
    extra: str = ""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FaultRegistry:
    def __init__(self, *, bearer: tuple[str, str] | None = None, basic: tuple[str, str] | None = None):
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, authorization scheme)
        self.token_requests: list[str] = []
        self.bearer = bearer
        self.basic = basic
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                registry._handle(self, "GET")

            def do_HEAD(self):
                registry._handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # -- content --------------------------------------------------------------------------

    def add_blob(self, data: bytes) -> dict:
        digest = _digest(data)
        self.blobs[digest] = data
        return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": len(data)}

    def add_image(self, repo: str, tag: str, layers: list[bytes]) -> str:
        """An image with a small config and ``layers``; returns the manifest digest."""
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
                "repo": repo,
                "tag": tag,
            }
        ).encode()
        cdesc = self.add_blob(config)
        cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cdesc,
            "layers": [self.add_blob(layer) for layer in layers],
        }
        body = json.dumps(doc).encode()
        digest = _digest(body)
        self.manifests[(repo, tag)] = (doc["mediaType"], body)
        self.manifests[(repo, digest)] = (doc["mediaType"], body)
        return digest

    def add_index(self, repo: str, tag: str, children: list[tuple[str, dict]]) -> str:
        """An image index over manifests already added (``(digest, platform)`` pairs)."""
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "size": len(self.manifests[(repo, digest)][1]),
                    "platform": platform,
                }
                for digest, platform in children
            ],
        }
        body = json.dumps(doc).encode()
        digest = _digest(body)
        self.manifests[(repo, tag)] = (doc["mediaType"], body)
        self.manifests[(repo, digest)] = (doc["mediaType"], body)
        return digest

    def fault(
        self,
        match: str,
        kind: str,
        times: int | None = 1,
        value: float = 1.0,
        method: str | None = None,
        extra: str = "",
    ) -> Fault:
        fault = Fault(match, kind, times, value, method, extra=extra)
        self.faults.append(fault)
        return fault

    # -- serving --------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match in path and (fault.method is None or fault.method == method):
                    if fault.times is None or fault.hits < fault.times:
                        fault.hits += 1
                        return fault
        return None

    def _drip(self, h, data: bytes, every: float) -> None:
        end = time.monotonic() + DRIP_FOR
        try:
            for i in range(len(data)):
                if self.stopping.wait(every) or time.monotonic() > end:
                    break
                h.wfile.write(data[i : i + 1])
                h.wfile.flush()
        except OSError:
            pass
        h.close_connection = True

    def _send(
        self,
        h,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        head: bool = False,
        fault: Fault | None = None,
    ) -> None:
        if fault is not None and fault.kind == "drip-headers":
            lines = [f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
            lines.append(f"Content-Length: {len(body)}")
            return self._drip(h, ("\r\n".join(lines) + "\r\n\r\n").encode() + body, fault.value)
        if fault is not None and fault.kind == "oversize" and not head:
            more = b"\0" * int(fault.value * (1 << 20))
            h.send_response(status)
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            if fault.extra != "unannounced":
                h.send_header("Content-Length", str(len(body) + len(more)))
            h.end_headers()
            try:
                h.wfile.write(body + more)
            except OSError:
                pass
            h.close_connection = True
            return
        if fault is not None and fault.kind == "endless" and not head:
            h.send_response(status)
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            chunk = b"\0" * (1 << 16)
            try:
                for _ in range(int(fault.value * (1 << 14))):
                    if self.stopping.is_set():
                        break
                    h.wfile.write(chunk)
            except OSError:
                pass
            h.close_connection = True
            return
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        h.end_headers()
        if head:
            return
        if fault is not None and fault.kind == "drip":
            return self._drip(h, body, fault.value)
        h.wfile.write(body)

    def _truncated(self, h, data: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True

    def _error(self, h, status: int, code: str, message: str, headers: dict | None = None, head=False) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._send(h, status, body, {"Content-Type": "application/json", **(headers or {})}, head)

    def _authorized(self, h, repo: str | None) -> bool:
        auth = h.headers.get("Authorization") or ""
        if self.bearer:
            scope = f"repository:{repo}:pull" if repo else ""
            if auth == f"Bearer tok-{scope}" or (not repo and auth.startswith("Bearer tok-")):
                return True
            params = f'realm="{self.url}/token",service="fault-registry"' + (f',scope="{scope}"' if scope else "")
            self._error(h, 401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": f"Bearer {params}"})
            return False
        if self.basic:
            expected = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if auth == expected:
                return True
            self._error(
                h, 401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": 'Basic realm="fault-registry"'}
            )
            return False
        return True

    def _handle(self, h, method: str) -> None:
        path = h.path
        auth = (h.headers.get("Authorization") or "").split(" ")[0]
        with self.lock:
            self.requests.append((method, path, auth))
        head = method == "HEAD"
        if path.startswith("/token"):
            return self._token(h, self._take_fault(method, path))
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "redirect":
            return self._send(h, 307, b"", {"Location": fault.extra}, head)
        if fault is not None and fault.kind == "challenge":
            return self._error(
                h, 401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": fault.extra}, head
            )
        if fault is not None and fault.kind in ("reset", "hang", "slow", "429", "500", "503"):
            if fault.kind == "reset":
                h.close_connection = True
                h.connection.close()
                return
            if fault.kind == "hang":
                self.stopping.wait(60)
                h.close_connection = True
                return
            if fault.kind == "slow":
                self.stopping.wait(fault.value)
            elif fault.kind == "429":
                value = fault.value
                header = (
                    str(int(value))
                    if value >= 0
                    else time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - value))
                )
                return self._error(h, 429, "TOOMANYREQUESTS", "slow down", {"Retry-After": header}, head)
            else:
                return self._error(h, int(fault.kind), "UNKNOWN", "injected server error", None, head)
        if path.split("?")[0] in self.files:
            data = self.files[path.split("?")[0]]
            if fault is not None and fault.kind == "truncate":
                return self._truncated(h, data)
            return self._send(h, 200, data, {"Content-Type": "application/octet-stream"}, head, fault)
        if path == "/v2/" or path == "/v2":
            if self._authorized(h, None):
                self._send(h, 200, b"{}", {"Content-Type": "application/json"}, head)
            return
        rest = path.removeprefix("/v2/")
        for marker in ("/manifests/", "/blobs/"):
            if marker in rest:
                repo, _, ref = rest.partition(marker)
                break
        else:
            return self._error(h, 404, "NOT_FOUND", "not found", None, head)
        if not self._authorized(h, repo):
            return
        if marker == "/manifests/":
            found = self.manifests.get((repo, ref))
            if found is None:
                known = any(r == repo for r, _ in self.manifests)
                code = "MANIFEST_UNKNOWN" if known else "NAME_UNKNOWN"
                return self._error(
                    h, 404, code, "manifest unknown" if known else "repository name not known to registry", None, head
                )
            media_type, body = found
            return self._send(
                h, 200, body, {"Content-Type": media_type, "Docker-Content-Digest": _digest(body)}, head, fault
            )
        data = self.blobs.get(ref)
        if data is None:
            return self._error(h, 404, "BLOB_UNKNOWN", "blob unknown to registry", None, head)
        if fault is not None and fault.kind == "truncate":
            return self._truncated(h, data)
        if fault is not None and fault.kind == "corrupt":
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        # served from its own storage, as distribution does it (Cache-Control: max-age)
        self._send(
            h,
            200,
            data,
            {
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": ref,
                "Cache-Control": "max-age=31536000",
            },
            head,
            fault,
        )

    def _token(self, h, fault: Fault | None = None) -> None:
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(h.path).query)
        scope = (query.get("scope") or [""])[0]
        with self.lock:
            self.token_requests.append(scope)
        user, password = self.bearer or ("", "")
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        anonymous_ok = not user and not h.headers.get("Authorization")  # bearer=("", ""): public images
        if h.headers.get("Authorization") != expected and not anonymous_ok:
            return self._error(h, 401, "UNAUTHORIZED", "bad credentials")
        body = json.dumps({"token": f"tok-{scope}", "expires_in": 300}).encode()
        self._send(h, 200, body, {"Content-Type": "application/json"}, fault=fault)
