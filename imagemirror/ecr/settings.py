"""Validate the ``ecr:`` section of ``.imagemirror.yaml`` into plain, frozen data.

Pure: works on :class:`imagemirror.config.Settings` (whose ``.ecr`` is plain data with
positions); every error names ``file:line:col`` and the key.  The cache rules themselves come
from ``rules:`` (upstream host -> prefix); this module maps each host onto ECR's
``upstreamRegistry`` enum and ``upstreamRegistryUrl``.

    ecr:
      region: eu-west-1                 # else --region, AWS_REGION, the AWS config
      account: "123456789012"           # else STS GetCallerIdentity
      node_roles: [arn:aws:iam::123456789012:role/eks-nodes]
      lifecycle: {untagged_days: 14, keep_last: 50}     # for cache repositories
      repositories: [custom-apps]       # or {name: custom-apps, keep_last: 10}
      ci_policy: imagemirror-ci-push    # IAM policy for CI pushes; false: none
      creation_role: arn:aws:iam::123456789012:role/ecr-template   # optional
      storage_price: 0.10               # USD per GB-month for `ecr usage` (default: regions.py)
      credentials:
        docker.io: {username_env: DOCKERHUB_USERNAME, token_env: DOCKERHUB_TOKEN}
        210987654321.dkr.ecr.us-east-1.amazonaws.com: {role: arn:aws:iam::123456789012:role/ptc}

Every upstream the botocore model's ``UpstreamRegistry`` enum names is supported (ECR to ECR
included); any other host is refused with the reason and the AWS page (:data:`REFUSED`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..reference import canonical_host
from ..rules import split_rule
from .regions import partition_of, refusal

KEYS = (
    "region",
    "account",
    "node_roles",
    "lifecycle",
    "repositories",
    "ci_policy",
    "creation_role",
    "credentials",
    "storage_price",
)
CREDENTIAL_KEYS = ("username_env", "token_env", "secret")
ECR_CREDENTIAL_KEYS = ("role",)
SECRET_PREFIX = "ecr-pullthroughcache/"
MANAGED_TAG = ("managed-by", "imagemirror")
DEFAULT_CI_POLICY = "imagemirror-ci-push"
DEFAULT_REPOSITORIES = ("custom-apps",)
RULE_QUOTA = 50

_ACCOUNT = re.compile(r"[0-9]{12}\Z")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+\Z")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RULE_PREFIX = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\Z")
_REPO_NAME = _RULE_PREFIX
_SECRET_NAME = re.compile(r"ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+\Z")
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}\Z")
_AZURE = re.compile(r"[a-z0-9]+\.azurecr\.io\Z")
# An ECR private registry as an upstream (ECR to ECR): <account>.dkr.ecr.<region>.amazonaws.com
ECR_HOST = re.compile(r"([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\Z")
UG_PTC = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html"
UG_PRIV = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private.html"
UG_WILD = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private-wildcards.html"

# Registries people ask for that the UpstreamRegistry enum does not name: why, and where AWS says so.
_NOT_IN_ENUM = f"it is not one of the upstream registries ECR pull-through cache supports ({UG_PTC})"
REFUSED: dict[str, str] = {
    "gcr.io": _NOT_IN_ENUM + "; Google Artifact Registry is not an upstream either",
    "k8s.gcr.io": "k8s.gcr.io is frozen; its images moved to registry.k8s.io (use that host: ECR mirrors it as k8s)",
    "mcr.microsoft.com": _NOT_IN_ENUM,
    "nvcr.io": _NOT_IN_ENUM,
    "docker.elastic.co": _NOT_IN_ENUM,
}
_REFUSED_SUFFIX = {
    ".pkg.dev": _NOT_IN_ENUM + " (Google Artifact Registry)",
    ".gcr.io": _NOT_IN_ENUM + " (Google Container Registry)",
}
# host (as canonicalised by imagemirror.reference) -> (upstreamRegistry, upstreamRegistryUrl,
# needs a Secrets Manager secret).  Source: ../shared/ECR-FACTS.md section 1.
UPSTREAMS: dict[str, tuple[str, str, bool]] = {
    "public.ecr.aws": ("ecr-public", "public.ecr.aws", False),
    "registry.k8s.io": ("k8s", "registry.k8s.io", False),
    "quay.io": ("quay", "quay.io", False),
    "docker.io": ("docker-hub", "registry-1.docker.io", True),
    "ghcr.io": ("github-container-registry", "ghcr.io", True),
    "registry.gitlab.com": ("gitlab-container-registry", "registry.gitlab.com", True),
    "cgr.dev": ("chainguard", "cgr.dev", True),
}


def upstream_for(host: str) -> tuple[str, str, bool] | None:
    """``(upstreamRegistry, upstreamRegistryUrl, needs_secret)`` for a host, or None."""
    if host in UPSTREAMS:
        return UPSTREAMS[host]
    if _AZURE.match(host):
        return ("azure-container-registry", host, True)
    if ECR_HOST.match(host):
        return ("ecr", host, False)
    return None


def refusal_for(host: str) -> str:
    """Why ``host`` cannot be a pull-through cache upstream (for an error message)."""
    if host in REFUSED:
        return REFUSED[host]
    for suffix, reason in _REFUSED_SUFFIX.items():
        if host.endswith(suffix):
            return reason
    if host.startswith("registry.") and "gitlab" in host:
        return f"ECR supports GitLab only as GitLab.com's registry.gitlab.com, not self-managed GitLab ({UG_PTC})"
    return _NOT_IN_ENUM


def host_for_url(url: str) -> str:
    """The host imagemirror's ``rules:`` uses for an ``upstreamRegistryUrl``."""
    for host, (_, known, _) in UPSTREAMS.items():
        if known == url:
            return host
    return url


