"""Container image references: parse, normalise, format.

Follows the grammar of github.com/distribution/reference (``reference.go``,
``normalize.go``): a name is an optional domain followed by ``/``-separated
path components, an optional ``:tag`` and an optional ``@digest``.  A first
component is a domain only if it contains ``.`` or ``:`` or is ``localhost``
(or is not lower case); otherwise the name is on Docker Hub, and a one-component
Docker Hub name lives under ``library/``.

Pure functions, standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*\Z")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")
NAME_TOTAL_LENGTH_MAX = 255


class InvalidReference(ValueError):
    """A string that is not a valid image reference; ``str(err)`` is the reason."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised reference: ``host`` is canonical (Docker Hub is ``docker.io``)."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        return self.name + self.suffix

    @property
    def suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def qualified(self) -> str:
        """Fully qualified, with ``:latest`` where neither tag nor digest is given."""
        if self.tag is None and self.digest is None:
            return self.name + ":latest"
        return str(self)

    def familiar(self) -> str:
        """The short form ``docker`` prints: ``nginx:1.25``, ``bitnami/x``."""
        name = self.name
        if self.host == DOCKER_HUB:
            name = self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path
        return name + self.suffix


def is_domain(component: str) -> bool:
    """Whether the first component of a name is a registry host (docker's rule)."""
    return "." in component or ":" in component or component == "localhost" or component.lower() != component


def canonical_host(host: str) -> str:
    """One name per registry: host names are case-insensitive (``Quay.io`` is ``quay.io``), the
    HTTPS default port is the host itself (``quay.io:443`` is ``quay.io``), and Docker Hub's
    several host names are one registry (``registry-1.docker.io:443`` is ``docker.io``)."""
    lowered = host.lower()
    if lowered.endswith(":443"):
        lowered = lowered[:-4]
    return DOCKER_HUB if lowered in DOCKER_HUB_ALIASES else lowered


def split_name(name: str) -> tuple[str | None, str]:
    """Split ``[host/]path`` into host (None when implicit) and path, without checks."""
    first, sep, rest = name.partition("/")
    if sep and is_domain(first):
        return first, rest
    return None, name


def parse(text: str) -> Reference:
    """Parse and normalise a reference; raise :class:`InvalidReference` with the reason."""
    if not isinstance(text, str) or not text:
        raise InvalidReference("empty reference")
    for ch in text:
        if ch.isspace() or ord(ch) < 0x20 or ch in "#'\"{},&*!|>%`\\":
            raise InvalidReference(f"character {ch!r} is not allowed in a reference")
    digest: str | None
    rest, at, digest = text.partition("@")
    if at:
        if not _DIGEST.match(digest):
            raise InvalidReference(f"invalid digest {digest!r}")
        algorithm, _, hexpart = digest.partition(":")
        if algorithm == "sha256" and not _SHA256_HEX.match(hexpart):
            raise InvalidReference(f"invalid sha256 digest {digest!r}: needs 64 lower-case hex digits")
    else:
        digest = None
    # A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag: str | None = None
    name = rest
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
    host, path = split_name(name)
    if host is None:
        host = DOCKER_HUB
    else:
        if not _DOMAIN.match(host):
            raise InvalidReference(f"invalid registry host {host!r}")
        # an upper-case host is valid (distribution/reference's domain grammar) and names the
        # same registry as its lower-case form: canonical_host below normalises it
    if not path:
        raise InvalidReference("missing repository path")
    for component in path.split("/"):
        if not component:
            raise InvalidReference(f"empty path component in {name!r}")
        if component.lower() != component:
            raise InvalidReference(f"repository {path!r} must be lower case")
        if not _PATH_COMPONENT.match(component):
            raise InvalidReference(f"invalid path component {component!r}")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name longer than {NAME_TOTAL_LENGTH_MAX} characters")
    host = canonical_host(host)
    if host == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    return Reference(host, path, tag, digest)


def normalise_digest(value: str) -> str:
    """Accept ``sha256:<hex>`` or a bare 64-hex ``sha`` value (kube-prometheus style)."""
    if _SHA256_HEX.match(value):
        return "sha256:" + value
    return value
