"""Issue 15 end to end, against moto's server with the project's ECR extension (moto_ecr_ext.py):
init on an empty account, plan-before-write (quota, conflicts), resumable apply, the global CI
policy across Regions, partitions, ECR-to-ECR upstreams, scrubbing, and ``ecr usage``."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagemirror.cli import main

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
CREDS = {
    "IMAGEMIRROR_DOCKER_IO_USERNAME": "hub-user-77",
    "IMAGEMIRROR_DOCKER_IO_TOKEN": "dckr_pat_SECRET-0451",
    "IMAGEMIRROR_GHCR_IO_USERNAME": "gh-user-88",
    "IMAGEMIRROR_GHCR_IO_TOKEN": "ghp_SECRET-9921",
}


@pytest.fixture
def aws(aws, monkeypatch):
    """moto (tests/conftest.py), the region in the environment."""
    monkeypatch.setenv("AWS_REGION", REGION)
    return aws


@pytest.fixture
def gitops(tmp_path, monkeypatch):
    """The example GitOps repository without its settings file: what a new user has."""
    root = tmp_path / "gitops"
    shutil.copytree(REPO / "examples" / "gitops", root)
    (root / ".imagemirror.yaml").unlink()
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def im(*args: str, env: dict | None = None, input: str | None = None):
    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan_json(*extra: str) -> tuple[int, dict]:
    code, out, _ = im("ecr", "plan", "--format", "json", *extra)
    return code, json.loads(out)


# ---------------------------------------------------------------- init, then plan/apply


def test_init_then_plan_and_apply_need_no_hand_written_settings(aws, gitops):
    code, out, err = im("init")
    assert code == 0, err
    text = (gitops / ".imagemirror.yaml").read_text()
    assert f"registry: {HOST}" in text and "region: eu-west-1" in text
    assert "docker.io: docker-hub" in text  # the example's values pull from Docker Hub
    assert "argocd    wordpress" in text and "apps/erpnext.yaml" in text  # releases listed
    assert "ecr plan" in out and "rewrite --dry-run" in out and "warm" in out and "check" in out
    code, doc = plan_json()
    assert code == 0 and doc["problems"] == []
    assert ("create", "rule", "docker-hub") in {(c["action"], c["kind"], c["name"]) for c in doc["changes"]}
    code, _, err = im("ecr", "apply", env=CREDS)
    assert code == 0, err
    code, doc = plan_json()
    assert code == 0 and doc["changes"] == []
    # init refuses to overwrite, and then lists the account's rules
    code, _, err = im("init")
    assert code == 2 and "exists; pass --force" in err
    (gitops / ".imagemirror.yaml").write_text("registry: x.example\n")
    code, _, err = im("init", "--force")
    assert code == 0, err
    assert "the 1 rule(s) already in the account" in (gitops / ".imagemirror.yaml").read_text()


def test_init_takes_the_accounts_existing_rules(aws, gitops):
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="kubernetes", upstreamRegistry="k8s", upstreamRegistryUrl="registry.k8s.io"
    )
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="upstream-ecr",
        upstreamRegistry="ecr",
        upstreamRegistryUrl=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
    )
    code, _, err = im("init")
    assert code == 0, err
    text = (gitops / ".imagemirror.yaml").read_text()
    assert "  registry.k8s.io: kubernetes\n" in text
    assert f"  {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com: upstream-ecr" in text
    code, doc = plan_json()
    assert code == 0, doc
    assert not [c for c in doc["changes"] if c["kind"] == "rule"]


# ---------------------------------------------------------------- plan before write


SETTINGS = f"""\
registry: {HOST}
rules:
  docker.io: docker-hub
  quay.io: quay
  ghcr.io: github
  registry.k8s.io: k8s
  public.ecr.aws: ecr-public
ecr:
  region: {REGION}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fill_rules(aws, n: int) -> None:
    ecr = aws.client("ecr")
    for i in range(n):
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix=f"other{i:02d}", upstreamRegistry="quay", upstreamRegistryUrl="quay.io"
        )


