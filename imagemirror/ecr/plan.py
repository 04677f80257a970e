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

The CI policy is IAM, so global: one policy serves every Region it is applied from.  Its
document names the repositories in every Region (``arn:<partition>:ecr:*:<account>:...``), and
its tag :data:`REGIONS_TAG` lists the Regions whose ``apply`` uses it.  A plan compares only the
document and whether *its own* Region is listed, so applying from another Region never shows up
as churn; ``destroy`` deletes the policy only when no other listed Region still uses it.

:func:`preflight` is the "plan before write" check: what the account's state already shows will
fail (the 50-rule quota, prefixes taken or nested, a secret pending deletion, a missing role).
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
REGIONS_TAG = "imagemirror-regions"
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
    partition: str = "aws"
    creation_role: str | None = None


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
    deleted_secrets: set[str] = field(default_factory=set)  # names pending deletion
    roles: dict[str, bool] = field(default_factory=dict)  # role ARN -> exists
    ci_users: dict[str, list[str]] = field(default_factory=dict)  # other Region -> what there uses the policy


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


def repository_arn(region: str, account: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:ecr:{region}:{account}:repository/{name}"


def policy_regions(have: dict | None) -> list[str]:
    """The Regions listed in a CI policy's :data:`REGIONS_TAG`."""
    return sorted(set(((have or {}).get("Tags") or {}).get(REGIONS_TAG, "").split()))


def desired_state(ecr: EcrSettings, account: str, region: str, partition: str = "aws") -> Desired:
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
            "Resource": sorted(repository_arn(region, account, f"{u.prefix}/*", partition) for u in ecr.upstreams),
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
                        # Every Region: one global policy serves each Region it is applied from.
                        "Resource": sorted(repository_arn("*", account, r.name, partition) for r in ecr.repositories),
                    },
                    {
                        "Sid": "GetAuthorizationToken",
                        "Effect": "Allow",
                        "Action": "ecr:GetAuthorizationToken",
                        "Resource": "*",
                    },
                ],
            },
        )
    return Desired(account, region, ecr.upstreams, templates, repositories, statement, ci, partition, ecr.creation_role)


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
    if (have.get("encryptionConfiguration") or {}).get("encryptionType", "AES256") != want["encryptionConfiguration"][
        "encryptionType"
    ]:
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
    spec = {
        "ecrRepositoryPrefix": up.prefix,
        "upstreamRegistry": up.registry,
        "upstreamRegistryUrl": up.url,
        "secret": up.secret,
        "customRoleArn": up.role,
    }
    if up.upstream_prefix:  # ECR to ECR: <prefix>/x pulls <upstream_prefix>/x
        spec["upstreamRepositoryPrefix"] = up.upstream_prefix
    return spec


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
            changes.append(
                Change(
                    "create",
                    "secret",
                    up.secret,
                    f"{up.host} needs credentials; {source}",
                    {"host": up.host, "name": up.secret},
                )
            )
        elif rotate_credentials:
            changes.append(
                Change(
                    "update",
                    "secret",
                    up.secret,
                    f"--rotate-credentials; {source}",
                    {"host": up.host, "name": up.secret, "arn": have["ARN"]},
                )
            )

    # Pull-through cache rules.
    consumed: set[str] = set()
    for up in desired.rules:
        have = observed.rules.get(up.prefix)
        spec = _rule_spec(up)
        if have is None:
            old = next(
                (
                    p
                    for p in sorted(managed)
                    if p not in wanted
                    and p not in consumed
                    and observed.rules[p].get("upstreamRegistryUrl") == up.url
                    and (observed.rules[p].get("upstreamRepositoryPrefix") or "ROOT") == (up.upstream_prefix or "ROOT")
                ),
                None,
            )
            if old is not None:
                consumed.add(old)
                changes.append(
                    Change(
                        "replace",
                        "rule",
                        up.prefix,
                        f"prefix changed: {old} -> {up.prefix} (rules can only be recreated)",
                        {**spec, "old_prefix": old},
                    )
                )
            else:
                via = f"ECR to ECR{', role ' + up.role if up.role else ''}" if up.registry == "ecr" else f"via {up.url}"
                changes.append(Change("create", "rule", up.prefix, f"{up.key} -> {up.prefix}/ {via}", spec))
            continue
        reasons = []
        if have.get("upstreamRegistryUrl") != up.url:
            reasons.append(f"upstreamRegistryUrl {have.get('upstreamRegistryUrl')} -> {up.url}")
        if have.get("upstreamRegistry") not in (None, up.registry):
            reasons.append(f"upstreamRegistry {have.get('upstreamRegistry')} -> {up.registry}")
        if (have.get("upstreamRepositoryPrefix") or "ROOT") != (
            up.upstream_prefix or "ROOT"
        ):  # Update cannot change it
            reasons.append(
                f"upstreamRepositoryPrefix {have.get('upstreamRepositoryPrefix') or 'ROOT'} -> {up.upstream_prefix or 'ROOT'}"
            )
        if reasons:
            changes.append(
                Change(
                    "replace",
                    "rule",
                    up.prefix,
                    "; ".join(reasons) + " (rules can only be recreated)",
                    {**spec, "old_prefix": up.prefix},
                )
            )
            continue
        secret = observed.secrets.get(up.secret) if up.secret else None
        have_cred = have.get("credentialArn")
        if up.secret is None and have_cred:
            changes.append(
                Change(
                    "replace",
                    "rule",
                    up.prefix,
                    f"{up.url} needs no credentials but the rule has some",
                    {**spec, "old_prefix": up.prefix},
                )
            )
        elif up.secret is not None and (secret is None or secret["ARN"] != have_cred):
            changes.append(Change("update", "rule", up.prefix, f"credentialArn -> secret {up.secret}", spec))
        elif up.registry == "ecr" and (have.get("customRoleArn") or None) != up.role:
            if up.role is None:  # UpdatePullThroughCacheRule cannot clear a role: recreate
                changes.append(
                    Change(
                        "replace",
                        "rule",
                        up.prefix,
                        "customRoleArn removed (rules can only be recreated)",
                        {**spec, "old_prefix": up.prefix},
                    )
                )
            else:
                changes.append(Change("update", "rule", up.prefix, f"customRoleArn -> {up.role}", spec))
    for prefix in sorted(managed - set(wanted) - consumed):
        rule = observed.rules[prefix]
        changes.append(
            Change(
                "delete",
                "rule",
                prefix,
                f"{rule.get('upstreamRegistryUrl')} is no longer in rules:",
                {"ecrRepositoryPrefix": prefix},
            )
        )

    # Repository creation templates.
    for prefix, want in desired.templates.items():
        have = observed.templates.get(prefix)
        if have is None:
            changes.append(
                Change(
                    "create", "template", prefix, "MUTABLE tags, AES256, lifecycle policy, for PULL_THROUGH_CACHE", want
                )
            )
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
            changes.append(
                Change(
                    "create",
                    "repository",
                    name,
                    "scan on push, lifecycle policy, tag managed-by=imagemirror",
                    {"name": name, **want},
                )
            )
            continue
        diffs = []
        if bool(have.get("scanOnPush")) != want["scanOnPush"]:
            diffs.append("scanOnPush")
        if not _json_equal(want["lifecyclePolicy"], have.get("lifecyclePolicy")):
            diffs.append("lifecyclePolicy")
        if diffs:
            changes.append(
                Change(
                    "update", "repository", name, ", ".join(diffs) + " differ", {"name": name, **want, "fields": diffs}
                )
            )

    changes.extend(_registry_policy_changes(desired.statement, observed.registry_policy))

    # IAM policy for CI pushes.
    if desired.ci_policy is not None:
        name, document = desired.ci_policy
        have = observed.ci_policy
        if have is None:
            changes.append(
                Change(
                    "create",
                    "iam-policy",
                    name,
                    "least-privilege push to " + ", ".join(desired.repositories) + " (one IAM policy for every Region)",
                    {"name": name, "document": document, "regions": [desired.region]},
                )
            )
        elif not is_tagged(have.get("Tags")):
            pass  # someone else's policy of that name: left alone (doctor reports it)
        else:
            differs = [normal_statement(s) for s in _statements(have.get("Document"))] != [
                normal_statement(s) for s in document["Statement"]
            ]
            regions = policy_regions(have)
            missing = desired.region not in regions
            if differs or missing:
                why = ["policy document differs"] if differs else []
                if missing:
                    why.append(
                        f"Region {desired.region} joins its {REGIONS_TAG} tag ({' '.join(regions) or 'none yet'})"
                    )
                changes.append(
                    Change(
                        "update",
                        "iam-policy",
                        name,
                        "; ".join(why),
                        {
                            "name": name,
                            "arn": have["Arn"],
                            "document": document if differs else None,
                            "regions": sorted({*regions, desired.region}),
                        },
                    )
                )
    elif observed.ci_policy is not None and is_tagged(observed.ci_policy.get("Tags")):
        changes.append(_delete_ci_policy(observed.ci_policy, "ci_policy is off"))

    # Secrets of rules that are gone (after their rules).
    wanted_secrets = {u.secret for u in desired.rules if u.secret}
    for name in sorted(observed.secrets):
        if name not in wanted_secrets and is_tagged(observed.secrets[name].get("Tags")):
            in_use = [
                p
                for p, r in observed.rules.items()
                if r.get("credentialArn") == observed.secrets[name]["ARN"] and p not in managed
            ]
            if not in_use:
                changes.append(Change("delete", "secret", name, "no configured rule uses it", {"name": name}))
    return changes


