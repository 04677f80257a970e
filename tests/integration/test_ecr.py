"""``imagemirror ecr`` end to end against moto running as a real server on 127.0.0.1.

moto 5.2 serves ECR repositories, lifecycle and registry policies, tags, Secrets Manager, IAM
and STS itself; pull-through cache rules and repository creation templates come from the
test-side extension in ``moto_ecr_ext.py`` (see its docstring for what it emulates and what it
cannot).  The CLI runs through its entry point (in-process, and as a subprocess for the
secret-leak checks); the tests look at the emulator's state with plain boto3 clients.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagemirror.cli import main

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-nodes"
CANARY_USER = "canary-user-5f1e"
CANARY_TOKEN = "dckr_pat_CANARY-7d2b9c41e0a8"

SETTINGS = f"""\
registry: {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com
ecr:
  region: {REGION}
  node_roles:
    - {NODE_ROLE}
  lifecycle: {{untagged_days: 7, keep_last: 30}}
  repositories: [custom-apps]
  credentials:
    docker.io: {{username_env: HUB_USER, token_env: HUB_TOKEN}}
"""


@pytest.fixture
def aws(aws):
    """moto (tests/conftest.py) with a node role as AmazonEC2ContainerRegistryReadOnly makes it."""
    server = aws
    iam = server.client("iam")
    # A node role with what AmazonEC2ContainerRegistryReadOnly grants: not enough for first pulls.
    iam.create_role(
        RoleName="eks-nodes",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    arn = iam.create_policy(
        PolicyName="ecr-read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "ecr:GetAuthorizationToken",
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer",
                            "ecr:DescribeRepositories",
                        ],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="eks-nodes", PolicyArn=arn)
    return server


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str, input: str | None = None, env: dict | None = None):
    result = CliRunner().invoke(main, ["ecr", *args], input=input, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan_json(*extra: str) -> dict:
    code, out, err = cli("plan", "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def changes(doc: dict) -> set[tuple[str, str, str]]:
    return {(c["action"], c["kind"], c["name"]) for c in doc["changes"]}


def apply_ok(*extra: str, env=None):
    env = {
        "HUB_USER": CANARY_USER,
        "HUB_TOKEN": CANARY_TOKEN,
        "IMAGEMIRROR_GHCR_IO_USERNAME": "gh-user",
        "IMAGEMIRROR_GHCR_IO_TOKEN": "ghp_token",
        **(env or {}),
    }
    code, out, err = cli("apply", *extra, env=env)
    assert code == 0, err
    return out, err


FULL_PLAN = {
    ("create", "secret", "ecr-pullthroughcache/docker-hub"),
    ("create", "secret", "ecr-pullthroughcache/github"),
    *{("create", "rule", p) for p in ("docker-hub", "ecr-public", "github", "k8s", "quay")},
    *{("create", "template", p) for p in ("docker-hub", "ecr-public", "github", "k8s", "quay")},
    ("create", "repository", "custom-apps"),
    ("create", "registry-policy", "ImagemirrorPullThroughCache"),
    ("create", "iam-policy", "imagemirror-ci-push"),
}


def test_plan_on_empty_account_lists_every_resource_and_writes_nothing(aws, project):
    doc = plan_json()
    assert changes(doc) == FULL_PLAN
    assert doc["account"] == ACCOUNT and doc["region"] == REGION
    assert doc["summary"] == {"create": len(FULL_PLAN), "update": 0, "replace": 0, "delete": 0}
    assert aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    assert aws.client("secretsmanager").list_secrets()["SecretList"] == []
    code, text, _ = cli("plan")
    assert code == 0
    assert "+ create rule docker-hub" in text and "registry-1.docker.io" in text
    assert f"Plan: {len(FULL_PLAN)} to create, 0 to update, 0 to replace, 0 to delete." in text


def test_apply_creates_everything_and_a_second_apply_changes_nothing(aws, project):
    out, err = apply_ok()
    assert "Applied: 15 created, 0 updated, 0 replaced, 0 deleted." in out
    assert "imagemirror: creating rule docker-hub" in err

    ecr, sm, iam = aws.client("ecr"), aws.client("secretsmanager"), aws.client("iam")
    rules = {r["ecrRepositoryPrefix"]: r for r in ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]}
    assert {p: (r["upstreamRegistry"], r["upstreamRegistryUrl"]) for p, r in rules.items()} == {
        "docker-hub": ("docker-hub", "registry-1.docker.io"),
        "ecr-public": ("ecr-public", "public.ecr.aws"),
        "github": ("github-container-registry", "ghcr.io"),
        "k8s": ("k8s", "registry.k8s.io"),
        "quay": ("quay", "quay.io"),
    }
    hub_secret = sm.describe_secret(SecretId="ecr-pullthroughcache/docker-hub")
    assert rules["docker-hub"]["credentialArn"] == hub_secret["ARN"]
    assert "credentialArn" not in rules["quay"]
    assert {"Key": "managed-by", "Value": "imagemirror"} in hub_secret["Tags"]
    value = json.loads(sm.get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")["SecretString"])
    assert value == {"username": CANARY_USER, "accessToken": CANARY_TOKEN}

    templates = {t["prefix"]: t for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]}
    assert set(templates) == set(rules)
    quay = templates["quay"]
    assert quay["appliedFor"] == ["PULL_THROUGH_CACHE"]
    assert quay["imageTagMutability"] == "MUTABLE"
    assert quay["encryptionConfiguration"]["encryptionType"] == "AES256"
    lifecycle = json.loads(quay["lifecyclePolicy"])["rules"]
    assert [(r["selection"]["tagStatus"], r["selection"]["countNumber"]) for r in lifecycle] == [
        ("untagged", 7),
        ("any", 30),
    ]

    repo = ecr.describe_repositories(repositoryNames=["custom-apps"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert {"Key": "managed-by", "Value": "imagemirror"} in ecr.list_tags_for_resource(
        resourceArn=repo["repositoryArn"]
    )["tags"]
    keep = json.loads(ecr.get_lifecycle_policy(repositoryName="custom-apps")["lifecyclePolicyText"])["rules"]
    assert [r["selection"]["countNumber"] for r in keep] == [10]

    (stmt,) = json.loads(ecr.get_registry_policy()["policyText"])["Statement"]
    assert stmt["Principal"] == {"AWS": [NODE_ROLE]}
    assert sorted(stmt["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*" in stmt["Resource"]

    pol = iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/imagemirror-ci-push")["Policy"]
    doc = iam.get_policy_version(PolicyArn=pol["Arn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
    push = doc["Statement"][0]
    assert push["Resource"] == [f"arn:aws:ecr:*:{ACCOUNT}:repository/custom-apps"]  # one policy for every Region
    assert "ecr:PutImage" in push["Action"] and "ecr:CreateRepository" not in push["Action"]

    # Idempotent: nothing left to do, and no credentials are needed to find that out.
    out2, _ = apply_ok(env={"HUB_USER": "", "HUB_TOKEN": ""})
    assert "No changes" in out2
    assert plan_json()["changes"] == []
    assert cli("apply", "--dry-run", "--format", "json")[1] == cli("plan", "--format", "json")[1]


def test_apply_dry_run_equals_plan(aws, project):
    assert cli("apply", "--dry-run")[1] == cli("plan")[1]
    assert aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_changed_upstream_or_prefix_is_a_replace(aws, project):
    apply_ok()
    settings = project / ".imagemirror.yaml"
    # registry.k8s.io's prefix now points at quay.io's, and quay.io gets a new prefix.
    settings.write_text(
        SETTINGS + "rules:\n  docker.io: docker-hub\n  ghcr.io: github\n  public.ecr.aws: ecr-public\n"
        "  quay.io: k8s\n  registry.k8s.io: kubernetes\n"
    )
    doc = plan_json()
    by_name = {(c["kind"], c["name"]): c for c in doc["changes"]}
    assert by_name[("rule", "k8s")]["action"] == "replace"
    assert "upstreamRegistryUrl registry.k8s.io -> quay.io" in by_name[("rule", "k8s")]["reason"]
    assert by_name[("rule", "kubernetes")]["action"] == "create"
    assert by_name[("rule", "quay")]["action"] == "delete"
    assert by_name[("template", "k8s")]["action"] == "update"  # its description names quay.io now
    assert ("template", "quay") in by_name and by_name[("template", "quay")]["action"] == "delete"

    # A prefix change alone: quay.io moves from "k8s" to "quay-mirror" -> replace.
    apply_ok()
    settings.write_text(
        SETTINGS + "rules:\n  docker.io: docker-hub\n  ghcr.io: github\n  public.ecr.aws: ecr-public\n"
        "  quay.io: quay-mirror\n  registry.k8s.io: kubernetes\n"
    )
    doc = plan_json()
    rule_changes = [c for c in doc["changes"] if c["kind"] == "rule"]
    assert rule_changes == [
        {
            "action": "replace",
            "kind": "rule",
            "name": "quay-mirror",
            "reason": "prefix changed: k8s -> quay-mirror (rules can only be recreated)",
        }
    ]
    apply_ok()
    rules = {
        r["ecrRepositoryPrefix"]: r["upstreamRegistryUrl"]
        for r in aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"]
    }
    assert rules == {
        "docker-hub": "registry-1.docker.io",
        "github": "ghcr.io",
        "ecr-public": "public.ecr.aws",
        "quay-mirror": "quay.io",
        "kubernetes": "registry.k8s.io",
    }
    assert plan_json()["changes"] == []


def _unmanaged(aws) -> None:
    ecr, sm, iam = aws.client("ecr"), aws.client("secretsmanager"), aws.client("iam")
    arn = sm.create_secret(
        Name="ecr-pullthroughcache/theirs", SecretString=json.dumps({"username": "a", "accessToken": "b"})
    )["ARN"]
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="theirs-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        upstreamRegistry="docker-hub",
        credentialArn=arn,
    )
    ecr.create_repository_creation_template(
        prefix="theirs-hub", appliedFor=["PULL_THROUGH_CACHE"], description="team A"
    )
    ecr.create_repository(repositoryName="team/app")
    ecr.put_registry_policy(
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TeamReplication",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                        "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*",
                    }
                ],
            }
        )
    )
    iam.create_policy(
        PolicyName="theirs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
            }
        ),
    )


def _assert_unmanaged_intact(aws) -> None:
    ecr, sm, iam = aws.client("ecr"), aws.client("secretsmanager"), aws.client("iam")
    assert ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["theirs-hub"])["pullThroughCacheRules"]
    assert (
        ecr.describe_repository_creation_templates(prefixes=["theirs-hub"])["repositoryCreationTemplates"][0][
            "description"
        ]
        == "team A"
    )
    assert ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
    sm.describe_secret(SecretId="ecr-pullthroughcache/theirs")
    iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/theirs")
    sids = [s["Sid"] for s in json.loads(ecr.get_registry_policy()["policyText"])["Statement"]]
    assert "TeamReplication" in sids


def _cache_an_image(aws) -> None:
    """What a first pull through the quay rule leaves behind: a repository with an image."""
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="quay/argoproj/argocd")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        },
        "layers": [],
    }
    ecr.put_image(repositoryName="quay/argoproj/argocd", imageManifest=json.dumps(manifest), imageTag="v2.10.0")


def test_destroy_removes_only_what_imagemirror_manages(aws, project):
    _unmanaged(aws)
    apply_ok()
    _assert_unmanaged_intact(aws)  # apply merged into the registry policy, left the rest alone
    stmts = json.loads(aws.client("ecr").get_registry_policy()["policyText"])["Statement"]
    assert sorted(s["Sid"] for s in stmts) == ["ImagemirrorPullThroughCache", "TeamReplication"]
    _cache_an_image(aws)

    code, _, err = cli("destroy")  # not a terminal, no --yes: refuse
    assert code == 2 and "--yes" in err

    code, out, err = cli("destroy", "--dry-run", "--format", "json")
    assert code == 0, err
    planned = changes(json.loads(out))
    assert ("delete", "rule", "theirs-hub") not in planned
    assert ("delete", "cached-repository", "quay/argoproj/argocd") not in planned
    assert any("--purge-cache" in n for n in json.loads(out)["notes"])

    code, out, err = cli("destroy", "--yes")
    assert code == 0, err
    ecr = aws.client("ecr")
    assert [r["ecrRepositoryPrefix"] for r in ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]] == [
        "theirs-hub"
    ]
    assert [t["prefix"] for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]] == [
        "theirs-hub"
    ]
    names = sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"])
    assert names == ["quay/argoproj/argocd", "team/app"]  # custom-apps was empty and ours
    assert [s["Sid"] for s in json.loads(ecr.get_registry_policy()["policyText"])["Statement"]] == ["TeamReplication"]
    secrets = sorted(s["Name"] for s in aws.client("secretsmanager").list_secrets()["SecretList"])
    assert secrets == ["ecr-pullthroughcache/theirs"]
    _assert_unmanaged_intact(aws)


def test_destroy_purge_cache_deletes_cached_repositories(aws, project):
    apply_ok()
    _cache_an_image(aws)
    code, out, err = cli("destroy", "--yes", "--purge-cache", "--format", "json")
    assert code == 0, err
    assert ("delete", "cached-repository", "quay/argoproj/argocd") in changes(json.loads(out))
    assert aws.client("ecr").describe_repositories()["repositories"] == []
    assert aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_destroy_keeps_a_managed_repository_that_holds_images(aws, project):
    apply_ok()
    ecr = aws.client("ecr")
    ecr.put_image(
        repositoryName="custom-apps",
        imageTag="1.0",
        imageManifest=json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "size": 2,
                    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                },
                "layers": [],
            }
        ),
    )
    code, out, _ = cli("destroy", "--yes")
    assert code == 0
    assert "repository custom-apps: kept, it holds 1 image(s)" in out
    assert ecr.describe_repositories(repositoryNames=["custom-apps"])["repositories"]


def test_missing_credentials_stop_before_anything_is_written(aws, project):
    code, out, err = cli("apply")
    assert code == 2
    assert "docker.io needs credentials" in err and "$HUB_USER" in err and "$HUB_TOKEN" in err
    assert err.count("\n") == 1
    assert aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_credentials_from_stdin_and_rotation(aws, project):
    creds = {"docker.io": {"username": "u1", "accessToken": "t1"}, "ghcr.io": {"username": "g", "accessToken": "gt"}}
    code, _, err = cli("apply", "--credentials-stdin", input=json.dumps(creds))
    assert code == 0, err
    sm = aws.client("secretsmanager")
    assert (
        json.loads(sm.get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")["SecretString"])["accessToken"]
        == "t1"
    )
    # Reused as they are ...
    assert plan_json()["changes"] == []
    # ... unless rotated.
    assert changes(plan_json("--rotate-credentials")) == {
        ("update", "secret", "ecr-pullthroughcache/docker-hub"),
        ("update", "secret", "ecr-pullthroughcache/github"),
    }
    creds["docker.io"]["accessToken"] = "t2"
    code, _, err = cli("apply", "--rotate-credentials", "--credentials-stdin", input=json.dumps(creds))
    assert code == 0, err
    assert (
        json.loads(sm.get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")["SecretString"])["accessToken"]
        == "t2"
    )


def test_hidden_prompt_on_a_terminal(aws, project):
    """The TTY is the process edge: the command function takes the prompt as a parameter."""
    from imagemirror.commands import ecr as ecr_command

    asked = []

    def ask(text, hidden):
        asked.append((text, hidden))
        return "prompted-token" if hidden else "prompted-user"

    assert ecr_command.apply(ask=ask) == 0
    assert asked == [
        ("docker.io username (for ecr-pullthroughcache/docker-hub)", False),
        ("docker.io access token", True),
        ("ghcr.io username (for ecr-pullthroughcache/github)", False),
        ("ghcr.io access token", True),
    ]
    value = aws.client("secretsmanager").get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")["SecretString"]
    assert json.loads(value) == {"username": "prompted-user", "accessToken": "prompted-token"}


def _run_on_a_terminal(args: list[str], answers: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal; answer prompts as they come."""
    import fcntl
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def become_session_leader_on_the_pty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "imagemirror", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=become_session_leader_on_the_pty,
    )
    os.close(slave)
    seen, pending = b"", list(answers.items())
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:  # a hung prompt: fail rather than wait forever
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if pending and pending[0][0].encode() in seen.rsplit(b"\n", 1)[-1]:
            os.write(master, pending.pop(0)[1].encode() + b"\n")
    os.close(master)
    return proc.wait(), seen.decode(errors="replace")


