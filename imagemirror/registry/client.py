"""A small client for the OCI distribution API, for warming caches: GET manifests and stream
blobs (discarded, sha256-verified, constant memory).

- one urllib3 ``PoolManager`` (keep-alive connections pooled per host, sized for ``jobs``);
- blobs read in 1 MiB chunks and hashed as they arrive;
- auth: the ``WWW-Authenticate`` challenge decides -- ``Basic`` with the host's credentials,
  or ``Bearer`` tokens fetched from the realm per repository scope (cached until expiry);
  ECR hosts get their Basic token up front;
- HTTPS verified against ``ca_bundle`` / ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``, or plain
  HTTP with ``insecure``;
- retries with exponential backoff and jitter on 429 (``Retry-After`` honoured), 500/502/503/
  504, connection errors, timeouts and truncated or corrupt bodies; per-read timeouts; an
  overall deadline that no sleep, connect or read goes past;
- ``Authorization`` and tokens never reach a log line (see :func:`redact`);
- only ``http``/``https`` URLs are ever dialled (requests, redirects, token realms);
  credentials go only to the origin they belong to: a redirect that changes the scheme, the
  host or the port drops them (like curl);
- every response body is read up to a cap (manifests 4 MiB, tokens 1 MiB, ``get``'s
  ``limit``), and the overall deadline is a wall clock: when it passes, every socket still
  open is shut, so a server that drip-feeds a response cannot hold a run past it.

Besides the distribution API (manifests, blobs, tags), :meth:`RegistryClient.get` is a plain
bounded GET of an absolute ``http(s)`` URL with the same auth, retries and deadline (classic
chart repositories' ``index.yaml`` and ``.tgz``).

urllib3 is imported when a client is made, never at CLI start-up.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass
from typing import Callable

from ..errors import ServiceError
from .auth import CredentialError, Credentials, CredentialStore, ecr_host, parse_challenge, scrub, secrets_of

log = logging.getLogger("imagemirror.registry")

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT_MANIFESTS = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
MAX_MANIFEST_BYTES = 4 << 20  # ECR's and distribution's manifest limit
MAX_TOKEN_BYTES = 1 << 20
MAX_TAGS_BYTES = 16 << 20
MAX_ERROR_BYTES = 64 << 10
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
CHUNK = 64 << 10
#: blob reads: large enough that hashing and the Python loop cost little per byte, small
#: enough that ``jobs`` streams stay far below any memory concern (constant memory)
BLOB_CHUNK = 1 << 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SENSITIVE = frozenset({"authorization", "proxy-authorization", "x-registry-auth", "cookie", "set-cookie"})


class RegistryError(ServiceError):
    """A registry request that failed; ``status``/``code`` as the registry said them."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        auth: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        #: for 401s: "missing" (no credentials were available) or "rejected"
        self.auth = auth


class DeadlineExceeded(RegistryError):
    pass