def _account_snapshot(aws) -> tuple:
    ecr, sm, iam = aws.client("ecr"), aws.client("secretsmanager"), aws.client("iam")
    return (
        sorted(r["ecrRepositoryPrefix"] for r in ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]),
        sorted(t["prefix"] for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]),
        sorted(s["Name"] for s in sm.list_secrets()["SecretList"]),
        sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"]),
        sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]),
    )


def test_with_48_rules_plan_refuses_and_apply_writes_nothing(aws, project):
    _fill_rules(aws, 48)
    before = _account_snapshot(aws)
    code, out, err = im("ecr", "plan")
    assert code == 1
    assert "48 pull-through cache rules exist and the plan creates 5: 53 would exceed ECR's quota of 50" in err
    assert "nothing was written" in err
    code, _, err = im("ecr", "apply", env=CREDS)
    assert code == 1 and "apply refused" in err and "quota of 50" in err
    assert _account_snapshot(aws) == before
    code, out, _ = im("ecr", "doctor")
    assert code == 1 and "PROBLEM: preflight: 48 pull-through cache rules exist" in out


def test_a_prefix_taken_or_nested_by_someone_elses_rule_is_refused(aws, project):
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="quay", upstreamRegistry="k8s", upstreamRegistryUrl="registry.k8s.io"
    )
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="k8s/old", upstreamRegistry="k8s", upstreamRegistryUrl="registry.k8s.io"
    )
    before = _account_snapshot(aws)
    code, doc = plan_json()
    assert code == 1
    assert any(
        "prefix quay is taken by a rule for registry.k8s.io that imagemirror did not create" in p
        for p in doc["problems"]
    )
    assert any("prefixes k8s and k8s/old nest" in p for p in doc["problems"])
    assert im("ecr", "apply", env=CREDS)[0] == 1
    assert _account_snapshot(aws) == before


def test_a_secret_pending_deletion_is_found_before_writing(aws, project):
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="ecr-pullthroughcache/docker-hub", SecretString="{}")
    sm.delete_secret(SecretId="ecr-pullthroughcache/docker-hub", RecoveryWindowInDays=7)
    code, _, err = im("ecr", "plan")
    assert code == 1 and "secret ecr-pullthroughcache/docker-hub is scheduled for deletion" in err


def test_apply_failing_midway_says_what_it_did_and_a_rerun_finishes(aws, project):
    from integration.moto_ecr_ext import allow_all, deny

    deny("iam:CreatePolicy")
    code, out, err = im("ecr", "apply", env=CREDS)
    assert code == 4
    assert "apply stopped: create iam-policy imagemirror-ci-push failed: AWS iam CreatePolicy: AccessDenied" in err
    assert "done (13): create secret ecr-pullthroughcache/docker-hub" in err
    assert "not done (1): create iam-policy imagemirror-ci-push" in err
    assert "run `imagemirror ecr apply` again" in err
    assert "Applied: 13 created" in out
    allow_all()
    code, doc = plan_json()
    assert [(c["action"], c["kind"]) for c in doc["changes"]] == [("create", "iam-policy")]
    code, out, err = im("ecr", "apply", env=CREDS)
    assert code == 0 and "Applied: 1 created" in out, err
    assert plan_json()[1]["changes"] == []


def test_access_denied_is_one_line_exit_4(aws, project):
    from integration.moto_ecr_ext import deny

    deny("iam:GetPolicy")
    code, out, err = im("ecr", "plan")
    assert code == 4 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("imagemirror: error: AWS iam GetPolicy: AccessDenied: User: ")
    assert "is not authorized to perform: iam:GetPolicy" in err


