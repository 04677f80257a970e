"""Where registry credentials come from, and the auth challenge grammar.

- ECR hosts (``<account>.dkr.ecr.<region>.amazonaws.com``): a token from the injected token
  source -- :func:`ecr_token_source` over the one AWS wrapper
  (``ecr.client.AwsClient.authorization_token``); nothing here imports boto3.
- Other hosts: ``~/.docker/config.json`` (``$DOCKER_CONFIG`` honoured): ``credHelpers`` for
  the host, else ``credsStore``, else ``auths``.

Nothing here logs or prints a secret; :class:`Credentials` hides its secret in ``repr``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import ServiceError

ECR_HOST = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z")
#: the longest a ``docker-credential-*`` helper may take
HELPER_TIMEOUT = 60.0
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str = field(repr=False)
    source: str = ""
    #: an OAuth refresh token (``identitytoken`` in config.json) rather than a password
    identity_token: bool = False

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()

    def auth_config(self) -> dict:
        """The Docker Engine API's ``X-Registry-Auth`` shape."""
        if self.identity_token:
            return {"identitytoken": self.secret}
        return {"username": self.username, "password": self.secret}


class CredentialError(ServiceError):
    """Credentials could not be had (a helper failed, no AWS credentials for an ECR token)."""

    auth = "missing"


def ecr_host(host: str) -> tuple[str, str] | None:
    """``(account, region)`` for an ECR registry host name, else None."""
    m = ECR_HOST.match(host.split(":", 1)[0])
    return (m["account"], m["region"]) if m else None


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def load_docker_config(path: Path | None = None) -> dict:
    path = path or docker_config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialError(f"{path}: cannot read docker config: {exc}") from None
    return data if isinstance(data, dict) else {}


def _host_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in DOCKER_HUB_KEYS or host == "docker.io":
        keys = list(DOCKER_HUB_KEYS) + keys
    return keys


def run_credential_helper(
    helper: str, host: str, runner: Callable | None = None, timeout: float = HELPER_TIMEOUT
) -> Credentials | None:
    """``docker-credential-<helper> get`` with the server URL on stdin (the helper protocol)."""
    runner = runner or subprocess.run
    argv = [f"docker-credential-{helper}", "get"]
    if timeout <= 0:
        raise CredentialError(f"credential helper {argv[0]!r} (for {host}): deadline exceeded")
    try:
        done = runner(argv, input=host.encode(), capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise CredentialError(f"credential helper {argv[0]!r} (for {host}) is not installed") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(f"credential helper {argv[0]!r} (for {host}) timed out") from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        if "credentials not found" in (out + done.stderr.decode(errors="replace")).lower():
            return None
        raise CredentialError(f"credential helper {argv[0]!r} failed for {host} (exit {done.returncode})")
    try:
        data = json.loads(out)
        user, secret = data["Username"], data["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialError(f"credential helper {argv[0]!r} returned no credentials for {host}") from None
    if user == "<token>":
        return Credentials(user, secret, f"credential helper {helper}", identity_token=True)
    return Credentials(user, secret, f"credential helper {helper}")


def from_docker_config(
    host: str, config: dict, runner: Callable | None = None, timeout: float = HELPER_TIMEOUT
) -> Credentials | None:
    """Credentials for ``host`` from a parsed docker config (helpers first, like docker)."""
    helpers = config.get("credHelpers") or {}
    for key in _host_keys(host):
        if key in helpers:
            return run_credential_helper(helpers[key], host, runner, timeout)
    auths = config.get("auths") or {}
    for key in _host_keys(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials("<token>", entry["identitytoken"], "docker config", identity_token=True)
        if entry.get("auth"):
            try:
                user, sep, secret = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise CredentialError(f"docker config: auth for {key} is not base64 user:password")
            return Credentials(user, secret, "docker config")
        if entry.get("username") and entry.get("password"):
            return Credentials(entry["username"], entry["password"], "docker config")
    store = config.get("credsStore")
    if store:
        return run_credential_helper(store, host, runner, timeout)
    return None


def ecr_token_source(aws_for_region: Callable[[str], Any]) -> Callable[[str], Credentials]:
    """A token source for :class:`CredentialStore`: ``aws_for_region(region)`` gives an object
    with ``authorization_token(registry_id) -> (user, password)`` (``ecr.client.AwsClient``),
    made once per region."""
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def token(host: str) -> Credentials:
        account, region = ecr_host(host) or (None, None)
        if account is None or region is None:
            raise CredentialError(f"{host} is not an ECR registry host")
        try:
            with lock:
                if region not in clients:
                    clients[region] = aws_for_region(region)
                aws = clients[region]
            user, secret = aws.authorization_token(account)
        except ServiceError as exc:
            raise CredentialError(f"cannot get an ECR token for {host}: {_one_line(exc)}") from None
        return Credentials(user, secret, "ECR get_authorization_token")

    return token


def no_ecr_tokens(host: str) -> Credentials:
    raise CredentialError(f"cannot get an ECR token for {host}: no AWS token source was given")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class CredentialStore:
    """Credentials per registry host, looked up once and cached (thread-safe)."""

    def __init__(
        self,
        docker_config: dict | None = None,
        *,
        ecr: Callable[[str], Credentials] = no_ecr_tokens,
        runner: Callable | None = None,
        static: dict[str, Credentials] | None = None,
        until: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``until``: a ``clock()`` time no credential helper runs past (a run's deadline; the
        ECR token source carries its own)."""
        self._until = until
        self._clock = clock
        self._config = docker_config
        self._ecr = ecr
        self._runner = runner
        self._static = dict(static or {})
        self._cache: dict[str, Credentials | None] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> Credentials | None:
        with self._lock:
            if host in self._cache:
                return self._cache[host]
        creds = self._lookup(host)
        with self._lock:
            self._cache[host] = creds
        return creds

    def forget(self, host: str) -> None:
        with self._lock:
            self._cache.pop(host, None)

    def _lookup(self, host: str) -> Credentials | None:
        if host in self._static:
            return self._static[host]
        if ecr_host(host):
            return self._ecr(host)
        if self._config is None:
            self._config = load_docker_config()
        timeout = HELPER_TIMEOUT if self._until is None else min(HELPER_TIMEOUT, self._until - self._clock())
        return from_docker_config(host, self._config, self._runner, timeout)


_CHALLENGE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ``("bearer", {...})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for m in _CHALLENGE.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (6 characters or more) and anything shaped like an
    ``Authorization`` value masked: registries, proxies and engines may echo a request back."""
    if not text:
        return text
    for secret in sorted({x for x in secrets if x and len(x) >= 6}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _AUTH_VALUE.sub(r"\1 ***", text)


def secrets_of(creds: Credentials | None) -> list[str]:
    """The strings that would reveal ``creds``: the secret and its Basic header forms."""
    if creds is None:
        return []
    basic = creds.basic()
    return [creds.secret, basic, basic.split(" ", 1)[-1]]