def _origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, the default port filled in (``https://h`` is
    ``https://h:443``)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "", "", 0
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _check_scheme(url: str, what: str) -> None:
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:
        raise RegistryError(f"{what}: not a valid URL") from None
    if scheme not in ("http", "https"):
        raise RegistryError(f"{what}: refusing {scheme or 'a relative'}:// URL {safe_url(url)!r} (only http and https)")


def safe_url(url: str) -> str:
    """A URL fit for a message: no user info, query or fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<an invalid URL>"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{':' + str(port) if port else ''}{parts.path}"


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    return name.strip("[]").lower() in LOOPBACK


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def doc(self) -> dict:
        return json.loads(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass(frozen=True)
class BlobResult:
    digest: str
    size: int
    attempts: int
    #: True: served from the registry's own storage; False: streamed through from upstream;
    #: None: the response carried no evidence either way (see ``cache_evidence``).
    cached: bool | None
    #: whether the registry redirected the GET (the evidence then came from the redirect)
    redirected: bool = False


def redact(headers: dict) -> dict:
    """Headers safe to log: credentials replaced by ``<redacted>``."""
    return {k: ("<redacted>" if k.lower() in SENSITIVE else v) for k, v in headers.items()}


def cache_evidence(headers, redirected_to: str | None) -> bool | None:
    """Whether a blob response shows it came from the cache's own storage.

    - A redirect into S3 (``*.s3.*amazonaws.com``, where ECR keeps layers) -> cached; a redirect
      elsewhere (an upstream's blob storage, as ECR does on a first pull) -> fetched.
    - The distribution registry serves blobs from its own storage with ``Cache-Control:
      max-age=...`` (and ``Accept-Ranges``); a pull-through proxy streaming a blob from its
      remote sends neither -> fetched.  Without ``Docker-Distribution-Api-Version`` we cannot
      tell -> None.
    """
    if redirected_to is not None:
        host = urllib.parse.urlsplit(redirected_to).hostname or ""
        return ".s3." in f".{host}" and host.endswith(".amazonaws.com") or host.startswith("s3.")
    if "max-age" in (headers.get("Cache-Control") or ""):
        return True
    if headers.get("Docker-Distribution-Api-Version"):
        return False
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_message(body: bytes) -> tuple[str | None, str]:
    try:
        errors = json.loads(body.decode("utf-8", "replace")).get("errors") or []
        first = errors[0]
        return first.get("code"), str(first.get("message") or first.get("code"))
    except (ValueError, AttributeError, IndexError, TypeError):
        text = " ".join(body.decode("utf-8", "replace").split())[:200]
        return None, text


def _tracking_pools(urllib3, conns: weakref.WeakSet) -> dict:
    """Connection pools whose connections register themselves in ``conns`` once connected."""
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    # (named as urllib3's own: their names appear in urllib3's connection error messages)
    class HTTPConnection(urllib3.connection.HTTPConnection):
        def connect(self):
            super().connect()
            conns.add(self)

    class HTTPSConnection(urllib3.connection.HTTPSConnection):
        def connect(self):
            super().connect()
            conns.add(self)

    class Pool(HTTPConnectionPool):
        ConnectionCls = HTTPConnection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = HTTPSConnection

    return {"http": Pool, "https": TLSPool}


def default_ca_bundle() -> str | None:
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(var)
        if value and os.path.isfile(value):
            return value
    return None


class RegistryClient:
    """Talks to any number of registry hosts; safe to share between threads."""

    def __init__(
        self,
        credentials: CredentialStore | None = None,
        *,
        insecure: bool = False,
        ca_bundle: str | None = None,
        jobs: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        deadline: float | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "imagemirror",
        addresses: dict[str, str] | None = None,
        plain_http_loopback: bool = False,
    ):
        import urllib3

        self._urllib3 = urllib3
        self.credentials = credentials or CredentialStore()
        self.scheme = "http" if insecure else "https"
        #: plain HTTP for localhost / 127.0.0.1 / ::1 registries (as Helm does for OCI charts)
        self.plain_http_loopback = plain_http_loopback
        self.clock = clock
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline_at = None if deadline is None else clock() + deadline
        self.user_agent = user_agent
        #: host -> "ip:port" to connect to instead (like curl's --connect-to; split-horizon DNS, tests)
        self.addresses = dict(addresses or {})
        ca = ca_bundle or default_ca_bundle()
        #: every connection this client opened (see :meth:`_expire`)
        self._conns: weakref.WeakSet = weakref.WeakSet()
        self._expired = False
        self._watch: threading.Timer | None = None
        self.pool = urllib3.PoolManager(
            num_pools=32,
            # warm_images runs three pools of ``jobs`` (manifests, blobs, confirmations) against
            # one host: every one of them keeps its connection alive (no discarded sockets)
            maxsize=max(2, 3 * jobs + 1),
            block=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca,
            retries=False,
        )
        self.pool.pool_classes_by_scheme = _tracking_pools(urllib3, self._conns)
        self._lock = threading.Lock()
        self._challenges: dict[str, tuple[str, dict]] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        if deadline is not None:
            # the deadline is a wall clock: per-read timeouts cannot bound a server that sends
            # one byte every few seconds, so at the deadline every open socket is shut
            self._watch = threading.Timer(max(0.0, deadline), self._expire)
            self._watch.daemon = True
            self._watch.start()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self.pool.clear()

    def scheme_for(self, host: str) -> str:
        if self.scheme == "https" and self.plain_http_loopback and is_loopback(self.addresses.get(host, host)):
            return "http"
        return self.scheme

    def _expire(self) -> None:
        """The deadline passed: shut every socket still open (a blocked read returns at once)."""
        self._expired = True
        for conn in list(self._conns):
            sock = getattr(conn, "sock", None)
            if sock is None:
                continue
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError, ValueError):
                pass

    # -- public operations -------------------------------------------------------------

    def check(self, host: str) -> None:
        """``GET /v2/``: the host speaks the API and our credentials are accepted."""
        self._retrying(f"{host}/v2/", lambda: self._drain(self._call("GET", host, "/v2/", None)))

    def get(self, url: str, *, limit: int, what: str | None = None, accept: str | None = None) -> bytes:
        """GET an absolute ``http(s)`` URL (a classic chart repository's ``index.yaml`` or
        ``.tgz``): the body, at most ``limit`` bytes; auth, retries and the deadline as for the
        registry API.  Any other scheme is refused before anything is dialled."""
        label = what or safe_url(url)
        _check_scheme(url, label)
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc

        def attempt() -> bytes:
            resp = self._call(
                "GET", host, parts.path or "/", None, {"Accept": accept} if accept else None, url=url, label=label
            )
            try:
                return self._read_limited(resp, limit, label, "response")
            finally:
                resp.release_conn()

        return self._retrying(label, attempt)

    def get_tags(self, host: str, repo: str) -> list[str]:
        """``GET /v2/<repo>/tags/list`` (following ``Link: <...>; rel="next"`` pages)."""
        what = f"{host}/{repo}: listing tags"
        path = f"/v2/{repo}/tags/list"
        tags: list[str] = []
        for _page in range(100):

            def attempt(path=path):
                resp = self._call("GET", host, path, repo, {"Accept": "application/json"})
                try:
                    return self._read_limited(resp, MAX_TAGS_BYTES, what, "tag list"), resp.headers.get("Link")
                finally:
                    resp.release_conn()

            body, link = self._retrying(what, attempt)
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: the answer is not JSON") from None
            tags.extend(str(t) for t in page if isinstance(t, str))
            found = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link or "")
            if not found:
                return tags
            target = urllib.parse.urlsplit(urllib.parse.urljoin(f"https://{host}{path}", found.group(1)))
            path = target.path + (f"?{target.query}" if target.query else "")
            if not path.startswith(f"/v2/{repo}/tags/list"):
                raise RegistryError(f"{what}: the next page points elsewhere ({path[:80]!r})")
        raise RegistryError(f"{what}: more than 100 pages of tags")

    def get_blob_bytes(self, host: str, repo: str, digest: str, limit: int) -> bytes:
        """A small blob in memory (a Helm chart layer), at most ``limit`` bytes, sha256-verified."""
        what = f"{host}/{repo}@{digest}"
        if not digest.startswith("sha256:"):
            raise RegistryError(f"{what}: only sha256 digests can be verified")

        def attempt() -> bytes:
            resp = self._call("GET", host, f"/v2/{repo}/blobs/{digest}", repo)
            try:
                body = self._read_limited(resp, limit, what, "blob")
            finally:
                resp.release_conn()
            if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                raise RegistryError(f"{what}: blob digest mismatch", retryable=True)
            return body

        return self._retrying(what, attempt)

    def get_manifest(self, host: str, repo: str, reference: str, accept: str = ACCEPT_MANIFESTS) -> Manifest:
        """GET a manifest (by tag or digest), checked against its digest."""
        what = f"{host}/{repo}{'@' if ':' in reference else ':'}{reference}"

        def attempt() -> Manifest:
            resp = self._call("GET", host, f"/v2/{repo}/manifests/{reference}", repo, {"Accept": accept})
            try:
                body = self._read_limited(resp, MAX_MANIFEST_BYTES, what, "manifest")
            finally:
                resp.release_conn()
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            expected = reference if reference.startswith("sha256:") else None
            header = resp.headers.get("Docker-Content-Digest")
            if expected is None and header and header.startswith("sha256:"):
                expected = header
            if expected is not None and digest != expected:
                raise RegistryError(
                    f"{what}: manifest digest mismatch (got {digest}, expected {expected})", retryable=True
                )
            media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                doc = json.loads(body)
            except ValueError:
                raise RegistryError(f"{what}: manifest is not JSON", retryable=True) from None
            media_type = doc.get("mediaType") or media_type
            if media_type not in INDEX_TYPES | IMAGE_TYPES:
                if "manifests" in doc:
                    media_type = OCI_INDEX
                elif "layers" in doc:
                    media_type = OCI_MANIFEST
                else:
                    raise RegistryError(f"{what}: unsupported manifest type {media_type or 'unknown'!r}")
            return Manifest(digest, media_type, body)

        return self._retrying(what, attempt)

    def fetch_blob(
        self,
        host: str,
        repo: str,
        digest: str,
        size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> BlobResult:
        """GET a blob as a stream, discard it, verify its sha256 (and size); retry if it is cut."""
        what = f"{host}/{repo}@{digest}"
        if not digest.startswith("sha256:"):
            raise RegistryError(f"{what}: only sha256 digests can be verified")
        attempts = 0

        def attempt() -> BlobResult:
            nonlocal attempts
            attempts += 1
            redirected: list[str] = []
            resp = self._call("GET", host, f"/v2/{repo}/blobs/{digest}", repo, stream=True, redirects=redirected)
            hasher = hashlib.sha256()
            got = 0
            ok = False
            try:
                length = resp.headers.get("Content-Length") or ""
                if size is not None and length.isdigit() and int(length) > size:
                    raise RegistryError(
                        f"{what}: the registry sends {length} bytes, more than the {size} "
                        "its descriptor gives (not retried)"
                    )
                for chunk in resp.stream(BLOB_CHUNK):
                    hasher.update(chunk)
                    got += len(chunk)
                    if size is not None and got > size:
                        raise RegistryError(
                            f"{what}: blob larger than the {size} bytes its descriptor gives (not retried)"
                        )
                    if progress is not None:
                        progress(len(chunk))
                    self._check_deadline(what)
                self._check_deadline(what)  # a socket shut at the deadline ends a body early
                ok = True
            except self._urllib3.exceptions.HTTPError as exc:
                raise self._transport_error(what, exc) from None
            finally:
                if not ok:
                    resp.close()
                resp.release_conn()
            actual = "sha256:" + hasher.hexdigest()
            if (size is not None and got != size) or actual != digest:
                detail = f"got {got} bytes" + (f" of {size}" if size is not None else "")
                raise RegistryError(
                    f"{what}: blob digest mismatch ({detail}, sha256 {actual[7:19]}...)", retryable=True
                )
            cached = cache_evidence(resp.headers, redirected[-1] if redirected else None)
            return BlobResult(digest, got, attempts, cached, bool(redirected))

        return self._retrying(what, attempt)

    def blob_stored(self, host: str, repo: str, digest: str) -> bool | None:
        """HEAD a blob: does the registry now serve it from its own storage?  (A distribution
        pull-through proxy stores a blob in the background while streaming it to the first
        client, so "fetched" is not yet "cached".)  None when the answer carries no evidence."""
        what = f"{host}/{repo}@{digest}"

        def attempt():
            resp = self._call("HEAD", host, f"/v2/{repo}/blobs/{digest}", repo)
            self._drain(resp)
            return cache_evidence(resp.headers, None)

        return self._retrying(what, attempt)

    def manifest_served(self, host: str, repo: str, digest: str) -> bool:
        """Whether the registry serves the manifest ``digest`` (GET by digest, verified)."""
        try:
            self.get_manifest(host, repo, digest)
        except RegistryError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def manifest_digest(self, host: str, repo: str, reference: str) -> str:
        """The digest ``reference`` (a tag) resolves to: a HEAD (Docker Hub does not count it as a
        pull), its ``Docker-Content-Digest``; a GET, verified, when the registry sends none."""
        what = f"{host}/{repo}:{reference}"

        def attempt() -> str | None:
            resp = self._call("HEAD", host, f"/v2/{repo}/manifests/{reference}", repo, {"Accept": ACCEPT_MANIFESTS})
            self._drain(resp)
            header = resp.headers.get("Docker-Content-Digest") or ""
            return header if re.fullmatch(r"sha256:[0-9a-f]{64}", header) else None

        return self._retrying(what, attempt) or self.get_manifest(host, repo, reference).digest

    # -- retries and deadline -----------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline_at is None else self.deadline_at - self.clock()

    def _check_deadline(self, what: str) -> None:
        left = self.remaining()
        if self._expired or (left is not None and left <= 0):
            raise DeadlineExceeded(f"{what}: deadline exceeded")

    def _delay(self, attempt: int, error: RegistryError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, 300.0)
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base / 2 + random.uniform(0, base / 2)

    def _retrying(self, what: str, func):
        attempt = 0
        while True:
            self._check_deadline(what)
            try:
                return func()
            except DeadlineExceeded:
                raise
            except RegistryError as exc:
                if not exc.retryable or attempt >= self.retries:
                    if exc.retryable and attempt:
                        raise RegistryError(
                            f"{exc} (after {attempt + 1} attempts)",
                            status=exc.status,
                            code=exc.code,
                            auth=exc.auth,
                        ) from None
                    raise
                delay = self._delay(attempt, exc)
                left = self.remaining()
                if left is not None and delay >= left:
                    raise DeadlineExceeded(f"{exc} (no time left to retry before the deadline)") from None
                log.info("retrying %s in %.1fs: %s", what, delay, exc)
                self.sleep(delay)
                attempt += 1

    # -- one HTTP exchange: auth challenge and redirects ------------------------------------

    def _timeout(self):
        left = self.remaining()
        connect, read = self.connect_timeout, self.read_timeout
        if self._expired:
            raise DeadlineExceeded("deadline exceeded")
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded("deadline exceeded")
            connect, read = min(connect, left), min(read, left)
        return self._urllib3.Timeout(connect=connect, read=read)

    def _transport_error(self, what: str, exc: Exception) -> RegistryError:
        exceptions = self._urllib3.exceptions
        reason = getattr(exc, "reason", None) or exc
        left = self.remaining()
        if self._expired or (left is not None and left <= 0):
            return DeadlineExceeded(f"{what}: deadline exceeded")
        if isinstance(exc, exceptions.LocationParseError):
            return RegistryError(f"{what}: not a valid URL")
        if isinstance(exc, exceptions.SSLError) or isinstance(reason, exceptions.SSLError):
            return RegistryError(
                f"{what}: TLS failed: {_short(reason)} (give the CA with --ca-bundle, or --insecure for plain HTTP)"
            )
        if isinstance(exc, exceptions.NewConnectionError):  # a ConnectTimeoutError subclass in urllib3 2
            return RegistryError(f"{what}: connection failed: {_short(reason)}", retryable=True)
        if isinstance(exc, (exceptions.ReadTimeoutError, exceptions.ConnectTimeoutError)):
            return RegistryError(f"{what}: timed out", retryable=True)
        return RegistryError(f"{what}: connection failed: {_short(reason)}", retryable=True)

    def _send(self, method: str, url: str, headers: dict, *, stream: bool, body=None, what: str | None = None):
        headers = {"User-Agent": self.user_agent, **headers}
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s", method, url, redact(headers))
        try:
            resp = self.pool.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=self._timeout(),
            )
        except self._urllib3.exceptions.HTTPError as exc:
            raise self._transport_error(what or safe_url(url), exc) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("-> %s %s", resp.status, redact(dict(resp.headers)))
        return resp

    def _call(
        self,
        method: str,
        host: str,
        path: str,
        repo: str | None,
        headers: dict | None = None,
        *,
        stream: bool = False,
        redirects: list | None = None,
        url: str | None = None,
        label: str | None = None,
    ):
        """One exchange: the auth challenge and redirects.  ``url``: an absolute URL instead of
        ``host`` + ``path`` (``host`` is then its ``host:port``).  Credentials go only to the
        origin of the first URL (scheme, host and port); a redirect anywhere else -- another
        host, a downgrade to http, another port -- is followed without them."""
        if url is None:
            origin = self.addresses.get(host, host)
            url = f"{self.scheme_for(host)}://{origin}{path}"
        what = label or f"{host}{_describe(path)}"
        home = _origin(url)
        netloc = urllib.parse.urlsplit(url).netloc
        authed_retry = False
        for _hop in range(8):
            _check_scheme(url, what)
            same_origin = _origin(url) == home
            hdrs = dict(headers or {})
            if same_origin and netloc != host:
                hdrs["Host"] = host
            if same_origin:
                auth = self._auth_header(host, repo)
                if auth:
                    hdrs["Authorization"] = auth
            resp = self._send(method, url, hdrs, stream=stream, what=what)
            status = resp.status
            if status == 401 and same_origin and not authed_retry:
                challenge = resp.headers.get("WWW-Authenticate", "")
                self._drain(resp)
                self._on_challenge(host, repo, challenge)
                authed_retry = True
                continue
            if status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                self._drain(resp)
                try:
                    url = urllib.parse.urljoin(url, resp.headers["Location"])
                except ValueError:
                    raise RegistryError(f"{what}: redirect to an invalid URL") from None
                _check_scheme(url, f"{what}: redirect")
                if redirects is not None:
                    redirects.append(url)
                if status == 303:
                    method = "GET"
                continue
            if 200 <= status < 300:
                return resp
            body = self._read_quietly(resp)
            raise self._status_error(host, path, status, resp.headers, body, what)
        raise RegistryError(f"{what}: too many redirects")

    def _status_error(
        self, host: str, path: str, status: int, headers, body: bytes, what: str | None = None
    ) -> RegistryError:
        code, message = _error_message(body)
        message = self._scrub(host, message)
        what = what or f"{host}{_describe(path)}"
        text = f"{what}: HTTP {status}" + (f" {message}" if message else "")
        if status == 401:
            creds = self._creds_or_none(host)
            auth = "rejected" if creds else "missing"
            text = f"{what}: authentication failed (HTTP 401" + (f", {message}" if message else "") + ")"
            text += f"; credentials from {creds.source} were rejected" if creds else f"; no credentials for {host}"
            return RegistryError(text, status=status, code=code, auth=auth)
        if status in RETRY_STATUSES:
            return RegistryError(
                text,
                status=status,
                code=code,
                retryable=True,
                retry_after=parse_retry_after(headers.get("Retry-After")),
            )
        return RegistryError(text, status=status, code=code)

    def _scrub(self, host: str, text: str) -> str:
        """Server text with every credential this client holds, and anything shaped like an
        ``Authorization`` value, masked: a registry or proxy may echo the request back."""
        secrets = []
        for header, _expiry in list(self._tokens.values()):
            secrets += [header, header.split(" ", 1)[-1]]
        return scrub(text, secrets + secrets_of(self._creds_or_none(host)))

    def _creds_or_none(self, host: str) -> Credentials | None:
        try:
            return self.credentials.get(host)
        except CredentialError:
            return None

    # -- auth ------------------------------------------------------------------------------

    def _scope(self, repo: str | None) -> str:
        return f"repository:{repo}:pull" if repo else ""

    def _auth_header(self, host: str, repo: str | None) -> str | None:
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            if ecr_host(host):  # ECR answers Basic with its token; skip the 401 round trip
                creds = self.credentials.get(host)
                return creds.basic() if creds else None
            return None
        scheme, params = challenge
        if scheme == "basic":
            creds = self.credentials.get(host)
            return creds.basic() if creds else None
        if scheme == "bearer":
            scope = self._scope(repo)
            with self._lock:
                cached = self._tokens.get((host, scope))
            if cached and cached[1] > self.clock():
                return cached[0]
            return self._fetch_token(host, scope, params)
        return None

    def _on_challenge(self, host: str, repo: str | None, header: str) -> None:
        scheme, params = parse_challenge(header) if header else ("basic", {})
        if scheme not in ("basic", "bearer"):
            raise RegistryError(f"{host}: unsupported auth scheme {scheme!r}", status=401)
        with self._lock:
            self._challenges[host] = (scheme, params)
            # a 401 with a cached token means the token went stale: fetch a new one
            self._tokens.pop((host, self._scope(repo)), None)
        if scheme == "basic" and self._creds_or_none(host) is None:
            # retrying without credentials would only repeat the 401
            try:
                self.credentials.get(host)
            except CredentialError as exc:
                raise RegistryError(f"{host}: authentication required; {exc}", status=401, auth="missing") from None
            raise RegistryError(
                f"{host}: authentication required (HTTP 401) and no credentials for {host}",
                status=401,
                auth="missing",
            )

    def _fetch_token(self, host: str, scope: str, params: dict) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{host}: Bearer challenge without a realm", status=401)
        _check_scheme(realm, f"{host}: token realm")
        creds = self.credentials.get(host)
        if creds is not None and _origin(realm)[0] == "http" and self.scheme_for(host) == "https":
            creds = None  # never send credentials in clear text to a realm an https registry names
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        headers: dict[str, str] = {"Accept": "application/json"}
        if creds and creds.identity_token:
            form = urllib.parse.urlencode(
                {**query, "grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": "imagemirror"}
            )
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self._send("POST", realm, headers, stream=False, body=form.encode())
        else:
            if creds:
                headers["Authorization"] = creds.basic()
            sep = "&" if urllib.parse.urlsplit(realm).query else "?"
            resp = self._send(
                "GET", realm + (sep + urllib.parse.urlencode(query) if query else ""), headers, stream=False
            )
        if resp.status == 200:
            try:
                body = self._read_limited(resp, MAX_TOKEN_BYTES, f"{host}: token service", "token response")
            finally:
                resp.release_conn()
        else:
            body = self._read_quietly(resp)
        if resp.status == 401 or resp.status == 403:
            who = f"credentials from {creds.source} were rejected" if creds else f"no credentials for {host}"
            raise RegistryError(
                f"{host}: authentication failed at the token service (HTTP {resp.status}); {who}",
                status=401,
                auth="rejected" if creds else "missing",
            )
        if resp.status != 200:
            raise RegistryError(
                f"{host}: token service answered HTTP {resp.status}",
                status=resp.status,
                retryable=resp.status in RETRY_STATUSES,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
            expires = float(data.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token:
            raise RegistryError(f"{host}: token service returned no token", status=401)
        header = f"Bearer {token}"
        with self._lock:
            self._tokens[(host, scope)] = (header, self.clock() + max(5.0, expires - 10))
        return header

    # -- bodies ------------------------------------------------------------------------------

    def _read_limited(self, resp, limit: int, what: str, kind: str = "manifest") -> bytes:
        """The body, at most ``limit`` bytes (larger: an error at once, not retried)."""
        chunks = []
        total = 0
        length = resp.headers.get("Content-Length") or ""
        if length.isdigit() and int(length) > limit:
            resp.close()
            raise RegistryError(f"{what}: {kind} larger than {_size(limit)} ({length} bytes announced)")
        try:
            for chunk in resp.stream(CHUNK):
                total += len(chunk)
                if total > limit:
                    resp.close()
                    raise RegistryError(f"{what}: {kind} larger than {_size(limit)}")
                chunks.append(chunk)
                self._check_deadline(what)
        except self._urllib3.exceptions.HTTPError as exc:
            resp.close()
            raise self._transport_error(what, exc) from None
        self._check_deadline(what)  # a socket shut at the deadline ends a body early
        return b"".join(chunks)

    def _read_quietly(self, resp, limit: int = MAX_ERROR_BYTES) -> bytes:
        try:
            return self._read_limited(resp, limit, "response")
        except RegistryError:
            return b""
        finally:
            resp.release_conn()

    def _drain(self, resp) -> None:
        """Discard a body we do not want (a 401's, a redirect's): a small one keeps the
        connection alive; a large, endless or slow one closes it."""
        length = resp.headers.get("Content-Length") or ""
        try:
            if length.isdigit() and int(length) <= MAX_ERROR_BYTES:
                resp.drain_conn()
            else:
                resp.close()
        except self._urllib3.exceptions.HTTPError:
            resp.close()
        finally:
            resp.release_conn()


def _short(exc: object) -> str:
    return " ".join(str(exc).split())[:200]


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


def _describe(path: str) -> str:
    """``/v2/a/b/manifests/1.0`` -> ``/a/b:1.0``; blobs as ``@sha256:...``."""
    for marker, sep in (("/manifests/", ":"), ("/blobs/", "@")):
        if marker in path:
            repo, _, ref = path.removeprefix("/v2/").partition(marker)
            if sep == ":" and ref.startswith("sha256:"):
                sep = "@"
            return f"/{repo}{sep}{ref}"
    return path
