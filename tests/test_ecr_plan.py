"""Pure parts of ``imagemirror ecr``: the ``ecr:`` settings, the plan, destroy and doctor checks.

No AWS here: desired state comes from settings, observed state is written out as the plain data
the describe calls return.  The same flows run against a real moto server in
tests/integration/test_ecr.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagemirror.config import load_settings, parse_settings
from imagemirror.ecr import settings as ecr_settings
from imagemirror.ecr.apply import gather_credentials, ordered
from imagemirror.ecr.client import Credential
from imagemirror.ecr.doctor import allowed, node_role_findings, validation_finding
from imagemirror.ecr.plan import (
    MARK,
    SID,
    Change,
    Observed,
    desired_state,
    destroy_plan,
    format_json,
    format_text,
    lifecycle_policy,
    plan,
    quota_problem,
)
from imagemirror.errors import ConfigError

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/nodes"


def ecr_of(data: dict):
    return ecr_settings.parse(parse_settings(data))


def desired_of(data: dict | None = None):
    return desired_state(ecr_of(data or {"ecr": {"node_roles": [ROLE]}}), ACCOUNT, REGION)


def converged(desired) -> Observed:
    """The observed state right after a successful apply of ``desired``."""
    obs = Observed()
    for up in desired.rules:
        rule = {"ecrRepositoryPrefix": up.prefix, "upstreamRegistryUrl": up.url, "upstreamRegistry": up.registry}
        if up.secret:
            arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{up.secret}-AbCdEf"
            obs.secrets[up.secret] = {"ARN": arn, "Tags": {"managed-by": "imagemirror"}}
            rule["credentialArn"] = arn
        obs.rules[up.prefix] = rule
    obs.templates = {p: dict(t) for p, t in desired.templates.items()}
    obs.repositories = {
        n: {
            "scanOnPush": True,
            "lifecyclePolicy": r["lifecyclePolicy"],
            "Tags": {"managed-by": "imagemirror"},
            "images": 0,
        }
        for n, r in desired.repositories.items()
    }
    obs.registry_policy = {"Version": "2012-10-17", "Statement": [desired.statement]} if desired.statement else None
    if desired.ci_policy:
        obs.ci_policy = {
            "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{desired.ci_policy[0]}",
            "Document": desired.ci_policy[1],
            "Tags": {"managed-by": "imagemirror", "imagemirror-regions": REGION},
            "AttachmentCount": 0,
        }
    return obs


def keyed(changes: list[Change]) -> set[tuple[str, str, str]]:
    return {(c.action, c.kind, c.name) for c in changes}


# ---------------------------------------------------------------- settings


def test_defaults_map_every_default_rule_to_its_upstream():
    ecr = ecr_of({})
    assert [(u.host, u.prefix, u.registry, u.url, u.secret) for u in ecr.upstreams] == [
        ("docker.io", "docker-hub", "docker-hub", "registry-1.docker.io", "ecr-pullthroughcache/docker-hub"),
        ("public.ecr.aws", "ecr-public", "ecr-public", "public.ecr.aws", None),
        ("ghcr.io", "github", "github-container-registry", "ghcr.io", "ecr-pullthroughcache/github"),
        ("registry.k8s.io", "k8s", "k8s", "registry.k8s.io", None),
        ("quay.io", "quay", "quay", "quay.io", None),
    ]
    hub = ecr.upstreams[0]
    assert (hub.username_env, hub.token_env) == ("IMAGEMIRROR_DOCKER_IO_USERNAME", "IMAGEMIRROR_DOCKER_IO_TOKEN")
    assert [r.name for r in ecr.repositories] == ["custom-apps"]
    assert (ecr.untagged_days, ecr.keep_last, ecr.ci_policy) == (14, 50, "imagemirror-ci-push")


@pytest.mark.parametrize(
    "rules, expected",
    [
        pytest.param(
            {"registry.gitlab.com": "gitlab"}, ("gitlab-container-registry", "registry.gitlab.com", True), id="gitlab"
        ),
        pytest.param({"myreg.azurecr.io": "azure"}, ("azure-container-registry", "myreg.azurecr.io", True), id="azure"),
        pytest.param({"cgr.dev": "chainguard"}, ("chainguard", "cgr.dev", True), id="chainguard"),
        pytest.param({"index.docker.io": "hub"}, ("docker-hub", "registry-1.docker.io", True), id="docker-alias"),
    ],
)
def test_other_supported_upstreams(rules, expected):
    (up,) = ecr_of({"rules": rules}).upstreams
    assert (up.registry, up.url, up.secret is not None) == expected


def write(tmp_path: Path, text: str):
    path = tmp_path / ".imagemirror.yaml"
    path.write_text(text)
    return load_settings(path)


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param(
            "rules:\n  gcr.io: gcr\n", ":2:3: rule 'gcr.io': ECR pull-through cache cannot mirror gcr.io", id="gcr"
        ),
        pytest.param(
            "rules:\n  nvcr.io: nv\n", ":2:3: rule 'nvcr.io': ECR pull-through cache cannot mirror", id="nvcr"
        ),
        pytest.param(
            "rules:\n  quay.io: q\n",
            ":2:3: rule 'quay.io': prefix 'q' is not a valid ecrRepositoryPrefix",
            id="short-prefix",
        ),
        pytest.param("ecr:\n  region: mars-1\n", ":2:3: ecr.region: 'mars-1' is not an AWS Region name", id="region"),
        pytest.param(
            "ecr:\n  region: cn-north-1\n",
            ":2:3: ecr.region: cn-north-1: the China Regions do not offer ECR pull-through cache",
            id="china",
        ),
        pytest.param(
            "ecr:\n  account: '1234'\n", ":2:3: ecr.account: '1234' is not a 12-digit AWS account id", id="account"
        ),
        pytest.param(
            "ecr:\n  node_roles:\n    - arn:aws:iam::123456789012:user/bob\n",
            ":3:7: ecr.node_roles: 'arn:aws:iam::123456789012:user/bob' is not an IAM role ARN",
            id="role",
        ),
        pytest.param(
            "ecr:\n  lifecycle:\n    keep_last: 0\n",
            ":3:5: ecr.lifecycle.keep_last: 0 must be a whole number",
            id="keep-last",
        ),
        pytest.param(
            "ecr:\n  lifecycle:\n    untagged: 3\n", ":3:5: ecr.lifecycle: unknown key 'untagged'", id="lifecycle-key"
        ),
        pytest.param(
            "ecr:\n  repositories: [Custom]\n",
            ":2:18: ecr.repositories: 'Custom' is not an ECR repository name",
            id="repo-name",
        ),
        pytest.param(
            "ecr:\n  credentials:\n    quay.io: {username_env: A, token_env: B}\n",
            ":3:5: ecr.credentials: 'quay.io' needs no credentials",
            id="creds-not-needed",
        ),
        pytest.param(
            "ecr:\n  credentials:\n    gcr.io: {username_env: A}\n",
            ":3:5: ecr.credentials: 'gcr.io' has no rule",
            id="creds-no-rule",
        ),
        pytest.param(
            "ecr:\n  credentials:\n    docker.io: {token: x}\n",
            ":3:17: ecr.credentials.docker.io: unknown key 'token'",
            id="creds-key",
        ),
        pytest.param(
            "ecr:\n  credentials:\n    docker.io: {secret: dockerhub}\n",
            ":3:17: ecr.credentials.docker.io.secret: 'dockerhub' is not a secret name",
            id="secret-name",
        ),
        pytest.param(
            "ecr:\n  ci_policy: 'a b'\n", ":2:3: ecr.ci_policy: 'a b' is not an IAM policy name", id="ci-policy"
        ),
    ],
)
def test_settings_errors_name_file_line_column_and_key(tmp_path, text, message):
    settings = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        ecr_settings.parse(settings)
    assert str(err.value).startswith(str(tmp_path / ".imagemirror.yaml") + message.split(" ", 1)[0])
    assert message.split(" ", 1)[1] in str(err.value)


def test_credentials_settings_name_env_vars_and_an_existing_secret(tmp_path):
    ecr = ecr_settings.parse(
        write(
            tmp_path,
            "ecr:\n  credentials:\n    docker.io: {username_env: U, token_env: T, secret: ecr-pullthroughcache/hub}\n",
        )
    )
    hub = next(u for u in ecr.upstreams if u.host == "docker.io")
    assert (hub.username_env, hub.token_env, hub.secret) == ("U", "T", "ecr-pullthroughcache/hub")


# ---------------------------------------------------------------- plan


def test_plan_on_an_empty_account_creates_everything():
    d = desired_of()
    assert keyed(plan(d, Observed())) == {
        ("create", "secret", "ecr-pullthroughcache/docker-hub"),
        ("create", "secret", "ecr-pullthroughcache/github"),
        *{("create", "rule", p) for p in ("docker-hub", "ecr-public", "github", "k8s", "quay")},
        *{("create", "template", p) for p in ("docker-hub", "ecr-public", "github", "k8s", "quay")},
        ("create", "repository", "custom-apps"),
        ("create", "registry-policy", SID),
        ("create", "iam-policy", "imagemirror-ci-push"),
    }


def test_converged_account_has_no_changes_even_with_reordered_lists():
    d = desired_of({"ecr": {"node_roles": [ROLE, f"arn:aws:iam::{ACCOUNT}:role/other"]}})
    obs = converged(d)
    stmt = obs.registry_policy["Statement"][0]
    stmt["Resource"] = list(reversed(stmt["Resource"]))
    stmt["Action"] = list(reversed(stmt["Action"]))
    obs.templates["quay"]["lifecyclePolicy"] = json.dumps(
        json.loads(obs.templates["quay"]["lifecyclePolicy"]), indent=4
    )
    assert plan(d, obs) == []


def test_rotate_credentials_updates_existing_secrets_only():
    d = desired_of()
    obs = converged(d)
    assert keyed(plan(d, obs, rotate_credentials=True)) == {
        ("update", "secret", "ecr-pullthroughcache/docker-hub"),
        ("update", "secret", "ecr-pullthroughcache/github"),
    }


def test_changed_upstream_url_is_a_replace_with_the_reason():
    d = desired_of()
    obs = converged(d)
    obs.rules["k8s"]["upstreamRegistryUrl"] = "k8s.gcr.io"
    (change,) = [c for c in plan(d, obs) if c.kind == "rule"]
    assert (change.action, change.name) == ("replace", "k8s")
    assert change.reason == "upstreamRegistryUrl k8s.gcr.io -> registry.k8s.io (rules can only be recreated)"
    assert change.spec["old_prefix"] == "k8s"


def test_changed_prefix_replaces_the_managed_rule_and_moves_its_template():
    old = desired_of()
    obs = converged(old)
    new = desired_of(
        {
            "rules": {
                "docker.io": "docker-hub",
                "ghcr.io": "github",
                "public.ecr.aws": "ecr-public",
                "quay.io": "quay-mirror",
                "registry.k8s.io": "k8s",
            },
            "ecr": {"node_roles": [ROLE]},
        }
    )
    got = keyed(plan(new, obs))
    assert got == {
        ("replace", "rule", "quay-mirror"),
        ("create", "template", "quay-mirror"),
        ("delete", "template", "quay"),
        ("update", "registry-policy", SID),
    }


def test_unmanaged_rule_for_the_same_upstream_is_left_alone():
    d = desired_of()
    obs = converged(d)
    obs.rules["team-quay"] = {
        "ecrRepositoryPrefix": "team-quay",
        "upstreamRegistryUrl": "quay.io",
        "upstreamRegistry": "quay",
    }
    obs.templates["team-quay"] = {"prefix": "team-quay", "description": "theirs", "appliedFor": ["PULL_THROUGH_CACHE"]}
    assert plan(d, obs) == []
    # ... even when ours moved away from its prefix: that is a fresh create, not a replace of theirs.
    del obs.rules["quay"]
    del obs.templates["quay"]
    assert ("create", "rule", "quay") in keyed(plan(d, obs))


def test_rule_removed_from_settings_is_deleted_with_its_template_and_secret():
    old = desired_of()
    obs = converged(old)
    new = desired_of({"rules": {"quay.io": "quay"}, "ecr": {"node_roles": [ROLE]}})
    got = keyed(plan(new, obs))
    for prefix in ("docker-hub", "ecr-public", "github", "k8s"):
        assert ("delete", "rule", prefix) in got and ("delete", "template", prefix) in got
    assert ("delete", "secret", "ecr-pullthroughcache/docker-hub") in got
    assert ("update", "registry-policy", SID) in got


def test_credential_arn_drift_is_an_update():
    d = desired_of()
    obs = converged(d)
    obs.rules["docker-hub"]["credentialArn"] = (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/old-x"
    )
    assert keyed(plan(d, obs)) == {("update", "rule", "docker-hub")}


@pytest.mark.parametrize(
    "field, value",
    [
        ("imageTagMutability", "IMMUTABLE"),
        ("lifecyclePolicy", json.dumps(lifecycle_policy(1, 1))),
        ("appliedFor", ["REPLICATION"]),
        ("description", "hand made"),
    ],
)
def test_template_drift_is_an_update_naming_the_field(field, value):
    d = desired_of()
    obs = converged(d)
    obs.templates["quay"][field] = value
    (change,) = plan(d, obs)
    assert (change.action, change.kind, change.name, change.reason) == ("update", "template", "quay", f"{field} differ")


def test_a_ci_policy_imagemirror_did_not_make_is_left_alone():
    d = desired_of()
    obs = converged(d)
    obs.ci_policy = {**obs.ci_policy, "Tags": {}, "Document": {"Statement": []}}
    assert plan(d, obs) == []
    obs.ci_policy["Tags"] = {"managed-by": "imagemirror"}
    assert keyed(plan(d, obs)) == {("update", "iam-policy", "imagemirror-ci-push")}


def test_repository_drift_is_an_update():
    d = desired_of()
    obs = converged(d)
    obs.repositories["custom-apps"]["scanOnPush"] = False
    obs.repositories["custom-apps"]["lifecyclePolicy"] = None
    (change,) = plan(d, obs)
    assert (change.action, change.kind, change.spec["fields"]) == (
        "update",
        "repository",
        ["scanOnPush", "lifecyclePolicy"],
    )


def test_registry_policy_is_merged_never_clobbered():
    d = desired_of()
    other = {
        "Sid": "Replication",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "ecr:ReplicateImage",
        "Resource": "*",
    }
    obs = converged(d)
    obs.registry_policy = {"Version": "2012-10-17", "Statement": [other]}
    (change,) = plan(d, obs)
    assert change.action == "create" and change.spec["document"]["Statement"] == [other, d.statement]
    # No node roles: our statement goes, theirs stays.
    nodeless = desired_of({"ecr": {}})
    obs.registry_policy = {"Version": "2012-10-17", "Statement": [other, d.statement]}
    (change,) = [c for c in plan(nodeless, obs) if c.kind == "registry-policy"]
    assert change.action == "delete" and change.spec["document"]["Statement"] == [other]


def test_node_statement_grants_first_pull_actions_on_each_prefix():
    stmt = desired_of().statement
    assert stmt["Principal"] == {"AWS": [ROLE]}
    assert stmt["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*" in stmt["Resource"]


def test_templates_with_tags_need_a_creation_role():
    plain = desired_of().templates["quay"]
    assert "resourceTags" not in plain and "customRoleArn" not in plain
    role = f"arn:aws:iam::{ACCOUNT}:role/ecr-templates"
    tagged = desired_of({"ecr": {"creation_role": role}}).templates["quay"]
    assert tagged["customRoleArn"] == role and tagged["resourceTags"] == [{"Key": "managed-by", "Value": "imagemirror"}]
    assert tagged["description"].startswith(MARK)


def test_lifecycle_policy_expires_untagged_then_keeps_the_last_n():
    rules = lifecycle_policy(14, 10)["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 14,
    }
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}


def test_apply_order_writes_secrets_first_and_deletes_them_last():
    d = desired_of()
    kinds = [(c.kind, c.action) for c in ordered(plan(d, Observed()) + [Change("delete", "secret", "x", "")])]
    assert kinds[0] == ("secret", "create") and kinds[-1] == ("secret", "delete")
    assert kinds.index(("rule", "create")) < kinds.index(("template", "create"))


def test_reports_are_pure_functions_of_the_changes():
    changes = plan(desired_of(), Observed())
    text = format_text(changes, ACCOUNT, REGION)
    assert text.splitlines()[0] == f"Plan for account {ACCOUNT} in {REGION}:"
    assert text.splitlines()[-1] == "Plan: 15 to create, 0 to update, 0 to replace, 0 to delete."
    doc = json.loads(format_json(changes, ACCOUNT, REGION))
    assert doc["summary"]["create"] == 15 and set(doc["changes"][0]) == {"action", "kind", "name", "reason"}
    assert "No changes" in format_text([], ACCOUNT, REGION)


def test_quota_counts_rules_after_apply():
    d = desired_of()
    obs = Observed(rules={f"r{i}": {"upstreamRegistryUrl": "quay.io"} for i in range(47)})
    assert quota_problem(d, obs, plan(d, obs)).startswith(
        "47 pull-through cache rules exist and the plan creates 5: 52 would exceed ECR's quota of 50 per registry (not adjustable)"
    )


# ---------------------------------------------------------------- destroy


def test_destroy_takes_only_what_is_marked_and_keeps_the_cache():
    d = desired_of()
    obs = converged(d)
    obs.rules["theirs"] = {"ecrRepositoryPrefix": "theirs", "upstreamRegistryUrl": "quay.io"}
    obs.templates["theirs"] = {"prefix": "theirs", "description": "team A"}
    obs.secrets["ecr-pullthroughcache/theirs"] = {"ARN": "arn:x", "Tags": {}}
    obs.repositories["custom-apps"]["images"] = 3
    obs.cached = {"quay": [{"name": "quay/argoproj/argocd", "images": 2}]}
    changes, notes = destroy_plan(d, obs)
    got = keyed(changes)
    assert ("delete", "rule", "theirs") not in got and ("delete", "template", "theirs") not in got
    assert ("delete", "secret", "ecr-pullthroughcache/theirs") not in got
    assert ("delete", "rule", "quay") in got and ("delete", "registry-policy", SID) in got
    assert not any(c.kind in ("repository", "cached-repository") for c in changes)
    assert "repository custom-apps: kept, it holds 3 image(s); delete it by hand" in notes
    assert any("--purge-cache" in n for n in notes)
    purged, _ = destroy_plan(d, obs, purge_cache=True)
    assert ("delete", "cached-repository", "quay/argoproj/argocd") in keyed(purged)


def test_destroy_keeps_a_rule_whose_upstream_is_not_ours():
    d = desired_of()
    obs = converged(d)
    obs.rules["quay"]["upstreamRegistryUrl"] = "registry.gitlab.com"
    obs.templates["quay"]["description"] = "hand made"
    changes, notes = destroy_plan(d, obs)
    assert ("delete", "rule", "quay") not in keyed(changes)
    assert "rule quay: kept, it pulls from registry.gitlab.com, not quay.io" in notes


# ---------------------------------------------------------------- credentials


def test_credentials_come_from_env_then_stdin_then_prompt_and_hide_in_repr():
    ecr = ecr_of({})
    d = desired_state(ecr, ACCOUNT, REGION)
    changes = plan(d, Observed())
    env = {"IMAGEMIRROR_DOCKER_IO_USERNAME": "u", "IMAGEMIRROR_DOCKER_IO_TOKEN": "tok-env"}
    piped = json.dumps({"ghcr.io": {"username": "g", "accessToken": "tok-stdin"}})
    creds = gather_credentials(changes, ecr, environ=env, stdin_text=piped)
    assert creds["docker.io"].values() == ("u", "tok-env")
    assert creds["ghcr.io"].values() == ("g", "tok-stdin")
    assert "tok" not in repr(creds) and "tok" not in str(creds["docker.io"])
    prompted = gather_credentials(changes, ecr, environ={}, ask=lambda text, hidden: "secret!" if hidden else "name")
    assert prompted["ghcr.io"].values() == ("name", "secret!")
    with pytest.raises(ConfigError, match=r"docker\.io needs credentials .*\$IMAGEMIRROR_DOCKER_IO_USERNAME"):
        gather_credentials(changes, ecr, environ={})
    with pytest.raises(ConfigError, match="needs non-empty"):
        gather_credentials(changes, ecr, environ={}, stdin_text='{"docker.io": {"username": "x"}}')


def test_no_credentials_are_asked_for_when_no_secret_changes():
    d = desired_of()
    assert gather_credentials(plan(d, converged(d)), ecr_of({}), environ={}) == {}


def test_credential_secret_string_has_the_documented_shape():
    assert json.loads(Credential("u", "t").secret_string()) == {"username": "u", "accessToken": "t"}


# ---------------------------------------------------------------- doctor


@pytest.mark.parametrize(
    "statement, expected",
    [
        pytest.param({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}, True, id="wildcards"),
        pytest.param({"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}, False, id="other-action"),
        pytest.param(
            {"Effect": "Allow", "Action": "ecr:CreateRepository", "Resource": "arn:aws:ecr:*:*:repository/quay/*"},
            False,
            id="other-prefix",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": "ecr:CreateRepository", "Resource": "*", "Condition": {"x": {}}},
            False,
            id="conditional",
        ),
        pytest.param({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, False, id="not-action"),
    ],
)
def test_allowed_evaluates_simple_statements(statement, expected):
    resource = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/library/nginx"
    assert allowed([{"Statement": [statement]}], "ecr:CreateRepository", resource) is expected


def test_a_deny_wins():
    docs = [
        {
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ecr:CreateRepository", "Resource": "*"},
            ]
        }
    ]
    assert not allowed(docs, "ecr:CreateRepository", "arn:aws:ecr:eu-west-1:1:repository/a/b")


def test_node_roles_need_both_first_pull_actions():
    d = desired_of()
    read_only = [
        {
            "Statement": [
                {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": "*"}
            ]
        }
    ]
    pull_only = [
        {
            "Statement": [
                {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:BatchImportUpstreamImage"], "Resource": "*"}
            ]
        }
    ]
    (finding,) = node_role_findings(d, Observed(), {ROLE: read_only})
    assert not finding.ok and "ecr:BatchImportUpstreamImage on repository/docker-hub/*" in finding.message
    (finding,) = node_role_findings(d, Observed(), {ROLE: pull_only})
    assert (
        not finding.ok
        and "ecr:BatchImportUpstreamImage" not in finding.message
        and "ecr:CreateRepository" in finding.message
    )
    (finding,) = node_role_findings(d, converged(d), {ROLE: read_only})
    assert finding.ok
    (finding,) = node_role_findings(d, converged(d), {ROLE: None})
    assert not finding.ok and "role not found" in finding.message


def test_a_registry_policy_for_the_account_root_does_not_grant_the_role_anything():
    d = desired_of()
    root = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
                "Resource": "*",
            }
        ]
    }
    (finding,) = node_role_findings(d, Observed(registry_policy=root), {ROLE: []})
    assert not finding.ok
    anyone = {"Statement": [{**root["Statement"][0], "Principal": "*"}]}
    (finding,) = node_role_findings(d, Observed(registry_policy=anyone), {ROLE: []})
    assert finding.ok


def test_validation_findings():
    assert validation_finding("quay", {"isValid": True, "upstreamRegistryUrl": "quay.io"}).ok
    bad = validation_finding("docker-hub", {"isValid": False, "failure": "Unable to authenticate"})
    assert not bad.ok and bad.message == "rule docker-hub: invalid: Unable to authenticate"


# ---------------------------------------------------------------- the README's ECR section


def _readme_ecr_blocks() -> list[tuple[str, str]]:
    import re

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## ECR provisioning")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def test_readme_ecr_settings_and_commands_are_real(tmp_path):
    import shlex

    import click

    from imagemirror.cli import main

    blocks = _readme_ecr_blocks()
    (yaml_text,) = [body for lang, body in blocks if lang == "yaml"]
    ecr = ecr_settings.parse(write(tmp_path, yaml_text))
    assert [r.name for r in ecr.repositories] == ["custom-apps", "team/api"]
    assert {u.host: u.token_env for u in ecr.upstreams if u.secret} == {
        "docker.io": "DOCKERHUB_TOKEN",
        "ghcr.io": "GHCR_TOKEN",
    }
    commands = []
    for lang, body in blocks:
        for line in body.splitlines():
            if lang == "console" and line.startswith("$ ") and "imagemirror ecr" in line:
                commands.append(shlex.split(line[2:].rsplit("| ", 1)[-1]))  # the command after a pipe
    assert len(commands) == 5
    group = main.get_command(click.Context(main), "ecr")
    for words in commands:
        assert words[:2] == ["imagemirror", "ecr"]
        sub = group.get_command(click.Context(group), words[2])
        sub.make_context(words[2], words[3:])  # raises on an unknown option