@pytest.mark.parametrize("username", ["e", "me", "admin"])
def test_an_aws_error_is_not_damaged_by_a_short_username(aws, project, username):
    from integration.moto_ecr_ext import deny

    deny("secretsmanager:CreateSecret")
    env = {**CREDS, "IMAGEMIRROR_DOCKER_IO_USERNAME": username, "IMAGEMIRROR_DOCKER_IO_TOKEN": "x"}
    code, _, err = im("ecr", "apply", env=env)
    assert code == 4
    assert (
        "AWS secretsmanager CreateSecret: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ci/imagemirror "
        "is not authorized to perform: secretsmanager:CreateSecret because no identity-based policy allows the "
        "secretsmanager:CreateSecret action"
    ) in err
    assert "done (0): nothing" in err


# ---------------------------------------------------------------- one CI policy for every Region


def test_two_regions_share_one_ci_policy_and_each_plan_stays_clean(aws, project):
    assert im("ecr", "apply", env=CREDS)[0] == 0
    code, doc = plan_json("--region", "us-east-2")
    assert ("update", "iam-policy", "imagemirror-ci-push") in {
        (c["action"], c["kind"], c["name"]) for c in doc["changes"]
    }
    assert im("ecr", "apply", "--region", "us-east-2", env=CREDS)[0] == 0
    for region in (REGION, "us-east-2"):
        code, doc = plan_json("--region", region)
        assert code == 0 and doc["changes"] == [], (region, doc["changes"])
    assert "No changes" in im("ecr", "apply", env=CREDS)[1]  # re-applying eu-west-1 changes nothing
    assert plan_json("--region", "us-east-2")[1]["changes"] == []
    iam = aws.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT}:policy/imagemirror-ci-push"
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
    assert tags["imagemirror-regions"] == "eu-west-1 us-east-2"
    # destroy in one Region keeps the policy eu-west-1 still uses, and says how it knows
    code, out, err = im("ecr", "destroy", "--yes", "--region", "us-east-2")
    assert code == 0, err
    assert (
        "iam-policy imagemirror-ci-push: kept, other Regions' registries still use it (eu-west-1: repository custom-apps"
        in out
    )
    iam.get_policy(PolicyArn=arn)
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
    assert tags["imagemirror-regions"] == "eu-west-1"
    assert plan_json()[1]["changes"] == []  # eu-west-1 sees no churn from us-east-2's destroy
    code, out, err = im("ecr", "destroy", "--yes")
    assert code == 0, err
    assert "- delete iam-policy imagemirror-ci-push" in out
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=arn)


# ---------------------------------------------------------------- partitions and Regions