@dataclass(frozen=True)
class Upstream:
    """One pull-through cache rule to have, with where its credentials come from."""

    host: str
    prefix: str
    registry: str
    url: str
    secret: str | None = None  # Secrets Manager secret name, when the upstream needs one
    username_env: str | None = None
    token_env: str | None = None
    role: str | None = None  # customRoleArn, for an ECR upstream
    #: upstreamRepositoryPrefix (ECR upstreams): ``<prefix>/x`` pulls ``<upstream_prefix>/x``
    upstream_prefix: str | None = None

    @property
    def key(self) -> str:
        """The ``rules:`` key: the host, with the upstream repository prefix when there is one."""
        return f"{self.host}/{self.upstream_prefix}" if self.upstream_prefix else self.host

    @property
    def ecr_upstream(self) -> tuple[str, str] | None:
        """``(account, region)`` of an ECR upstream, else None."""
        m = ECR_HOST.match(self.host) if self.registry == "ecr" else None
        return (m.group(1), m.group(2)) if m else None


@dataclass(frozen=True)
class Repository:
    name: str
    keep_last: int = 10


@dataclass(frozen=True)
class EcrSettings:
    region: str | None = None
    account: str | None = None
    node_roles: tuple[str, ...] = ()
    untagged_days: int = 14
    keep_last: int = 50
    repositories: tuple[Repository, ...] = tuple(Repository(n) for n in DEFAULT_REPOSITORIES)
    ci_policy: str | None = DEFAULT_CI_POLICY
    creation_role: str | None = None
    upstreams: tuple[Upstream, ...] = ()
    storage_price: float | None = None  # USD per GB-month; None: the Region's default


