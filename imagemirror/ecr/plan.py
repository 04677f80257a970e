"""Desired ECR state + observed state -> the list of changes, as data.  Pure.

A :class:`Change` says what to do (create / update / replace / delete), to what (kind, name),
why (reason) and carries ``spec``: the plain request data the executor sends.  Specs never hold
secret values: credentials are read by the executor, just before it writes a secret.

What imagemirror manages, and so may update or delete:
* rules at prefixes configured in ``rules:``, and rules whose prefix has a creation template
  marked by imagemirror (description starting with :data:`MARK`);
* creation templates carrying :data:`MARK`, and those at configured prefixes;
* secrets, repositories and the CI policy tagged ``managed-by=imagemirror``;
* the registry-policy statement with Sid :data:`SID` (other statements are kept as they are).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .settings import MANAGED_TAG, RULE_QUOTA, EcrSettings, Upstream

MARK = "Managed by imagemirror"
SID = "ImagemirrorPullThroughCache"
NODE_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
ACTIONS = ("create", "update", "replace", "delete")
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}


@dataclass(frozen=True)
class Change:
    action: str
    kind: str
    name: str
    reason: str
    spec: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Desired:
    account: str
    region: str
    rules: tuple[Upstream, ...]
    templates: dict[str, dict]  # prefix -> CreateRepositoryCreationTemplate fields
    repositories: dict[str, dict]  # name -> {"scanOnPush", "lifecyclePolicy"}
    statement: dict | None  # the registry-policy statement for node roles
    ci_policy: tuple[str, dict] | None  # (name, document)


@dataclass
class Observed:
    """What the describe calls found.  Missing things are absent keys or None, never errors."""

    rules: dict[str, dict] = field(default_factory=dict)  # prefix -> PullThroughCacheRule
    templates: dict[str, dict] = field(default_factory=dict)  # prefix -> template
    secrets: dict[str, dict] = field(default_factory=dict)  # name -> {"ARN", "Tags": {k: v}}
    repositories: dict[str, dict | None] = field(default_factory=dict)  # name -> state or None
    registry_policy: dict | None = None
    ci_policy: dict | None = None  # {"Arn", "Tags", "Document", "AttachmentCount"}
    cached: dict[str, list[dict]] = field(default_factory=dict)  # prefix -> [{"name", "images"}]


def lifecycle_policy(untagged_days: int | None, keep_last: int) -> dict:
    rules: list[dict[str, Any]] = []
    if untagged_days is not None:
        rules.append(
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            }
        )
    rules.append(
        {
            "rulePriority": len(rules) + 1,
            "description": f"Keep the last {keep_last} images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_last},
            "action": {"type": "expire"},
        }
    )
    return {"rules": rules}


def dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def repository_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


def desired_state(ecr: EcrSettings, account: str, region: str) -> Desired:
    templates = {}
    for up in ecr.upstreams:
        template: dict[str, Any] = {
            "prefix": up.prefix,
            "description": f"{MARK}: pull-through cache for {up.host}",
            "appliedFor": ["PULL_THROUGH_CACHE"],
            "imageTagMutability": "MUTABLE",
            "encryptionConfiguration": {"encryptionType": "AES256"},
            "lifecyclePolicy": dumps(lifecycle_policy(ecr.untagged_days, ecr.keep_last)),
        }
        if ecr.creation_role:
            # Tags on a template need a creation role, or ECR fails to create the repository.
            template["customRoleArn"] = ecr.creation_role
            template["resourceTags"] = [{"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]}]
        templates[up.prefix] = template
    repositories = {
        r.name: {"scanOnPush": True, "lifecyclePolicy": dumps(lifecycle_policy(None, r.keep_last))}
        for r in ecr.repositories
    }
    statement = None
    if ecr.node_roles and ecr.upstreams:
        statement = {
            "Sid": SID,
            "Effect": "Allow",
            "Principal": {"AWS": list(ecr.node_roles)},
            "Action": list(NODE_ACTIONS),
            "Resource": sorted(repository_arn(region, account, f"{u.prefix}/*") for u in ecr.upstreams),
        }
    ci = None
    if ecr.ci_policy and ecr.repositories:
        ci = (
            ecr.ci_policy,
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PushToImagemirrorRepositories",
                        "Effect": "Allow",
                        "Action": list(PUSH_ACTIONS),
                        "Resource": sorted(repository_arn(region, account, r.name) for r in ecr.repositories),
                    },
                    {"Sid": "GetAuthorizationToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                ],
            },
        )
    return Desired(account, region, ecr.upstreams, templates, repositories, statement, ci)


# ---------------------------------------------------------------- comparisons


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return sorted(value) if isinstance(value, list) else [value]


def normal_statement(stmt: dict) -> dict:
    """A statement with order-insensitive lists, for comparing."""
    out = dict(stmt)
    for key in ("Action", "Resource", "NotAction", "NotResource"):
        if key in out:
            out[key] = _as_list(out[key])
    principal = out.get("Principal")
    if isinstance(principal, dict):
        out["Principal"] = {k: _as_list(v) for k, v in principal.items()}
    return out


def _json_equal(a: str | None, b: str | None) -> bool:
    try:
        return (json.loads(a) if a else None) == (json.loads(b) if b else None)
    except ValueError:
        return False


def template_differences(want: dict, have: dict) -> list[str]:
    diffs = []
    for key in ("description", "imageTagMutability", "customRoleArn"):
        if want.get(key) != have.get(key):
            diffs.append(key)
    if sorted(want.get("appliedFor", [])) != sorted(have.get("appliedFor", [])):
        diffs.append("appliedFor")
    if (have.get("encryptionConfiguration") or {}).get("encryptionType", "AES256") != want["encryptionConfiguration"]["encryptionType"]:
        diffs.append("encryptionConfiguration")
    if not _json_equal(want.get("lifecyclePolicy"), have.get("lifecyclePolicy")):
        diffs.append("lifecyclePolicy")
    tags = lambda t: sorted((x["Key"], x["Value"]) for x in (t.get("resourceTags") or []))  # noqa: E731
    if tags(want) != tags(have):
        diffs.append("resourceTags")
    return diffs


def is_managed_template(template: dict | None) -> bool:
    return bool(template) and str(template.get("description") or "").startswith(MARK)


def is_tagged(tags: dict | None) -> bool:
    return (tags or {}).get(MANAGED_TAG[0]) == MANAGED_TAG[1]


def managed_rule_prefixes(desired: Desired, observed: Observed) -> set[str]:
    wanted = {u.prefix for u in desired.rules}
    return {p for p in observed.rules if p in wanted or is_managed_template(observed.templates.get(p))}


def _rule_spec(up: Upstream) -> dict:
    return {"ecrRepositoryPrefix": up.prefix, "upstreamRegistry": up.registry, "upstreamRegistryUrl": up.url, "secret": up.secret}


# ---------------------------------------------------------------- plan


def plan(desired: Desired, observed: Observed, *, rotate_credentials: bool = False) -> list[Change]:
    """Changes that make the account match ``desired`` (what ``apply`` executes)."""
    changes: list[Change] = []
    wanted = {u.prefix: u for u in desired.rules}
    managed = managed_rule_prefixes(desired, observed)

    # Secrets for upstreams that need credentials (reused when present).
    for up in desired.rules:
        if up.secret is None:
            continue
        have = observed.secrets.get(up.secret)
        source = f"credentials from ${up.username_env}/${up.token_env}, a prompt or --credentials-stdin"
        if have is None:
            changes.append(Change("create", "secret", up.secret, f"{up.host} needs credentials; {source}", {"host": up.host, "name": up.secret}))
        elif rotate_credentials:
            changes.append(Change("update", "secret", up.secret, f"--rotate-credentials; {source}", {"host": up.host, "name": up.secret, "arn": have["ARN"]}))

    # Pull-through cache rules.
    consumed: set[str] = set()
    for up in desired.rules:
        have = observed.rules.get(up.prefix)
        spec = _rule_spec(up)
        if have is None:
            old = next(
                (p for p in sorted(managed) if p not in wanted and p not in consumed and observed.rules[p].get("upstreamRegistryUrl") == up.url),
                None,
            )
            if old is not None:
                consumed.add(old)
                changes.append(Change("replace", "rule", up.prefix, f"prefix changed: {old} -> {up.prefix} (rules can only be recreated)", {**spec, "old_prefix": old}))
            else:
                changes.append(Change("create", "rule", up.prefix, f"{up.host} -> {up.prefix}/ via {up.url}", spec))
            continue
        reasons = []
        if have.get("upstreamRegistryUrl") != up.url:
            reasons.append(f"upstreamRegistryUrl {have.get('upstreamRegistryUrl')} -> {up.url}")
        if have.get("upstreamRegistry") not in (None, up.registry):
            reasons.append(f"upstreamRegistry {have.get('upstreamRegistry')} -> {up.registry}")
        if reasons:
            changes.append(Change("replace", "rule", up.prefix, "; ".join(reasons) + " (rules can only be recreated)", {**spec, "old_prefix": up.prefix}))
            continue
        secret = observed.secrets.get(up.secret) if up.secret else None
        have_cred = have.get("credentialArn")
        if up.secret is None and have_cred:
            changes.append(Change("replace", "rule", up.prefix, f"{up.url} needs no credentials but the rule has some", {**spec, "old_prefix": up.prefix}))
        elif up.secret is not None and (secret is None or secret["ARN"] != have_cred):
            changes.append(Change("update", "rule", up.prefix, f"credentialArn -> secret {up.secret}", spec))
    for prefix in sorted(managed - set(wanted) - consumed):
        rule = observed.rules[prefix]
        changes.append(Change("delete", "rule", prefix, f"{rule.get('upstreamRegistryUrl')} is no longer in rules:", {"ecrRepositoryPrefix": prefix}))

    # Repository creation templates.
    for prefix, want in desired.templates.items():
        have = observed.templates.get(prefix)
        if have is None:
            changes.append(Change("create", "template", prefix, "MUTABLE tags, AES256, lifecycle policy, for PULL_THROUGH_CACHE", want))
        else:
            diffs = template_differences(want, have)
            if diffs:
                changes.append(Change("update", "template", prefix, ", ".join(diffs) + " differ", want))
    for prefix in sorted(observed.templates):
        if prefix not in desired.templates and is_managed_template(observed.templates[prefix]):
            changes.append(Change("delete", "template", prefix, "its rule is no longer in rules:", {"prefix": prefix}))

    # Private repositories.
    for name, want in desired.repositories.items():
        have = observed.repositories.get(name)
        if have is None:
            changes.append(Change("create", "repository", name, "scan on push, lifecycle policy, tag managed-by=imagemirror", {"name": name, **want}))
            continue
        diffs = []
        if bool(have.get("scanOnPush")) != want["scanOnPush"]:
            diffs.append("scanOnPush")
        if not _json_equal(want["lifecyclePolicy"], have.get("lifecyclePolicy")):
            diffs.append("lifecyclePolicy")
        if diffs:
            changes.append(Change("update", "repository", name, ", ".join(diffs) + " differ", {"name": name, **want, "fields": diffs}))

    changes.extend(_registry_policy_changes(desired.statement, observed.registry_policy))

    # IAM policy for CI pushes.
    if desired.ci_policy is not None:
        name, document = desired.ci_policy
        have = observed.ci_policy
        if have is None:
            changes.append(Change("create", "iam-policy", name, "least-privilege push to " + ", ".join(desired.repositories), {"name": name, "document": document}))
        elif not is_tagged(have.get("Tags")):
            pass  # someone else's policy of that name: left alone (doctor reports it)
        elif [normal_statement(s) for s in _statements(have.get("Document"))] != [normal_statement(s) for s in document["Statement"]]:
            changes.append(Change("update", "iam-policy", name, "policy document differs", {"name": name, "arn": have["Arn"], "document": document}))
    elif observed.ci_policy is not None and is_tagged(observed.ci_policy.get("Tags")):
        changes.append(_delete_ci_policy(observed.ci_policy, "ci_policy is off"))

    # Secrets of rules that are gone (after their rules).
    wanted_secrets = {u.secret for u in desired.rules if u.secret}
    for name in sorted(observed.secrets):
        if name not in wanted_secrets and is_tagged(observed.secrets[name].get("Tags")):
            in_use = [p for p, r in observed.rules.items() if r.get("credentialArn") == observed.secrets[name]["ARN"] and p not in managed]
            if not in_use:
                changes.append(Change("delete", "secret", name, "no configured rule uses it", {"name": name}))
    return changes


def _statements(document: Any) -> list[dict]:
    if not isinstance(document, dict):
        return []
    stmts = document.get("Statement") or []
    return [stmts] if isinstance(stmts, dict) else list(stmts)


def _registry_policy_changes(statement: dict | None, policy: dict | None, why: str = "no node_roles configured") -> list[Change]:
    stmts = _statements(policy)
    ours = [s for s in stmts if s.get("Sid") == SID]
    others = [s for s in stmts if s.get("Sid") != SID]
    if statement is None:
        if not ours:
            return []
        if not others:
            return [Change("delete", "registry-policy", SID, f"{why}; no other statements remain", {"document": None})]
        doc = {**policy, "Statement": others}
        return [Change("delete", "registry-policy", SID, f"{why}; {len(others)} other statement(s) kept", {"document": doc})]
    doc = {"Version": (policy or {}).get("Version", "2012-10-17"), "Statement": [*others, statement]}
    kept = f"; {len(others)} other statement(s) kept" if others else ""
    if not ours:
        return [Change("create", "registry-policy", SID, "node roles may run ecr:CreateRepository and ecr:BatchImportUpstreamImage on the cache prefixes" + kept, {"document": doc})]
    if [normal_statement(s) for s in ours] != [normal_statement(statement)]:
        return [Change("update", "registry-policy", SID, "node roles or prefixes changed" + kept, {"document": doc})]
    return []


def _delete_ci_policy(have: dict, reason: str) -> Change:
    return Change("delete", "iam-policy", have["Arn"].rsplit("/", 1)[-1], reason, {"arn": have["Arn"]})


# ---------------------------------------------------------------- destroy


def destroy_plan(desired: Desired, observed: Observed, *, purge_cache: bool = False) -> tuple[list[Change], list[str]]:
    """Changes that remove what imagemirror manages, and notes on what is kept and why."""
    changes: list[Change] = []
    notes: list[str] = []
    wanted = {u.prefix: u for u in desired.rules}
    rule_prefixes = []
    for prefix in sorted(observed.rules):
        rule = observed.rules[prefix]
        up = wanted.get(prefix)
        if up is not None and rule.get("upstreamRegistryUrl") == up.url or up is None and is_managed_template(observed.templates.get(prefix)):
            rule_prefixes.append(prefix)
            changes.append(Change("delete", "rule", prefix, f"pull-through cache rule for {rule.get('upstreamRegistryUrl')}", {"ecrRepositoryPrefix": prefix}))
        elif up is not None:
            notes.append(f"rule {prefix}: kept, it pulls from {rule.get('upstreamRegistryUrl')}, not {up.url}")
    for prefix in sorted(observed.templates):
        if is_managed_template(observed.templates[prefix]):
            changes.append(Change("delete", "template", prefix, "repository creation template made by imagemirror", {"prefix": prefix}))
        elif prefix in wanted:
            notes.append(f"template {prefix}: kept, imagemirror did not create it")
    for name, repo in sorted(observed.repositories.items()):
        if repo is None:
            continue
        if not is_tagged(repo.get("Tags")):
            notes.append(f"repository {name}: kept, not tagged managed-by=imagemirror")
        elif repo.get("images", 0):
            notes.append(f"repository {name}: kept, it holds {repo['images']} image(s); delete it by hand")
        else:
            changes.append(Change("delete", "repository", name, "empty repository made by imagemirror", {"name": name, "force": False}))
    changes.extend(_registry_policy_changes(None, observed.registry_policy, "statement made by imagemirror"))
    if observed.ci_policy is not None:
        if not is_tagged(observed.ci_policy.get("Tags")):
            notes.append("iam-policy: kept, not tagged managed-by=imagemirror")
        elif observed.ci_policy.get("AttachmentCount"):
            notes.append(f"iam-policy {observed.ci_policy['Arn']}: kept, attached to {observed.ci_policy['AttachmentCount']} identities; detach it first")
        else:
            changes.append(_delete_ci_policy(observed.ci_policy, "CI push policy made by imagemirror"))
    deleted_rules = set(rule_prefixes)
    for name in sorted(observed.secrets):
        if is_tagged(observed.secrets[name].get("Tags")):
            users = sorted(p for p, r in observed.rules.items() if r.get("credentialArn") == observed.secrets[name]["ARN"] and p not in deleted_rules)
            if users:
                notes.append(f"secret {name}: kept, rule(s) {', '.join(users)} still use it")
            else:
                changes.append(Change("delete", "secret", name, "credential secret made by imagemirror", {"name": name}))
        elif name in {u.secret for u in desired.rules}:
            notes.append(f"secret {name}: kept, not tagged managed-by=imagemirror")
    cached = sum(len(observed.cached.get(p, [])) for p in rule_prefixes)
    if purge_cache:
        for prefix in rule_prefixes:
            for repo in observed.cached.get(prefix, []):
                changes.append(
                    Change("delete", "cached-repository", repo["name"], f"--purge-cache: {repo.get('images', 0)} cached image(s)", {"name": repo["name"], "force": True})
                )
    elif cached:
        notes.append(f"{cached} cached repositories under the rules' prefixes are kept (--purge-cache deletes them)")
    return changes, notes


# ---------------------------------------------------------------- reporting (pure)


def summary(changes: list[Change]) -> dict[str, int]:
    return {a: sum(1 for c in changes if c.action == a) for a in ACTIONS}


def format_text(changes: list[Change], account: str, region: str, notes: list[str] = (), verb: str = "Plan") -> str:
    lines = [f"{verb} for account {account} in {region}:"]
    if not changes:
        lines.append("  No changes: the account matches .imagemirror.yaml.")
    width = max((len(f"{c.action} {c.kind} {c.name}") for c in changes), default=0)
    for c in changes:
        head = f"{c.action} {c.kind} {c.name}"
        lines.append(f"  {SYMBOLS[c.action]:>3} {head:<{width}}  ({c.reason})")
    for note in notes:
        lines.append(f"  note: {note}")
    s = summary(changes)
    if verb.endswith("plan") or verb == "Plan":
        counts = f"{s['create']} to create, {s['update']} to update, {s['replace']} to replace, {s['delete']} to delete"
    else:
        counts = f"{s['create']} created, {s['update']} updated, {s['replace']} replaced, {s['delete']} deleted"
    lines.append(f"{verb}: {counts}.")
    return "\n".join(lines) + "\n"


def format_json(changes: list[Change], account: str, region: str, notes: list[str] = ()) -> str:
    return json.dumps(
        {"account": account, "region": region, "changes": [c.to_json() for c in changes], "notes": list(notes), "summary": summary(changes)},
        indent=2,
    ) + "\n"


def quota_problem(desired: Desired, observed: Observed, changes: list[Change]) -> str | None:
    after = len(observed.rules) + sum(1 for c in changes if c.kind == "rule" and c.action == "create") - sum(
        1 for c in changes if c.kind == "rule" and c.action == "delete"
    )
    if after > RULE_QUOTA:
        return f"{after} pull-through cache rules after apply exceed ECR's quota of {RULE_QUOTA} per registry"
    return None