@pytest.mark.parametrize("how", ["settings", "flag"])
def test_a_china_region_is_refused_before_any_call(aws, project, how, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail differently
    if how == "settings":
        (project / ".imagemirror.yaml").write_text(SETTINGS.replace(f"region: {REGION}", "region: cn-north-1"))
        code, _, err = im("ecr", "plan")
        assert code == 2 and "ecr.region: cn-north-1: the China Regions do not offer ECR pull-through cache" in err
    else:
        code, _, err = im("ecr", "plan", "--region", "cn-northwest-1")
        assert code == 2 and "Region cn-northwest-1: the China Regions do not offer ECR pull-through cache" in err
    assert "https://aws.amazon.com/about-aws/whats-new/2023/11/" in err


def test_govcloud_uses_the_partition_sts_reports(aws, project):
    (project / ".imagemirror.yaml").write_text(SETTINGS.replace(REGION, "us-gov-west-1") + "  node_roles: []\n")
    code, doc = plan_json()
    assert code == 0, doc
    assert doc["region"] == "us-gov-west-1"
    assert im("ecr", "apply", env=CREDS)[0] == 0
    iam = aws.client("iam", region="us-gov-west-1")
    pol = iam.get_policy(PolicyArn=f"arn:aws-us-gov:iam::{ACCOUNT}:policy/imagemirror-ci-push")["Policy"]
    doc = iam.get_policy_version(PolicyArn=pol["Arn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Resource"] == [f"arn:aws-us-gov:ecr:*:{ACCOUNT}:repository/custom-apps"]
    assert plan_json()[1]["changes"] == []


# ---------------------------------------------------------------- ECR to ECR


def test_ecr_upstream_in_another_account_needs_a_role_and_doctor_spells_out_the_policy(aws, project):
    upstream = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
    (project / ".imagemirror.yaml").write_text(
        f"registry: {HOST}\nrules:\n  {upstream}: central\necr:\n  region: {REGION}\n"
    )
    code, _, err = im("ecr", "plan")
    assert code == 1 and "is in another account (210987654321); ECR needs an IAM role" in err
    role = f"arn:aws:iam::{ACCOUNT}:role/ptc-central"
    (project / ".imagemirror.yaml").write_text(
        f"registry: {HOST}\nrules:\n  {upstream}: central\necr:\n  region: {REGION}\n  credentials:\n    {upstream}: {{role: {role}}}\n"
    )
    code, _, err = im("ecr", "plan")
    assert code == 1 and f"role {role} does not exist" in err
    iam = aws.client("iam")
    iam.create_role(
        RoleName="ptc-central",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "pullthroughcache.ecr.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    code, out, err = im("ecr", "apply")
    assert code == 0, err
    rule = aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"][0]
    assert (rule["upstreamRegistry"], rule["upstreamRegistryUrl"], rule["customRoleArn"]) == ("ecr", upstream, role)
    assert plan_json()[1]["changes"] == []
    code, out, _ = im("ecr", "doctor")
    assert code == 1  # the role has no permissions policy yet
    assert "the owner of 210987654321.dkr.ecr.us-east-1.amazonaws.com (account 210987654321) must grant" in out
    assert '"Principal":{"AWS":"arn:aws:iam::123456789012:root"}' in out and "ecr:BatchImportUpstreamImage" in out
    assert f"role {role} lacks ecr:GetDownloadUrlForLayer" in out
    code, out, _ = im("ecr", "rules")
    assert f"  {upstream}: central  # customRoleArn {role}" in out


def test_an_ecr_upstream_repository_prefix_maps_part_of_the_upstream(aws, project):
    """``<host>/<upstream prefix>: <prefix>`` is a rule with upstreamRepositoryPrefix: apply creates
    it, plan stays clean, rules and init read it back, doctor scopes the upstream's policy to it, and
    rewrite maps <host>/team-b/x to <cache>/team-a/x (and back with --revert)."""
    upstream = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"  # same account, another Region
    (project / ".imagemirror.yaml").write_text(
        f"registry: {HOST}\nrules:\n  {upstream}/team-b: team-a\n  {upstream}/team-c/apps: team-c\n"
        f"ecr:\n  region: {REGION}\n"
    )
    code, out, err = im("ecr", "plan")
    assert code == 0, err
    assert f"{upstream}/team-b -> team-a/ ECR to ECR" in out
    code, _, err = im("ecr", "apply")
    assert code == 0, err
    rules = {
        r["ecrRepositoryPrefix"]: r
        for r in aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"]
    }
    assert {p: r["upstreamRepositoryPrefix"] for p, r in rules.items()} == {"team-a": "team-b", "team-c": "team-c/apps"}
    assert plan_json()[1]["changes"] == []
    code, out, _ = im("ecr", "rules")
    assert f"  {upstream}/team-b: team-a\n" in out and f"  {upstream}/team-c/apps: team-c\n" in out
    # another upstream prefix for an existing rule: the rule is recreated (Update cannot change it)
    (project / ".imagemirror.yaml").write_text(
        f"registry: {HOST}\nrules:\n  {upstream}/team-x: team-a\n  {upstream}/team-c/apps: team-c\n"
        f"ecr:\n  region: {REGION}\n"
    )
    code, out, _ = im("ecr", "plan")
    assert code == 0 and "upstreamRepositoryPrefix team-b -> team-x (rules can only be recreated)" in out
    code, _, err = im("ecr", "apply")
    assert code == 0, err
    rules = {
        r["ecrRepositoryPrefix"]: r
        for r in aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"]
    }
    assert rules["team-a"]["upstreamRepositoryPrefix"] == "team-x" and plan_json()[1]["changes"] == []
    # rewrite: only the repositories under the upstream prefix move, the rest of the path kept
    values = project / "values.yaml"
    values.write_text(
        f"a:\n  image: {upstream}/team-x/app:1\nb:\n  image: {upstream}/team-c/apps/web:2\n"
        f"c:\n  image: {upstream}/team-d/other:3\n"
    )
    code, _, err = im("rewrite", "values.yaml")
    assert code == 0, err
    assert values.read_text() == (
        f"a:\n  image: {HOST}/team-a/app:1\nb:\n  image: {HOST}/team-c/web:2\nc:\n  image: {upstream}/team-d/other:3\n"
    )
    code, _, err = im("rewrite", "--revert", "values.yaml")
    assert code == 0, err
    assert values.read_text() == (
        f"a:\n  image: {upstream}/team-x/app:1\nb:\n  image: {upstream}/team-c/apps/web:2\n"
        f"c:\n  image: {upstream}/team-d/other:3\n"
    )
    values.unlink()
    # init writes the same keys from the account
    (project / ".imagemirror.yaml").unlink()
    code, _, err = im("init", ".")
    assert code == 0, err
    text = (project / ".imagemirror.yaml").read_text()
    assert f"  {upstream}/team-x: team-a\n" in text and f"  {upstream}/team-c/apps: team-c\n" in text


def test_a_cross_account_upstream_prefix_scopes_the_policy_doctor_spells_out(aws, project):
    upstream = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
    role = f"arn:aws:iam::{ACCOUNT}:role/ptc-central"
    aws.client("iam").create_role(
        RoleName="ptc-central",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "pullthroughcache.ecr.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    (project / ".imagemirror.yaml").write_text(
        f"registry: {HOST}\nrules:\n  {upstream}/shared: central\necr:\n  region: {REGION}\n"
        f"  credentials:\n    {upstream}: {{role: {role}}}\n"
    )
    code, _, err = im("ecr", "apply")
    assert code == 0, err
    code, out, _ = im("ecr", "doctor")
    assert f"the owner of {upstream}/shared (account 210987654321) must grant" in out
    assert '"Resource":"arn:aws:ecr:us-east-1:210987654321:repository/shared/*"' in out


@pytest.mark.parametrize(
    "rules, message",
    [
        pytest.param(
            "ghcr.io/org: gh-org",
            "an upstream repository prefix (upstreamRepositoryPrefix) is documented for "
            "ECR-to-ECR rules only (https://docs.aws.amazon.com/AmazonECR/latest/userguide/"
            "pull-through-cache-private-wildcards.html); map the whole host ghcr.io",
            id="not-ecr",
        ),
        pytest.param(
            f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{'x' * 31}: long",
            "is not a valid upstreamRepositoryPrefix (2-30 characters)",
            id="too-long",
        ),
        pytest.param(
            f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/Team: t",
            "'Team' is not an upstream repository prefix",
            id="upper-case",
        ),
    ],
)
def test_an_upstream_prefix_ecr_cannot_take_is_refused_before_any_call(aws, project, rules, message):
    (project / ".imagemirror.yaml").write_text(f"registry: {HOST}\nrules:\n  {rules}\necr:\n  region: {REGION}\n")
    code, out, err = im("ecr", "plan")
    assert code == 2 and out == "" and message in err, err
    assert err.count("\n") == 1
    assert aws.client("ecr").describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_unsupported_upstreams_are_refused_with_the_reason_and_page(aws, project):
    (project / ".imagemirror.yaml").write_text(f"registry: {HOST}\nrules:\n  gcr.io: gcr\necr:\n  region: {REGION}\n")
    code, _, err = im("ecr", "plan")
    assert code == 2 and "ECR pull-through cache cannot mirror gcr.io" in err
    assert "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html" in err


# ---------------------------------------------------------------- scrubbing and hostile endpoints


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    status = 502

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        page = f"<html><h1>Proxy error</h1><pre>{self.headers}{body.decode()}</pre></html>".encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 403, 502])
def test_a_proxy_page_echoing_the_request_prints_one_line_and_no_secret(project, monkeypatch, status):
    handler = type("H", (_EchoHandler,), {"status": status})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        for var in list(os.environ):
            if var.startswith("AWS_"):
                monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key-1234")
        monkeypatch.setenv("AWS_SESSION_TOKEN", "SESSION-TOKEN-abcdef-987654")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        code, out, err = im("ecr", "plan", "--endpoint-url", f"http://127.0.0.1:{srv.server_port}")
    finally:
        srv.shutdown()
    assert code == 4
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "GetCallerIdentity" in err and "check --endpoint-url" in err
    for leak in ("SESSION-TOKEN", "very-secret", "Proxy error", "Traceback", "Signature="):
        assert leak not in err


# ---------------------------------------------------------------- usage


def _seed_cache(aws):
    from integration.moto_ecr_ext import seed_images

    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistry="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=aws.client("secretsmanager").create_secret(
            Name="ecr-pullthroughcache/docker-hub", SecretString=json.dumps({"username": "u", "accessToken": "t"})
        )["ARN"],
    )
    old = datetime.now(UTC) - timedelta(days=90)
    seed_images(
        REGION,
        "docker-hub/library/nats",
        [
            {"tag": "2.12-alpine", "size": 60 * 1024**2, "pulled": datetime.now(UTC)},  # referenced in prod
            {"tag": "2.10-alpine", "size": 55 * 1024**2, "pulled": old},  # no longer referenced
        ],
    )
    seed_images(REGION, "docker-hub/library/busybox", [{"tag": "1.36", "size": 2 * 1024**2, "pulled": None}])


