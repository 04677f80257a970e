"""The one wrapper around a Docker Engine (the ``docker`` SDK): pull an image through it.

``DOCKER_HOST`` (and ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``) are honoured through
``docker.from_env()``; podman's Docker-compatible service works the same way.  The docker
package is imported when an engine is made, never at CLI start-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ServiceError
from .auth import CredentialStore, scrub, secrets_of


class EngineError(ServiceError):
    def __init__(self, message: str, status: int | None = None, *, pinned: bool = False, auth: str | None = None):
        super().__init__(message)
        # the engine relays registry errors as text: recover the HTTP meaning for hints
        self.status = status if status not in (None, 500) else _status_from_message(message) or status
        #: the pull by tag worked but the pinned digest could not be pulled
        self.pinned = pinned
        #: for 401s: "missing" (no credentials were passed) or "rejected"
        self.auth = auth


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


class DockerEngine:
    def __init__(
        self,
        credentials: CredentialStore | None = None,
        *,
        timeout: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        client=None,
    ):
        self.credentials = credentials or CredentialStore()
        self.clock = clock
        if client is None:
            import docker
            from docker.errors import DockerException

            try:
                client = docker.from_env(timeout=int(timeout))
                client.ping()
            except DockerException as exc:
                raise EngineError(f"cannot reach the Docker engine (DOCKER_HOST): {_short(exc)}") from None
        self.client = client

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
                stream = self.client.api.pull(
                    name, tag=ref, stream=True, decode=True, auth_config=auth, platform=platform
                )
                for event in stream:
                    if "error" in event or "errorDetail" in event:
                        detail = event.get("errorDetail") or {}
                        raise EngineError(f"{name}: {event.get('error') or detail.get('message')}", detail.get("code"))
                    current = (event.get("progressDetail") or {}).get("current")
                    layer = event.get("id")
                    if progress and layer and isinstance(current, int) and "Download" in (event.get("status") or ""):
                        delta = current - seen.get(layer, 0)
                        if delta > 0:
                            seen[layer] = current
                            progress(delta)
                sep = "@" if ref.startswith("sha256:") else ":"
                image_id = self.client.api.inspect_image(f"{name}{sep}{ref}")["Id"]
            except EngineError as exc:
                raise self._error(str(exc), exc.status, ref == digest, creds) from None
            except APIError as exc:
                sep = "@" if ref.startswith("sha256:") else ":"
                raise self._error(
                    f"{name}{sep}{ref}: {_short(exc.explanation or exc)}", exc.status_code, ref == digest, creds
                ) from None
            except DockerException as exc:
                raise EngineError(scrub(f"{name}: {_short(exc)}", secrets_of(creds)), pinned=ref == digest) from None
        try:
            size = int(self.client.api.inspect_image(image_id).get("Size") or 0)
        except (APIError, DockerException):
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
            self.client.api.remove_image(image, force=True)
        except APIError:
            pass


def _short(exc: object) -> str:
    return " ".join(str(exc).split())[:300]
