"""Checks behind ``imagemirror ecr doctor``.  Pure: plain data in, findings out.

Policy evaluation here is deliberately simple: Allow/Deny statements with ``Action`` and
``Resource`` wildcards and ``Principal`` (for the registry policy).  ``NotAction``,
``NotResource`` and ``Condition`` blocks are not evaluated: a statement using them does not
count as granting (a conditional Deny still counts as denying), so doctor errs towards
reporting a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from .plan import NODE_ACTIONS, Desired, Observed, repository_arn


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
            if effect == "Deny" and _matches({k: v for k, v in stmt.items() if k != "Condition"}, action, resource, principal):
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
            resource = repository_arn(desired.region, desired.account, f"{up.prefix}/example")
            for action in NODE_ACTIONS:
                if not (allowed(registry, action, resource, principal=role) or allowed(identity, action, resource)):
                    missing.append(f"{action} on repository/{up.prefix}/*")
        if missing:
            out.append(
                Finding(
                    False,
                    "node-role",
                    f"{role}: cannot fill the cache on first pull, lacks " + ", ".join(missing)
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