def test_usage_shows_sizes_costs_stale_and_cold_images(aws, tmp_path, monkeypatch):
    root = tmp_path / "gitops"
    shutil.copytree(REPO / "examples" / "gitops", root)
    (root / ".imagemirror.yaml").write_text(
        (root / ".imagemirror.yaml").read_text().replace("123456789012.dkr.ecr.af-south-1.amazonaws.com", HOST)
    )
    monkeypatch.chdir(root)
    _seed_cache(aws)
    code, out, err = im("ecr", "usage", "environments/prod")
    assert code == 0, err
    assert "docker-hub/library/nats" in out and "117.0 MiB" in out  # 60 + 55 + 2 MiB in the prefix
    assert "$0.01" in out  # 117 MiB at $0.10 per GB-month
    assert "Cached and referenced: 1 image(s)." in out
    assert "docker-hub/library/nats:2.10-alpine" in out and "docker-hub/library/busybox:1.36" in out
    assert "Referenced but not cached yet (run `imagemirror warm PATH`)" in out
    assert "docker-hub/bitnami/" in out  # prod's bitnami images are not cached yet
    code, out, _ = im("ecr", "usage", "--format", "json", "environments/prod")
    doc = json.loads(out)
    assert doc["prefixes"][0] == {
        "prefix": "docker-hub",
        "repositories": 2,
        "images": 3,
        "bytes": 117 * 1024**2,
        "last_pull": doc["prefixes"][0]["last_pull"],
        "monthly_cost": round(117 / 1024 * 0.10, 4),
    }
    assert {s["tags"][0] for s in doc["stale"]} == {"2.10-alpine", "1.36"}
    assert all(c["reference"].startswith("docker-hub/") or c["prefix"] for c in doc["cold"])
    code, out, _ = im("ecr", "usage", "--format", "csv")
    assert out.splitlines()[0] == "kind,prefix,repository,reference,images,bytes,last_pull,monthly_cost_usd"
    assert "repository,docker-hub,docker-hub/library/busybox,,1,2097152,," in out
