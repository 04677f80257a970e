"""Checks behind ``imagemirror ecr doctor``: plain data in, findings out.

:func:`findings` runs them (its reads go through the client it is given).

Policy evaluation here is deliberately simple: Allow/Deny statements with ``Action`` and
``Resource`` wildcards and ``Principal`` (for the registry policy).  ``NotAction``,
``NotResource`` and ``Condition`` blocks are not evaluated: a statement using them does not
count as granting (a conditional Deny still counts as denying), so doctor errs towards
reporting a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import json

from .plan import NODE_ACTIONS, SYMBOLS, Desired, Observed, is_tagged, plan as make_plan, preflight, repository_arn
from .regions import registry_host
from .settings import RULE_QUOTA, UG_PRIV

# ECR to ECR [UG-PRIV]: what the role in customRoleArn needs, and what the upstream grants.
ROLE_TRUST_SERVICE = "pullthroughcache.ecr.amazonaws.com"
ROLE_ACTIONS = (
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "ecr:BatchImportUpstreamImage",
    "ecr:BatchGetImage",
    "ecr:GetImageCopyStatus",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)
UPSTREAM_ACTIONS = (
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchImportUpstreamImage",
    "ecr:GetImageCopyStatus",
)


@dataclass(frozen=True)
class Finding:
    ok: bool
    check: str
    message: str

    def to_json(self) -> dict:
        return {"ok": self.ok, "check": self.check, "message": self.message}


def _list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _principal_matches(principal, arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    # The account root (or a bare account id) only delegates to the account's own IAM
    # policies; it grants nothing to the role by itself.
    return any(p in ("*", arn) for p in _list(principal.get("AWS")))


def _matches(stmt: dict, action: str, resource: str, principal: str | None) -> bool:
    if principal is not None and not _principal_matches(stmt.get("Principal"), principal):
        return False
    if "NotAction" in stmt or "NotResource" in stmt:
        return False
    actions = [a.lower() for a in _list(stmt.get("Action"))]
    if not any(fnmatchcase(action.lower(), a) for a in actions):
        return False
    return any(fnmatchcase(resource, r) for r in _list(stmt.get("Resource")))


def allowed(documents: list[dict], action: str, resource: str, principal: str | None = None) -> bool:
    """Whether some Allow grants ``action`` on ``resource`` and no Deny refuses it."""
    granted = False
    for doc in documents:
        for stmt in _list((doc or {}).get("Statement")):
            if not isinstance(stmt, dict):
                continue
            effect = stmt.get("Effect")
            if effect == "Deny" and _matches(
                {k: v for k, v in stmt.items() if k != "Condition"}, action, resource, principal
            ):
                return False
            if effect == "Allow" and "Condition" not in stmt and _matches(stmt, action, resource, principal):
                granted = True
    return granted


def node_role_findings(
    desired: Desired, observed: Observed, role_policies: dict[str, list[dict] | None]
) -> list[Finding]:
    """Can every node role fill the cache (first pulls) under every rule's prefix?

    ``role_policies`` maps a role ARN to its identity policy documents, or None when the role
    does not exist in this account.
    """
    out = []
    registry = [observed.registry_policy] if observed.registry_policy else []
    for role in sorted(role_policies):
        identity = role_policies[role]
        if identity is None:
            out.append(Finding(False, "node-role", f"{role}: role not found in account {desired.account}"))
            continue
        missing = []
        for up in desired.rules:
            resource = repository_arn(desired.region, desired.account, f"{up.prefix}/example", desired.partition)
            for action in NODE_ACTIONS:
                if not (allowed(registry, action, resource, principal=role) or allowed(identity, action, resource)):
                    missing.append(f"{action} on repository/{up.prefix}/*")
        if missing:
            out.append(
                Finding(
                    False,
                    "node-role",
                    f"{role}: cannot fill the cache on first pull, lacks "
                    + ", ".join(missing)
                    + " (imagemirror ecr apply adds a registry policy statement)",
                )
            )
        else:
            out.append(Finding(True, "node-role", f"{role}: may run first pulls through every rule"))
    return out


def validation_finding(prefix: str, result: dict | None) -> Finding:
    if result is None:
        return Finding(False, "validate", f"rule {prefix}: not found")
    if result.get("isValid"):
        return Finding(True, "validate", f"rule {prefix}: valid ({result.get('upstreamRegistryUrl')})")
    return Finding(False, "validate", f"rule {prefix}: invalid: {result.get('failure') or 'no reason given'}")


def upstream_policy(desired: Desired, up_account: str, up_region: str, upstream_prefix: str | None = None) -> dict:
    """The registry policy the upstream ECR registry's owner must have [UG-PRIV]: on every
    repository, or with an upstream repository prefix only on the repositories under it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"PullThroughCacheFrom{desired.account}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{desired.partition}:iam::{desired.account}:root"},
                "Action": list(UPSTREAM_ACTIONS),
                "Resource": f"arn:{desired.partition}:ecr:{up_region}:{up_account}:repository/"
                + (f"{upstream_prefix}/*" if upstream_prefix else "*"),
            }
        ],
    }