def test_hidden_prompt_on_a_real_terminal_does_not_echo_the_token(aws, project):
    code, screen = _run_on_a_terminal(
        ["ecr", "apply"],
        {
            "docker.io username": CANARY_USER,
            "docker.io access token": CANARY_TOKEN,
            "ghcr.io username": "gh-user",
            "ghcr.io access token": "gh-token-9",
        },
        project,
    )
    assert code == 0, screen
    assert "docker.io access token" in screen and "Applied:" in screen
    assert CANARY_TOKEN not in screen and "gh-token-9" not in screen  # the terminal never echoed them
    value = json.loads(
        aws.client("secretsmanager").get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")["SecretString"]
    )
    assert value == {"username": CANARY_USER, "accessToken": CANARY_TOKEN}


def test_a_secret_value_never_reaches_output_or_logs(aws, project, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, botocore's included, as far as the root is concerned
    out, err = apply_ok("--debug", "--rotate-credentials")
    out2, err2 = apply_ok("--debug", "--rotate-credentials", "--format", "json")
    assert "imagemirror: debug: secretsmanager.create_secret(" in err
    seen = out + err + out2 + err2
    for args in (["plan", "--format", "json"], ["doctor", "--format", "json"], ["rules"]):
        code, o, e = cli(*args, "--debug")
        assert code == 0, e
        seen += o + e
    seen += caplog.text
    assert CANARY_TOKEN not in seen and CANARY_USER not in seen

    # And through the real entry point (a fresh process), credentials on stdin, with --debug.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stdin = json.dumps(
        {
            "docker.io": {"username": CANARY_USER, "accessToken": CANARY_TOKEN + "-2"},
            "ghcr.io": {"username": CANARY_USER, "accessToken": CANARY_TOKEN + "-3"},
        }
    )
    for args, data in [
        (["apply", "--debug", "--rotate-credentials", "--credentials-stdin"], stdin),
        (["destroy", "--debug", "--yes"], None),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "imagemirror", "ecr", *args],
            input=data,
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "imagemirror: debug: " in proc.stderr
        assert CANARY_TOKEN not in proc.stdout + proc.stderr and CANARY_USER not in proc.stdout + proc.stderr
        if args[0] == "apply":  # the piped value did reach the secret
            value = aws.client("secretsmanager").get_secret_value(SecretId="ecr-pullthroughcache/docker-hub")[
                "SecretString"
            ]
            assert json.loads(value)["accessToken"] == CANARY_TOKEN + "-2"


