"""The one wrapper around a Docker Engine (the ``docker`` SDK): pull an image through it.

``DOCKER_HOST`` (and ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``) are honoured through
``docker.from_env()``; podman's Docker-compatible service works the same way.  The docker
package is imported when an engine is made, never at CLI start-up.

Every exchange with the engine is bounded:

- in time by ``deadline``, a wall clock: each call (connecting, the version check, a pull and
  its progress stream) runs on a thread of its own that the caller waits for until the
  deadline; then the call's HTTP connections to the engine are shut (the engine sees the pull's
  client go away) and the call fails with ``deadline exceeded`` at once;
- in size: an answer read whole (an error, ``inspect``) is at most ``MAX_ANSWER_BYTES``, and the
  pull's progress stream is read in pieces and decoded one event at a time, each at most
  ``MAX_EVENT_BYTES`` (the SDK's own stream reader would hold an endless chunk or JSON value).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from ..errors import ServiceError
from .auth import CredentialStore, scrub, secrets_of

#: an engine answer read whole: an error message, ``inspect``, ``version``
MAX_ANSWER_BYTES = 16 << 20
#: one event of a pull's progress stream (a few hundred bytes in practice)
MAX_EVENT_BYTES = 1 << 20
CHUNK = 64 << 10
#: the version in the URL of the one request made before the engine's own is known
MIN_API_VERSION = "1.24"
API_VERSION = re.compile(r"1\.[0-9]{1,3}")

T = TypeVar("T")


class EngineError(ServiceError):
    def __init__(self, message: str, status: int | None = None, *, pinned: bool = False, auth: str | None = None):
        super().__init__(message)
        # the engine relays registry errors as text: recover the HTTP meaning for hints
        self.status = status if status not in (None, 500) else _status_from_message(message) or status
        #: the pull by tag worked but the pinned digest could not be pulled
        self.pinned = pinned
        #: for 401s: "missing" (no credentials were passed) or "rejected"
        self.auth = auth


class EngineDeadline(EngineError):
    pass


def _status_from_message(message: str) -> int | None:
    text = message.lower()
    if "unauthorized" in text or "authentication required" in text or "no basic auth credentials" in text:
        return 401
    if "denied" in text or "forbidden" in text:
        return 403
    if "manifest unknown" in text or "not found" in text or "name unknown" in text:
        return 404
    return None


@dataclass(frozen=True)
class PullResult:
    image_id: str
    size: int
    seconds: float


def _shut(response) -> None:
    """Shut the socket under a ``requests`` response (a read blocked on it returns at once)."""
    raw = getattr(response, "raw", None)
    for get in (
        lambda: raw.connection.sock,
        lambda: raw._fp.fp.raw._sock,
    ):
        try:
            sock = get()
        except AttributeError:
            continue
        if sock is None:
            continue
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except (OSError, TypeError, ValueError):
            pass
        return


def _read_capped(response, limit: int) -> bytes:
    chunks, total = [], 0
    for chunk in response.raw.stream(CHUNK, decode_content=True):
        total += len(chunk)
        if total > limit:
            response.close()
            raise EngineError(f"the Docker engine answered more than {limit >> 20} MiB (HTTP {response.status_code})")
        chunks.append(chunk)
    return b"".join(chunks)


class _Call:
    """The HTTP responses of one bounded call (shut when its deadline passes)."""

    def __init__(self):
        self.responses: list = []
        self.lock = threading.Lock()
        self.expired = False

    def add(self, response) -> None:
        with self.lock:
            self.responses.append(response)
            expired = self.expired
        if expired:
            _shut(response)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            responses = list(self.responses)
        for response in responses:
            _shut(response)


class DockerEngine:
    def __init__(
        self,
        credentials: CredentialStore | None = None,
        *,
        timeout: float = 600.0,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        client=None,
    ):
        self.credentials = credentials or CredentialStore()
        self.clock = clock
        self.deadline_at = None if deadline is None else clock() + deadline
        self._local = threading.local()
        if client is None:
            client = self._bounded("the Docker engine (DOCKER_HOST)", lambda: self._connect(timeout))
        self.client = client

    def _connect(self, timeout: float):
        import docker
        from docker.errors import DockerException

        try:
            # The SDK's version="auto" asks the engine's API version before any hook can be set
            # on its session: ask it here (an oldest version in the URL, as /version needs none),
            # through the hook, then make the client for that version.
            probe = docker.from_env(timeout=max(1, int(timeout)), version=MIN_API_VERSION)
            probe.api.hooks["response"].append(self._on_response)
            version = str((probe.api.version(api_version=False) or {}).get("ApiVersion") or "")
            probe.close()
            if not API_VERSION.fullmatch(version):
                raise EngineError(f"the engine gave no API version ({version[:40]!r})")
            client = docker.from_env(timeout=max(1, int(timeout)), version=version)
            client.api.hooks["response"].append(self._on_response)
            client.ping()
        except EngineError as exc:
            raise EngineError(f"cannot reach the Docker engine (DOCKER_HOST): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - DockerException, requests' errors, whatever the transport
            if isinstance(exc, (DockerException, OSError, ValueError, KeyError, TypeError, AttributeError)) or _is_http(
                exc
            ):
                raise EngineError(f"cannot reach the Docker engine (DOCKER_HOST): {_short(exc)}") from None
            raise
        return client

    # -- bounds --------------------------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline_at is None else self.deadline_at - self.clock()

    def _on_response(self, response, *args, stream: bool = False, **kwargs):
        """``requests`` response hook: remember the response for the deadline; read an answer
        that is read whole (not a pull's 2xx stream) with a cap."""
        call = getattr(self._local, "call", None)
        if call is not None:
            call.add(response)
        if not stream or response.status_code >= 300:
            response._content = _read_capped(response, MAX_ANSWER_BYTES)
            response._content_consumed = True
        else:
            self._local.stream = response
        return response

    def _bounded(self, what: str, func: Callable[[], T]) -> T:
        """``func()``, ended at the deadline (see the module docstring)."""
        left = self.remaining()
        if left is None:
            return func()
        if left <= 0:
            raise EngineDeadline(f"{what}: deadline exceeded")
        call = _Call()
        outcome: list = []
        done = threading.Event()

        def run() -> None:
            self._local.call = call
            try:
                outcome.append((True, func()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                outcome.append((False, exc))
            finally:
                self._local.call = None
                done.set()

        # a daemon thread: one blocked on an engine that never answers ends with the process
        threading.Thread(target=run, name="engine-call", daemon=True).start()
        if not done.wait(max(0.0, left)):
            call.expire()
            done.wait(1.0)  # the shut sockets end the call's reads (the engine sees us leave)
            raise EngineDeadline(f"{what}: deadline exceeded")
        ok, value = outcome[0]
        if ok:
            return value
        if call.expired or (self.remaining() or 1) <= 0:
            raise EngineDeadline(f"{what}: deadline exceeded")
        raise value

    # -- pulls ---------------------------------------------------------------------------

    def pull(
        self,
        host: str,
        repository: str,
        tag: str | None,
        digest: str | None,
        platform: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PullResult:
        """Pull ``host/repository`` by tag (then by digest when pinned) with the host's credentials."""
        name = f"{host}/{repository}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        try:
            return self._bounded(name, lambda: self._pull(host, repository, tag, digest, platform, progress))
        except EngineDeadline as exc:
            raise EngineDeadline(scrub(str(exc), secrets_of(self.credentials.get(host)))) from None

    def _pull(self, host, repository, tag, digest, platform, progress) -> PullResult:
        from docker.errors import APIError, DockerException

        creds = self.credentials.get(host)
        # serveraddress: podman's compat API files single credentials under it
        auth = {**creds.auth_config(), "serveraddress": host} if creds else None
        name = f"{host}/{repository}"
        start = self.clock()
        seen: dict[str, int] = {}
        refs = [tag or "latest"] + ([digest] if digest else [])
        image_id = ""
        for ref in refs:
            try:
                self._local.stream = None
                stream = self.client.api.pull(
                    name, tag=ref, stream=True, decode=True, auth_config=auth, platform=platform
                )
                response = getattr(self._local, "stream", None)
                events = _events(response) if response is not None else stream
                for event in events:
                    if not isinstance(event, dict):
                        continue
                    if "error" in event or "errorDetail" in event:
                        detail = event.get("errorDetail") or {}
                        if not isinstance(detail, dict):
                            detail = {}
                        code = detail.get("code")
                        raise EngineError(
                            f"{name}: {event.get('error') or detail.get('message')}",
                            code if isinstance(code, int) else None,
                        )
                    current = (event.get("progressDetail") or {}).get("current")
                    layer = event.get("id")
                    if progress and layer and isinstance(current, int) and "Download" in str(event.get("status")):
                        delta = current - seen.get(layer, 0)
                        if delta > 0:
                            seen[layer] = current
                            progress(delta)
                sep = "@" if ref.startswith("sha256:") else ":"
                image_id = self.client.api.inspect_image(f"{name}{sep}{ref}")["Id"]
            except EngineError as exc:
                message = _short(exc)
                if not message.startswith(name):  # the hook's and the stream's own errors
                    message = f"{name}{'@' if ref.startswith('sha256:') else ':'}{ref}: {message}"
                raise self._error(message, exc.status, ref == digest, creds) from None
            except APIError as exc:
                sep = "@" if ref.startswith("sha256:") else ":"
                raise self._error(
                    f"{name}{sep}{ref}: {_short(exc.explanation or exc)}", exc.status_code, ref == digest, creds
                ) from None
            except Exception as exc:  # noqa: BLE001 - DockerException, requests' and urllib3's errors
                if isinstance(exc, (DockerException, OSError, ValueError, KeyError, TypeError)) or _is_http(exc):
                    raise EngineError(
                        scrub(f"{name}: {_short(exc)}", secrets_of(creds)), pinned=ref == digest
                    ) from None
                raise
        try:
            size = int(self.client.api.inspect_image(image_id).get("Size") or 0)
        except Exception:  # noqa: BLE001 - the size is only informative
            size = 0
        return PullResult(image_id, size, self.clock() - start)

    @staticmethod
    def _error(message: str, status, pinned: bool, creds) -> EngineError:
        # the engine relays the registry's text, which may echo the request (the password)
        error = EngineError(scrub(message, secrets_of(creds)), status, pinned=pinned)
        if error.status == 401:
            error.auth = "rejected" if creds else "missing"
        return error

    def remove(self, image: str) -> None:
        from docker.errors import APIError

        try:
            self._bounded(image, lambda: self.client.api.remove_image(image, force=True))
        except (APIError, EngineError):
            pass


def _events(response) -> Iterator:
    """The JSON events of a pull's progress stream, read in pieces of at most ``CHUNK`` bytes;
    an event (or anything not JSON) longer than ``MAX_EVENT_BYTES`` is an error."""
    decoder = json.JSONDecoder()
    buf = ""
    pending = b""
    for chunk in response.raw.stream(CHUNK, decode_content=True):
        pending += chunk
        try:
            text = pending.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as exc:
            if len(pending) - exc.start > 4:  # not a character cut between chunks
                raise EngineError("the Docker engine's pull stream is not UTF-8") from None
            text, pending = pending[: exc.start].decode("utf-8"), pending[exc.start :]
        buf += text
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                event, end = decoder.raw_decode(buf)
            except ValueError:
                break  # incomplete: wait for more
            buf = buf[end:]
            yield event
        if len(buf) > MAX_EVENT_BYTES:
            response.close()
            raise EngineError(
                f"the Docker engine sent a pull event larger than {MAX_EVENT_BYTES >> 20} MiB (not a progress stream)"
            )
    if buf.strip() or pending:
        raise EngineError("the Docker engine's pull stream ended inside an event (not JSON)")


def _is_http(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("requests", "urllib3", "http.client"))


def _short(exc: object) -> str:
    return " ".join(str(exc).split())[:300]