def _statements(document: Any) -> list[dict]:
    if not isinstance(document, dict):
        return []
    stmts = document.get("Statement") or []
    return [stmts] if isinstance(stmts, dict) else list(stmts)


def _registry_policy_changes(
    statement: dict | None, policy: dict | None, why: str = "no node_roles configured"
) -> list[Change]:
    stmts = _statements(policy)
    ours = [s for s in stmts if s.get("Sid") == SID]
    others = [s for s in stmts if s.get("Sid") != SID]
    if statement is None:
        if not ours:
            return []
        if not others:
            return [Change("delete", "registry-policy", SID, f"{why}; no other statements remain", {"document": None})]
        doc = {**policy, "Statement": others}
        return [
            Change("delete", "registry-policy", SID, f"{why}; {len(others)} other statement(s) kept", {"document": doc})
        ]
    doc = {"Version": (policy or {}).get("Version", "2012-10-17"), "Statement": [*others, statement]}
    kept = f"; {len(others)} other statement(s) kept" if others else ""
    if not ours:
        return [
            Change(
                "create",
                "registry-policy",
                SID,
                "node roles may run ecr:CreateRepository and ecr:BatchImportUpstreamImage on the cache prefixes" + kept,
                {"document": doc},
            )
        ]
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
        if (
            up is not None
            and rule.get("upstreamRegistryUrl") == up.url
            or up is None
            and is_managed_template(observed.templates.get(prefix))
        ):
            rule_prefixes.append(prefix)
            changes.append(
                Change(
                    "delete",
                    "rule",
                    prefix,
                    f"pull-through cache rule for {rule.get('upstreamRegistryUrl')}",
                    {"ecrRepositoryPrefix": prefix},
                )
            )
        elif up is not None:
            notes.append(f"rule {prefix}: kept, it pulls from {rule.get('upstreamRegistryUrl')}, not {up.url}")
    for prefix in sorted(observed.templates):
        if is_managed_template(observed.templates[prefix]):
            changes.append(
                Change(
                    "delete", "template", prefix, "repository creation template made by imagemirror", {"prefix": prefix}
                )
            )
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
            changes.append(
                Change(
                    "delete", "repository", name, "empty repository made by imagemirror", {"name": name, "force": False}
                )
            )
    changes.extend(_registry_policy_changes(None, observed.registry_policy, "statement made by imagemirror"))
    if observed.ci_policy is not None:
        if not is_tagged(observed.ci_policy.get("Tags")):
            notes.append("iam-policy: kept, not tagged managed-by=imagemirror")
        else:
            have = observed.ci_policy
            name = have["Arn"].rsplit("/", 1)[-1]
            others = {r: what for r, what in observed.ci_users.items() if r != desired.region and what}
            if others:
                remaining = sorted(set(policy_regions(have)) - {desired.region})
                uses = "; ".join(f"{r}: {', '.join(what)}" for r, what in sorted(others.items()))
                notes.append(
                    f"iam-policy {name}: kept, other Regions' registries still use it ({uses}; found by "
                    f"reading each Region that its {REGIONS_TAG} tag lists)"
                )
                if desired.region in policy_regions(have):
                    changes.append(
                        Change(
                            "update",
                            "iam-policy",
                            name,
                            f"Region {desired.region} leaves its {REGIONS_TAG} tag",
                            {"name": name, "arn": have["Arn"], "document": None, "regions": remaining},
                        )
                    )
            elif have.get("AttachmentCount"):
                notes.append(
                    f"iam-policy {have['Arn']}: kept, attached to {have['AttachmentCount']} identities; detach it first"
                )
            else:
                listed = sorted(set(policy_regions(have)) - {desired.region})
                why = "CI push policy made by imagemirror"
                if listed:
                    why += f"; no imagemirror resources left in {', '.join(listed)}"
                changes.append(_delete_ci_policy(have, why))
    deleted_rules = set(rule_prefixes)
    for name in sorted(observed.secrets):
        if is_tagged(observed.secrets[name].get("Tags")):
            users = sorted(
                p
                for p, r in observed.rules.items()
                if r.get("credentialArn") == observed.secrets[name]["ARN"] and p not in deleted_rules
            )
            if users:
                notes.append(f"secret {name}: kept, rule(s) {', '.join(users)} still use it")
            else:
                changes.append(
                    Change("delete", "secret", name, "credential secret made by imagemirror", {"name": name})
                )
        elif name in {u.secret for u in desired.rules}:
            notes.append(f"secret {name}: kept, not tagged managed-by=imagemirror")
    cached = sum(len(observed.cached.get(p, [])) for p in rule_prefixes)
    if purge_cache:
        for prefix in rule_prefixes:
            for repo in observed.cached.get(prefix, []):
                changes.append(
                    Change(
                        "delete",
                        "cached-repository",
                        repo["name"],
                        f"--purge-cache: {repo.get('images', 0)} cached image(s)",
                        {"name": repo["name"], "force": True},
                    )
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
    return (
        json.dumps(
            {
                "account": account,
                "region": region,
                "changes": [c.to_json() for c in changes],
                "notes": list(notes),
                "summary": summary(changes),
            },
            indent=2,
        )
        + "\n"
    )


def rules_after(observed: Observed, changes: list[Change]) -> int:
    """How many rules the registry holds after ``changes`` (a prefix-changing replace nets 0)."""
    created = sum(1 for c in changes if c.kind == "rule" and c.action == "create")
    deleted = sum(1 for c in changes if c.kind == "rule" and c.action == "delete")
    return len(observed.rules) + created - deleted


def quota_problem(desired: Desired, observed: Observed, changes: list[Change]) -> str | None:
    after = rules_after(observed, changes)
    if after > RULE_QUOTA:
        new = sum(1 for c in changes if c.kind == "rule" and c.action == "create")
        return (
            f"{len(observed.rules)} pull-through cache rules exist and the plan creates {new}: {after} would exceed "
            f"ECR's quota of {RULE_QUOTA} per registry (not adjustable); delete unused rules or drop some from rules:"
        )
    return None


def _nested(a: str, b: str) -> bool:
    return a != b and (a.startswith(b + "/") or b.startswith(a + "/"))


def preflight(desired: Desired, observed: Observed, changes: list[Change]) -> list[str]:
    """Why applying ``changes`` would fail, judged from the account's state; [] when it would not.

    Pure.  ``plan`` exits 1 with these, and ``apply`` checks them before its first write.
    """
    problems: list[str] = []
    problem = quota_problem(desired, observed, changes)
    if problem:
        problems.append(problem)
    for c in changes:
        if c.kind != "rule":
            continue
        if (
            c.action == "replace"
            and c.spec.get("old_prefix") == c.name
            and not is_managed_template(observed.templates.get(c.name))
        ):
            have = observed.rules.get(c.name) or {}
            problems.append(
                f"prefix {c.name} is taken by a rule for {have.get('upstreamRegistryUrl')} that imagemirror did not create; "
                "choose another prefix in rules: or delete that rule"
            )
    # Nested prefixes: a repository <a>/<b>/x would belong to two rules.
    deleting = {c.name for c in changes if c.kind == "rule" and c.action == "delete"} | {
        c.spec.get("old_prefix") for c in changes if c.kind == "rule" and c.action == "replace"
    }
    existing = {p for p in observed.rules if p not in deleting}
    for up in desired.rules:
        for other in sorted(existing | {u.prefix for u in desired.rules}):
            if _nested(up.prefix, other):
                short, long = sorted((up.prefix, other), key=len)
                problems.append(
                    f"prefixes {short} and {long} nest: a cached repository under {long}/ would match both rules"
                )
    for c in changes:
        if c.kind == "secret" and c.action == "create" and c.name in observed.deleted_secrets:
            problems.append(
                f"secret {c.name} is scheduled for deletion, so it cannot be created; restore it "
                f"(aws secretsmanager restore-secret --secret-id {c.name}) or wait until it is deleted"
            )
    for up in desired.rules:
        ecr = up.ecr_upstream
        if ecr is None:
            continue
        account, region = ecr
        if (account, region) == (desired.account, desired.region):
            problems.append(f"rule {up.prefix}: upstream {up.host} is this registry itself")
        if account != desired.account and up.role is None:
            problems.append(
                f"rule {up.prefix}: {up.host} is in another account ({account}); ECR needs an IAM role to pull "
                f"from it: set ecr.credentials.{up.host}.role (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private.html)"
            )
        if up.role is not None:
            if up.role.split(":")[4] != desired.account:
                problems.append(
                    f"rule {up.prefix}: customRoleArn {up.role} must be in this registry's account {desired.account}"
                )
            elif up.role.split(":")[1] != desired.partition:
                problems.append(f"rule {up.prefix}: customRoleArn {up.role} is not in partition {desired.partition}")
            elif observed.roles.get(up.role) is False:
                problems.append(f"rule {up.prefix}: role {up.role} does not exist in account {desired.account}")
    arns = [
        *((desired.statement or {}).get("Principal", {}).get("AWS", [])),
        *([desired.creation_role] if desired.creation_role else []),
    ]
    for arn in arns:
        if arn.split(":")[1] != desired.partition:
            problems.append(
                f"{arn} is not in partition {desired.partition} (the one STS reports for these credentials)"
            )
    role = desired.creation_role
    if role and desired.templates and observed.roles.get(role) is False:
        problems.append(f"ecr.creation_role {role} does not exist in account {desired.account}")
    return list(dict.fromkeys(problems))