def test_doctor_reports_drift_node_roles_and_invalid_rules(aws, project):
    code, out, _ = cli("doctor")
    assert code == 1
    assert "PROBLEM: drift: + create rule docker-hub" in out
    assert f"ok: registry: {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com is this account's cache" in out
    assert (
        f"PROBLEM: node-role: {NODE_ROLE}: cannot fill the cache on first pull, lacks ecr:BatchImportUpstreamImage on repository/docker-hub/*"
        in out
    )

    apply_ok()
    code, out, _ = cli("doctor", "--format", "json")
    findings = json.loads(out)["findings"]
    assert code == 0, [f for f in findings if not f["ok"]]
    assert {f["check"] for f in findings} == {"validate", "drift", "quota", "node-role", "registry"}
    assert sum(f["check"] == "validate" for f in findings) == 5

    # A secret without accessToken: ValidatePullThroughCacheRule says isValid=false.
    aws.client("secretsmanager").put_secret_value(
        SecretId="ecr-pullthroughcache/docker-hub", SecretString=json.dumps({"username": "x"})
    )
    code, out, _ = cli("doctor")
    assert code == 1
    assert (
        "PROBLEM: validate: rule docker-hub: invalid: The secret does not contain the keys 'username' and 'accessToken'"
        in out
    )