def ecr_upstream_findings(
    desired: Desired, trust: dict[str, dict | None], role_docs: dict[str, list[dict]]
) -> list[Finding]:
    """For each ECR-to-ECR rule: the upstream's registry policy, spelled out, and the role's checks.

    ``trust``/``role_docs`` map a role ARN to its trust policy (None: no such role) and identity
    policy documents.
    """
    out = []
    for up in desired.rules:
        ecr = up.ecr_upstream
        if ecr is None:
            continue
        account, region = ecr
        if account != desired.account:
            doc = json.dumps(upstream_policy(desired, account, region, up.upstream_prefix), separators=(",", ":"))
            out.append(
                Finding(
                    True,
                    "ecr-upstream",
                    f"rule {up.prefix}: the owner of {up.key} (account {account}) must grant "
                    f"this account a registry (or repository) policy in {region}: {doc} ({UG_PRIV})",
                )
            )
        if up.role is None:
            if account == desired.account:
                out.append(
                    Finding(True, "ecr-upstream", f"rule {up.prefix}: same-account upstream {up.host}; no role needed")
                )
            continue
        if up.role.split(":")[4] != desired.account:
            out.append(
                Finding(
                    False,
                    "ecr-upstream",
                    f"rule {up.prefix}: customRoleArn {up.role} must be in account {desired.account}",
                )
            )
            continue
        have = trust.get(up.role)
        if have is None:
            out.append(
                Finding(
                    False, "ecr-upstream", f"rule {up.prefix}: role {up.role} not found in account {desired.account}"
                )
            )
            continue
        trusted = any(
            stmt.get("Effect") == "Allow"
            and ROLE_TRUST_SERVICE
            in _list((stmt.get("Principal") or {}).get("Service") if isinstance(stmt.get("Principal"), dict) else None)
            and any(fnmatchcase("sts:AssumeRole", a) for a in _list(stmt.get("Action")))
            for stmt in _list(have.get("Statement"))
            if isinstance(stmt, dict)
        )
        if not trusted:
            out.append(
                Finding(
                    False,
                    "ecr-upstream",
                    f"rule {up.prefix}: role {up.role} does not trust {ROLE_TRUST_SERVICE} "
                    f'(its trust policy needs Principal {{"Service": "{ROLE_TRUST_SERVICE}"}}, Action sts:AssumeRole; {UG_PRIV})',
                )
            )
        resource = f"arn:{desired.partition}:ecr:{region}:{account}:repository/example"
        missing = [a for a in ROLE_ACTIONS if not allowed(role_docs.get(up.role) or [], a, resource)]
        if missing:
            out.append(
                Finding(
                    False,
                    "ecr-upstream",
                    f"rule {up.prefix}: role {up.role} lacks " + ", ".join(missing) + f" ({UG_PRIV})",
                )
            )
        elif trusted:
            out.append(
                Finding(
                    True,
                    "ecr-upstream",
                    f"rule {up.prefix}: role {up.role} is trusted by {ROLE_TRUST_SERVICE} and may pull from {up.host}",
                )
            )
    return out


