"""Upstream host -> cache prefix rules: is a reference mirrored, and where should it go.

Pure: works on :class:`~imagemirror.reference.Reference` values and plain settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .reference import DOCKER_HUB, Reference, canonical_host

DEFAULT_RULES: dict[str, str] = {
    "docker.io": "docker-hub",
    "quay.io": "quay",
    "ghcr.io": "github",
    "registry.k8s.io": "k8s",
    "public.ecr.aws": "ecr-public",
}

UNMIRRORED = "unmirrored"
MIRRORED = "mirrored"
NO_RULE = "no-rule"
AMBIGUOUS = "ambiguous"
TEMPLATED = "templated"
INVALID = "invalid"
STATUSES = (UNMIRRORED, MIRRORED, NO_RULE, AMBIGUOUS, TEMPLATED, INVALID)

# Docker Hub namespaces of Bitnami's images: their charts refuse relocated images unless
# ``global.security.allowInsecureImages`` is true
BITNAMI_NAMESPACES = ("bitnami/", "bitnamilegacy/")


def is_bitnami(upstream: Reference | str | None) -> bool:
    """Whether an upstream (a :class:`Reference`, or its qualified text) is a Bitnami image."""
    if upstream is None:
        return False
    if isinstance(upstream, Reference):
        return upstream.host == DOCKER_HUB and upstream.path.startswith(BITNAMI_NAMESPACES)
    return upstream.startswith(tuple(f"{DOCKER_HUB}/{ns}" for ns in BITNAMI_NAMESPACES))


@dataclass(frozen=True)
class Rules:
    """``registry`` is the cache host; ``rules`` maps canonical upstream hosts to prefixes."""

    registry: str | None
    rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RULES))
    aliases: dict[str, str] = field(default_factory=dict)

    def upstream(self, ref: Reference) -> Reference:
        """The reference with aliases applied (``registry.rocket.chat`` -> ``docker.io``)."""
        host = self.aliases.get(ref.host)
        if host is None:
            return ref
        host = canonical_host(host)
        path = ref.path
        if host == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        return Reference(host, path, ref.tag, ref.digest)

    def mirrored_upstream(self, ref: Reference) -> Reference | None:
        """For a reference on the cache registry, the upstream it mirrors (None if no prefix)."""
        if self.registry is None or ref.host != canonical_host(self.registry):
            return None
        for host, prefix in sorted(self.rules.items(), key=lambda kv: -len(kv[1])):
            if ref.path.startswith(prefix + "/"):
                return Reference(host, ref.path[len(prefix) + 1 :], ref.tag, ref.digest)
        return None

    def classify(self, ref: Reference) -> tuple[str, Reference, Reference | None]:
        """Return ``(status, upstream, target)`` for a parsed reference.

        ``target`` is what a rewrite writes (None when nothing is to be written).
        """
        if self.registry is not None and ref.host == canonical_host(self.registry):
            upstream = self.mirrored_upstream(ref) or ref
            return MIRRORED, upstream, None
        upstream = self.upstream(ref)
        prefix = self.rules.get(upstream.host)
        if prefix is None or self.registry is None:
            return NO_RULE, upstream, None
        return UNMIRRORED, upstream, self.target(upstream)

    def target(self, upstream: Reference) -> Reference:
        prefix = self.rules[upstream.host]
        assert self.registry is not None
        return Reference(self.registry, f"{prefix}/{upstream.path}", upstream.tag, upstream.digest)