def test_a_ci_policy_of_the_same_name_made_by_someone_else_is_left_alone(aws, project):
    iam = aws.client("iam")
    theirs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="imagemirror-ci-push", PolicyDocument=json.dumps(theirs))["Policy"]["Arn"]
    apply_ok()
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v1"]
    code, out, _ = cli("doctor")
    assert code == 1
    assert f"PROBLEM: iam-policy: {arn} exists but is not tagged managed-by=imagemirror" in out
    assert "ok: validate: rule quay: quay.io is pulled anonymously; no credentials to validate" in out
    assert "ok: validate: rule docker-hub: valid (registry-1.docker.io)" in out


def test_doctor_flags_a_node_role_in_another_account(aws, project):
    other = "arn:aws:iam::210987654321:role/eks-nodes"
    (project / ".imagemirror.yaml").write_text(SETTINGS.replace(NODE_ROLE, other))
    code, out, _ = cli("doctor")
    assert code == 1
    assert f"PROBLEM: node-role: {other}: in another account" in out


def test_rules_prints_the_accounts_rules_as_a_rules_block(aws, project, monkeypatch):
    from ruamel.yaml import YAML

    apply_ok()
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the option alone points at the emulator
    code, out, _ = cli("rules", "--endpoint-url", aws.url)
    assert code == 0
    data = YAML(typ="safe").load(out)
    assert data == {
        "rules": {
            "docker.io": "docker-hub",
            "ghcr.io": "github",
            "public.ecr.aws": "ecr-public",
            "quay.io": "quay",
            "registry.k8s.io": "k8s",
        }
    }


