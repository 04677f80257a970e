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
UNRESOLVED = "unresolved"  # a Flux post-build variable the repository does not set
STATUSES = (UNMIRRORED, MIRRORED, NO_RULE, AMBIGUOUS, TEMPLATED, INVALID, UNRESOLVED)

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


def split_rule(key: str) -> tuple[str, str | None]:
    """A ``rules:`` key -> ``(upstream host, upstream repository prefix or None)``.

    ``ghcr.io`` maps every repository of the host; ``<acct>.dkr.ecr.<region>.amazonaws.com/team-a``
    maps only ``team-a/...`` (ECR's ``upstreamRepositoryPrefix``), to ``<prefix>/...``."""
    host, _, upstream_prefix = key.partition("/")
    return host, upstream_prefix or None


def upstream_path(key: str, rest: str) -> tuple[str, str]:
    """The upstream ``(host, path)`` of cache path ``<prefix>/<rest>`` under the rule ``key``."""
    host, upstream_prefix = split_rule(key)
    return host, f"{upstream_prefix}/{rest}" if upstream_prefix else rest


@dataclass(frozen=True)
class Rules:
    """``registry`` is the cache host; ``rules`` maps canonical upstream hosts to prefixes.

    A key may carry an upstream repository prefix (``host/team-a``, see :func:`split_rule`):
    then ``host/team-a/x`` is cached as ``<prefix>/x``, and the longest matching key wins."""

    registry: str | None
    rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RULES))
    aliases: dict[str, str] = field(default_factory=dict)
    _scoped: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scoped", any("/" in key for key in self.rules))

    def rule_for(self, upstream: Reference) -> tuple[str, str] | None:
        """``(cache prefix, path under it)`` for an upstream reference, or None (no rule)."""
        prefix = self.rules.get(upstream.host)
        best = None if prefix is None else (prefix, upstream.path)
        if self._scoped:
            matched = -1
            for key, prefix in self.rules.items():
                host, _, scope = key.partition("/")
                if scope and host == upstream.host and upstream.path.startswith(scope + "/") and len(scope) > matched:
                    best, matched = (prefix, upstream.path[len(scope) + 1 :]), len(scope)
        return best

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
        for key, prefix in sorted(self.rules.items(), key=lambda kv: -len(kv[1])):
            if ref.path.startswith(prefix + "/"):
                host, path = upstream_path(key, ref.path[len(prefix) + 1 :])
                return Reference(host, path, ref.tag, ref.digest)
        return None

    def classify(self, ref: Reference) -> tuple[str, Reference, Reference | None]:
        """Return ``(status, upstream, target)`` for a parsed reference.

        ``target`` is what a rewrite writes (None when nothing is to be written).
        """
        if self.registry is not None and ref.host == canonical_host(self.registry):
            upstream = self.mirrored_upstream(ref) or ref
            return MIRRORED, upstream, None
        upstream = self.upstream(ref)
        if self.registry is None or self.rule_for(upstream) is None:
            return NO_RULE, upstream, None
        return UNMIRRORED, upstream, self.target(upstream)

    def target(self, upstream: Reference) -> Reference:
        found = self.rule_for(upstream)
        assert self.registry is not None and found is not None
        prefix, rest = found
        return Reference(self.registry, f"{prefix}/{rest}", upstream.tag, upstream.digest)