def env_slug(host: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", host.upper()).strip("_")


def parse(settings) -> EcrSettings:
    """Validate ``settings.ecr`` (and map ``settings.rules`` onto ECR upstreams)."""
    raw = settings.ecr if settings.ecr is not None else {}
    if not isinstance(raw, dict):
        raise settings.error("'ecr' must be a mapping", "ecr")
    for key in raw:
        if key not in KEYS:
            raise settings.error(f"ecr: unknown key {key!r} (expected one of: {', '.join(KEYS)})", "ecr", key)

    region = raw.get("region")
    if region is not None and (not isinstance(region, str) or refusal(region)):
        reason = refusal(region) if isinstance(region, str) else f"{region!r} is not an AWS Region name"
        raise settings.error(f"ecr.region: {reason}", "ecr", "region")

    account = raw.get("account")
    if account is not None:
        if isinstance(account, int) and not isinstance(account, bool):
            raise settings.error(
                'ecr.account: quote the account id ("012345678901") so leading zeros survive', "ecr", "account"
            )
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            raise settings.error(f"ecr.account: {account!r} is not a 12-digit AWS account id", "ecr", "account")

    node_roles = raw.get("node_roles") or []
    if not isinstance(node_roles, list):
        raise settings.error("ecr.node_roles must be a list of IAM role ARNs", "ecr", "node_roles")
    for i, arn in enumerate(node_roles):
        if not isinstance(arn, str) or not _ROLE_ARN.match(arn):
            raise settings.error(f"ecr.node_roles: {arn!r} is not an IAM role ARN", "ecr", "node_roles", i)
        if account is not None and arn.split(":")[4] != account:
            raise settings.error(
                f"ecr.node_roles: {arn} is in another account than ecr.account {account}", "ecr", "node_roles", i
            )

    lifecycle = raw.get("lifecycle") or {}
    if not isinstance(lifecycle, dict):
        raise settings.error("ecr.lifecycle must be a mapping {untagged_days, keep_last}", "ecr", "lifecycle")
    for key in lifecycle:
        if key not in ("untagged_days", "keep_last"):
            raise settings.error(
                f"ecr.lifecycle: unknown key {key!r} (expected untagged_days, keep_last)", "ecr", "lifecycle", key
            )
    untagged_days = _count(settings, lifecycle.get("untagged_days", 14), "ecr", "lifecycle", "untagged_days")
    keep_last = _count(settings, lifecycle.get("keep_last", 50), "ecr", "lifecycle", "keep_last")

    repositories = _repositories(settings, raw)

    ci_policy = raw.get("ci_policy", DEFAULT_CI_POLICY)
    if ci_policy is False or ci_policy is None:
        ci_policy = None
    elif not isinstance(ci_policy, str) or not _POLICY_NAME.match(ci_policy):
        raise settings.error(f"ecr.ci_policy: {ci_policy!r} is not an IAM policy name (or false)", "ecr", "ci_policy")

    creation_role = raw.get("creation_role")
    if creation_role is not None and (not isinstance(creation_role, str) or not _ROLE_ARN.match(creation_role)):
        raise settings.error(f"ecr.creation_role: {creation_role!r} is not an IAM role ARN", "ecr", "creation_role")

    price = raw.get("storage_price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float)) or not 0 <= price <= 100):
        raise settings.error(
            f"ecr.storage_price: {price!r} must be USD per GB-month (a number from 0 to 100)", "ecr", "storage_price"
        )

    upstreams = _upstreams(settings, raw.get("credentials"), region, account)
    return EcrSettings(
        region=region,
        account=account,
        node_roles=tuple(sorted(set(node_roles))),
        untagged_days=untagged_days,
        keep_last=keep_last,
        repositories=repositories,
        ci_policy=ci_policy,
        creation_role=creation_role,
        upstreams=upstreams,
        storage_price=float(price) if price is not None else None,
    )


def _count(settings, value: Any, *keys: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
        raise settings.error(f"{'.'.join(map(str, keys))}: {value!r} must be a whole number from 1 to 10000", *keys)
    return value


def _repositories(settings, raw: dict) -> tuple[Repository, ...]:
    if "repositories" not in raw:
        return tuple(Repository(n) for n in DEFAULT_REPOSITORIES)
    items = raw["repositories"] or []
    if not isinstance(items, list):
        raise settings.error("ecr.repositories must be a list of names or {name, keep_last}", "ecr", "repositories")
    out: list[Repository] = []
    for i, item in enumerate(items):
        keep = 10
        if isinstance(item, dict):
            for key in item:
                if key not in ("name", "keep_last"):
                    raise settings.error(
                        f"ecr.repositories: unknown key {key!r} (expected name, keep_last)",
                        "ecr",
                        "repositories",
                        i,
                        key,
                    )
            if "keep_last" in item:
                keep = _count(settings, item["keep_last"], "ecr", "repositories", i, "keep_last")
            name = item.get("name")
        else:
            name = item
        if not isinstance(name, str) or not 2 <= len(name) <= 256 or not _REPO_NAME.match(name):
            raise settings.error(f"ecr.repositories: {name!r} is not an ECR repository name", "ecr", "repositories", i)
        if any(r.name == name for r in out):
            raise settings.error(f"ecr.repositories: {name!r} is listed twice", "ecr", "repositories", i)
        out.append(Repository(name, keep))
    return tuple(out)


def _upstreams(
    settings, credentials: Any, region: str | None = None, account: str | None = None
) -> tuple[Upstream, ...]:
    credentials = credentials or {}
    if not isinstance(credentials, dict):
        raise settings.error(
            "ecr.credentials must map upstream hosts to {username_env, token_env}", "ecr", "credentials"
        )
    creds: dict[str, tuple[str, dict]] = {}
    for host, entry in credentials.items():
        chost = canonical_host(str(host))
        if chost not in {split_rule(key)[0] for key in settings.rules}:
            raise settings.error(f"ecr.credentials: {host!r} has no rule in 'rules'", "ecr", "credentials", host)
        if not isinstance(entry, dict):
            raise settings.error(
                f"ecr.credentials.{host}: must be a mapping {{username_env, token_env}}", "ecr", "credentials", host
            )
        allowed = ECR_CREDENTIAL_KEYS if ECR_HOST.match(chost) else CREDENTIAL_KEYS
        for key, value in entry.items():
            if key not in allowed:
                raise settings.error(
                    f"ecr.credentials.{host}: unknown key {key!r} (expected {', '.join(allowed)})"
                    + (
                        ": an ECR upstream authenticates with an IAM role, not a secret"
                        if allowed is ECR_CREDENTIAL_KEYS
                        else ""
                    ),
                    "ecr",
                    "credentials",
                    host,
                    key,
                )
            if key == "role":
                if not isinstance(value, str) or not _ROLE_ARN.match(value):
                    raise settings.error(
                        f"ecr.credentials.{host}.role: {value!r} is not an IAM role ARN",
                        "ecr",
                        "credentials",
                        host,
                        key,
                    )
                if account is not None and value.split(":")[4] != account:
                    raise settings.error(
                        f"ecr.credentials.{host}.role: {value} must be in the cache's account {account} (customRoleArn, {UG_PRIV})",
                        "ecr",
                        "credentials",
                        host,
                        key,
                    )
                continue
            pattern = _SECRET_NAME if key == "secret" else _ENV
            if not isinstance(value, str) or not pattern.match(value):
                what = (
                    "a secret name starting with 'ecr-pullthroughcache/'"
                    if key == "secret"
                    else "an environment variable name"
                )
                raise settings.error(
                    f"ecr.credentials.{host}.{key}: {value!r} is not {what}", "ecr", "credentials", host, key
                )
        creds[chost] = (str(host), entry)

    out: list[Upstream] = []
    for key, prefix in settings.rules.items():
        host, upstream_prefix = split_rule(key)
        found = upstream_for(host)
        if found is None:
            raise settings.error(
                f"rule {host!r}: ECR pull-through cache cannot mirror {host}: {refusal_for(host)}; supported: "
                + ", ".join([*UPSTREAMS, "<name>.azurecr.io", "<account>.dkr.ecr.<region>.amazonaws.com"])
                + "; remove the rule or mirror it another way",
                "rules",
                key,
            )
        if not 2 <= len(prefix) <= 30 or not _RULE_PREFIX.match(prefix):
            raise settings.error(
                f"rule {key!r}: prefix {prefix!r} is not a valid ecrRepositoryPrefix (2-30 characters)", "rules", key
            )
        registry, url, needs_secret = found
        if upstream_prefix is not None and registry != "ecr":
            raise settings.error(
                f"rule {key!r}: an upstream repository prefix (upstreamRepositoryPrefix) is documented for ECR-to-ECR "
                f"rules only ({UG_WILD}); map the whole host {host}",
                "rules",
                key,
            )
        if upstream_prefix is not None and (
            not 2 <= len(upstream_prefix) <= 30 or not _RULE_PREFIX.match(upstream_prefix)
        ):
            raise settings.error(
                f"rule {key!r}: {upstream_prefix!r} is not a valid upstreamRepositoryPrefix (2-30 characters)",
                "rules",
                key,
            )
        written, entry = creds.get(host, (host, {}))
        if registry == "ecr":
            out.append(_ecr_upstream(settings, host, prefix, entry.get("role"), region, upstream_prefix))
            continue
        if entry and not needs_secret:
            raise settings.error(
                f"ecr.credentials: {written!r} needs no credentials (ECR pulls {url} anonymously)",
                "ecr",
                "credentials",
                written,
            )
        if needs_secret:
            slug = env_slug(host)
            out.append(
                Upstream(
                    host=host,
                    prefix=prefix,
                    registry=registry,
                    url=url,
                    secret=entry.get("secret", SECRET_PREFIX + prefix),
                    username_env=entry.get("username_env", f"IMAGEMIRROR_{slug}_USERNAME"),
                    token_env=entry.get("token_env", f"IMAGEMIRROR_{slug}_TOKEN"),
                )
            )
        else:
            out.append(Upstream(host=host, prefix=prefix, registry=registry, url=url))
    if len(out) > RULE_QUOTA:
        raise settings.error(f"{len(out)} rules exceed ECR's quota of {RULE_QUOTA} pull-through cache rules", "rules")
    return tuple(sorted(out, key=lambda u: u.prefix))


def _ecr_upstream(
    settings, host: str, prefix: str, role: str | None, region: str | None, upstream_prefix: str | None = None
) -> Upstream:
    """An ECR-to-ECR rule: same partition, never the cache itself (checked again against STS)."""
    m = ECR_HOST.match(host)
    assert m is not None
    up_region = m.group(2)
    reason = refusal(up_region)
    if reason:
        raise settings.error(f"rule {host!r}: upstream Region {reason}", "rules", host)
    if region is not None and partition_of(up_region) != partition_of(region):
        raise settings.error(
            f"rule {host!r}: ECR to ECR pull-through cache works only within one partition "
            f"({partition_of(up_region)} is not {partition_of(region)}; {UG_PTC})",
            "rules",
            host,
        )
    if settings.registry is not None and settings.registry == host:
        raise settings.error(f"rule {host!r}: the upstream is the cache registry itself", "rules", host)
    return Upstream(host=host, prefix=prefix, registry="ecr", url=host, role=role, upstream_prefix=upstream_prefix)