@pytest.mark.parametrize(
    "settings, message",
    [
        pytest.param(
            "rules:\n  gcr.io: gcr\n",
            ".imagemirror.yaml:2:3: rule 'gcr.io': ECR pull-through cache cannot mirror gcr.io",
            id="unsupported-upstream",
        ),
        pytest.param(
            "ecr:\n  region: europe\n",
            ".imagemirror.yaml:2:3: ecr.region: 'europe' is not an AWS Region name",
            id="bad-region",
        ),
        pytest.param(
            "ecr:\n  regoin: eu-west-1\n", ".imagemirror.yaml:2:3: ecr: unknown key 'regoin'", id="unknown-key"
        ),
        pytest.param(
            "ecr:\n  account: 123456789012\n",
            ".imagemirror.yaml:2:3: ecr.account: quote the account id",
            id="unquoted-account",
        ),
    ],
)
def test_settings_errors_exit_2_with_file_line_column(aws, project, settings, message):
    (project / ".imagemirror.yaml").write_text(settings)
    code, out, err = cli("plan")
    assert code == 2
    assert out == ""
    assert err.startswith("imagemirror: error: ") and message in err and err.count("\n") == 1


def test_unreachable_endpoint_is_an_aws_error(aws, project, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own setting; no retries with back-off
    code, out, err = cli("plan", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 4
    assert out == ""
    assert err.startswith("imagemirror: error: AWS sts GetCallerIdentity: Could not connect to the endpoint URL")
    assert err.count("\n") == 1


def test_no_aws_credentials_is_an_aws_error(aws, project, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups off loopback
    code, out, err = cli("plan")
    assert (code, out) == (4, "")
    assert err == "imagemirror: error: AWS sts GetCallerIdentity: Unable to locate credentials\n"


def test_wrong_account_is_refused(aws, project):
    (project / ".imagemirror.yaml").write_text(
        SETTINGS.replace("ecr:\n", 'ecr:\n  account: "210987654321"\n').replace(
            f"    - {NODE_ROLE}\n", "    - arn:aws:iam::210987654321:role/eks-nodes\n"
        )
    )
    code, _, err = cli("plan")
    assert code == 4
    assert f"credentials are for account {ACCOUNT}, but ecr.account is 210987654321" in err