def findings(client, settings, ecr_settings, desired: Desired, observed: Observed) -> list[Finding]:
    """Every doctor check: validation, drift, preflight, registry host, quota, roles.  Reads only."""
    out: list[Finding] = []
    for up in desired.rules:
        rule = observed.rules.get(up.prefix)
        if rule is None:
            continue  # reported as drift below
        if rule.get("credentialArn"):
            out.append(validation_finding(up.prefix, client.validate_rule(up.prefix)))
        elif up.registry == "ecr":
            out.append(
                Finding(
                    True,
                    "validate",
                    f"rule {up.prefix}: ECR upstream {up.host}; ValidatePullThroughCacheRule checks secrets, see ecr-upstream below",
                )
            )
        else:  # ValidatePullThroughCacheRule is documented for authenticated upstreams only
            out.append(
                Finding(
                    True,
                    "validate",
                    f"rule {up.prefix}: {rule.get('upstreamRegistryUrl')} is pulled anonymously; no credentials to validate",
                )
            )
    changes = make_plan(desired, observed)
    for c in changes:
        out.append(Finding(False, "drift", f"{SYMBOLS[c.action]} {c.action} {c.kind} {c.name} ({c.reason})"))
    if not changes:
        out.append(Finding(True, "drift", "the account matches .imagemirror.yaml"))
    for problem in preflight(desired, observed, changes):
        out.append(Finding(False, "preflight", problem))
    cache_host = registry_host(desired.account, desired.region)
    if settings.registry is None:
        out.append(Finding(False, "registry", f"no registry: in .imagemirror.yaml; the cache is {cache_host}"))
    elif settings.registry != cache_host:
        out.append(
            Finding(
                False,
                "registry",
                f"{settings.registry} in .imagemirror.yaml, but the cache these rules fill is {cache_host}",
            )
        )
    else:
        out.append(Finding(True, "registry", f"{cache_host} is this account's cache"))
    if desired.ci_policy and observed.ci_policy and not is_tagged(observed.ci_policy.get("Tags")):
        out.append(
            Finding(
                False,
                "iam-policy",
                f"{observed.ci_policy['Arn']} exists but is not tagged managed-by=imagemirror, so apply leaves it alone; rename ecr.ci_policy or tag it",
            )
        )
    if not any(f.check == "preflight" and "quota" in f.message for f in out):
        out.append(Finding(True, "quota", f"{len(observed.rules)} of {RULE_QUOTA} pull-through cache rules in use"))
    roles: dict[str, list[dict] | None] = {}
    for arn in ecr_settings.node_roles:
        if arn.split(":")[4] != desired.account:
            out.append(
                Finding(
                    False,
                    "node-role",
                    f"{arn}: in another account; first pulls through the cache need a role in the registry's account",
                )
            )
            continue
        name = arn.rsplit("/", 1)[-1]
        roles[arn] = client.role_policies(name) if client.role_exists(name) else None
    out.extend(node_role_findings(desired, observed, roles))
    if not ecr_settings.node_roles:
        out.append(
            Finding(
                True,
                "node-role",
                "no ecr.node_roles configured; nodes need ecr:BatchImportUpstreamImage and ecr:CreateRepository from elsewhere",
            )
        )
    trust: dict[str, dict | None] = {}
    docs: dict[str, list[dict]] = {}
    for up in desired.rules:
        if up.role and up.role.split(":")[4] == desired.account and up.role not in trust:
            name = up.role.rsplit("/", 1)[-1]
            trust[up.role] = client.role_trust(name)
            docs[up.role] = client.role_policies(name) if trust[up.role] is not None else []
    out.extend(ecr_upstream_findings(desired, trust, docs))
    return out


def format_text(found: list[Finding]) -> str:
    lines = [f"{'ok' if f.ok else 'PROBLEM'}: {f.check}: {f.message}" for f in found]
    bad = sum(1 for f in found if not f.ok)
    lines.append(f"{bad} problem(s) found." if bad else "No problems found.")
    return "\n".join(lines) + "\n"
