"""The test-side moto extension (moto_ecr_ext.py) answers as the botocore model documents.

These pin the emulator the ``imagemirror ecr`` tests rely on: shapes come back through
botocore's parser, and the documented error codes arrive as the modelled exception classes.
"""

from __future__ import annotations

import json

import pytest

RULE_QUOTA = 50  # pull-through cache rules per registry (ECR service quotas)

pytestmark = pytest.mark.integration


@pytest.fixture
def server(moto_server):
    return moto_server


@pytest.fixture
def ecr(server):
    server.reset()
    return server.client("ecr")


@pytest.fixture
def secret_arn(server):
    sm = server.client("secretsmanager")
    return sm.create_secret(
        Name="ecr-pullthroughcache/hub", SecretString=json.dumps({"username": "u", "accessToken": "t"})
    )["ARN"]


def test_rule_lifecycle_and_documented_errors(ecr, secret_arn):
    created = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistry="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=secret_arn,
    )
    assert created["credentialArn"] == secret_arn and created["registryId"] == "123456789012"
    with pytest.raises(ecr.exceptions.PullThroughCacheRuleAlreadyExistsException):
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret_arn
        )
    with pytest.raises(ecr.exceptions.UnsupportedUpstreamRegistryException):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gcr", upstreamRegistryUrl="gcr.io")
    with pytest.raises(ecr.exceptions.UnsupportedUpstreamRegistryException):
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="k8s", upstreamRegistry="quay", upstreamRegistryUrl="registry.k8s.io"
        )
    with pytest.raises(ecr.exceptions.SecretNotFoundException):
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="github", upstreamRegistryUrl="ghcr.io", credentialArn=secret_arn.replace("hub", "nope")
        )
    with pytest.raises(ecr.exceptions.InvalidParameterException):  # an authenticated upstream needs a secret
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="github", upstreamRegistryUrl="ghcr.io")
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="bad-", upstreamRegistryUrl="quay.io")
    with pytest.raises(ecr.exceptions.PullThroughCacheRuleNotFoundException):
        ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["nope"])
    with pytest.raises(ecr.exceptions.PullThroughCacheRuleNotFoundException):
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="nope")
    updated = ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", credentialArn=secret_arn)
    assert "updatedAt" in updated
    valid = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert (valid["isValid"], valid.get("failure")) == (True, None)
    deleted = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert deleted["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_rule_quota_and_pagination(ecr):
    for i in range(RULE_QUOTA):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=f"quay{i:02d}", upstreamRegistryUrl="quay.io")
    with pytest.raises(ecr.exceptions.LimitExceededException):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="one-more", upstreamRegistryUrl="quay.io")
    pages = list(ecr.get_paginator("describe_pull_through_cache_rules").paginate(PaginationConfig={"PageSize": 20}))
    assert [len(p["pullThroughCacheRules"]) for p in pages] == [20, 20, 10]


def test_validate_reports_a_malformed_secret_as_invalid_not_an_error(server, ecr, secret_arn):
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret_arn
    )
    server.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString="not json")
    result = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="hub")
    assert result["isValid"] is False and "username" in result["failure"]


def test_creation_template_lifecycle_and_errors(ecr):
    made = ecr.create_repository_creation_template(prefix="quay", appliedFor=["PULL_THROUGH_CACHE"], description="d")
    template = made["repositoryCreationTemplate"]
    assert (template["imageTagMutability"], template["encryptionConfiguration"]) == (
        "MUTABLE",
        {"encryptionType": "AES256"},
    )
    with pytest.raises(ecr.exceptions.TemplateAlreadyExistsException):
        ecr.create_repository_creation_template(prefix="quay", appliedFor=["PULL_THROUGH_CACHE"])
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.create_repository_creation_template(prefix="k8s", appliedFor=["SOMETIMES"])
    with pytest.raises(ecr.exceptions.TemplateNotFoundException):
        ecr.update_repository_creation_template(prefix="nope", appliedFor=["PULL_THROUGH_CACHE"])
    with pytest.raises(ecr.exceptions.TemplateNotFoundException):
        ecr.delete_repository_creation_template(prefix="nope")
    updated = ecr.update_repository_creation_template(prefix="quay", imageTagMutability="IMMUTABLE")[
        "repositoryCreationTemplate"
    ]
    assert (updated["imageTagMutability"], updated["description"]) == ("IMMUTABLE", "d")
    assert [
        t["prefix"]
        for t in ecr.describe_repository_creation_templates(prefixes=["quay", "x"])["repositoryCreationTemplates"]
    ] == ["quay"]
    ecr.delete_repository_creation_template(prefix="quay")
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


def test_registry_policy_accepts_the_documented_pull_through_cache_statement(ecr):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullThroughCacheFromReadOnlyRole",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/nodes"},
                "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
                "Resource": "arn:aws:ecr:eu-west-1:123456789012:repository/ecr-public/*",
            }
        ],
    }
    ecr.put_registry_policy(policyText=json.dumps(policy))
    assert json.loads(ecr.get_registry_policy()["policyText"]) == policy
    policy["Statement"][0]["Action"] = ["ecr:DeleteRepository"]
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.put_registry_policy(policyText=json.dumps(policy))


def test_describe_images_pages_sizes_and_pull_times(server, ecr):
    from integration.moto_ecr_ext import seed_images

    seed_images("eu-west-1", "quay/a/b", [{"tag": f"t{i}", "size": 10 * i, "pulled": None} for i in range(2500)])
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.describe_images(repositoryName="quay/a/b", maxResults=1001)
    pages = list(
        ecr.get_paginator("describe_images").paginate(repositoryName="quay/a/b", PaginationConfig={"PageSize": 1000})
    )
    assert [len(p["imageDetails"]) for p in pages] == [1000, 1000, 500]
    details = [d for p in pages for d in p["imageDetails"]]
    assert sum(d["imageSizeInBytes"] for d in details) == 10 * sum(range(2500))
    assert not any("lastRecordedPullTime" in d for d in details)
    # a pushed image's size is its layers' sizes (moto alone reports the config blob's)
    ecr.create_repository(repositoryName="own")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"size": 7, "digest": "sha256:" + "c" * 64},
        "layers": [{"size": 1000, "digest": "sha256:" + "a" * 64}, {"size": 234, "digest": "sha256:" + "b" * 64}],
    }
    ecr.put_image(repositoryName="own", imageManifest=json.dumps(manifest), imageTag="v1")
    (detail,) = ecr.describe_images(repositoryName="own")["imageDetails"]
    assert detail["imageSizeInBytes"] == 1234 and "lastRecordedPullTime" not in detail
    ecr.batch_get_image(repositoryName="own", imageIds=[{"imageTag": "v1"}])
    assert "lastRecordedPullTime" in ecr.describe_images(repositoryName="own")["imageDetails"][0]


def test_ecr_upstream_rules_and_access_denied(server, ecr):
    from integration.moto_ecr_ext import allow_all, deny

    other = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
    made = ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="central",
        upstreamRegistry="ecr",
        upstreamRegistryUrl=other,
        customRoleArn="arn:aws:iam::123456789012:role/ptc",
    )
    assert made["customRoleArn"] == "arn:aws:iam::123456789012:role/ptc"
    with pytest.raises(ecr.exceptions.InvalidParameterException):  # the role must be in the registry's account
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="c2",
            upstreamRegistry="ecr",
            upstreamRegistryUrl=other,
            customRoleArn="arn:aws:iam::210987654321:role/ptc",
        )
    with pytest.raises(ecr.exceptions.UnsupportedUpstreamRegistryException):  # one partition only
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="c3",
            upstreamRegistry="ecr",
            upstreamRegistryUrl="210987654321.dkr.ecr.us-gov-west-1.amazonaws.com",
        )
    with pytest.raises(ecr.exceptions.InvalidParameterException):  # not the registry itself
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="c4",
            upstreamRegistry="ecr",
            upstreamRegistryUrl="123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        )
    deny("ecr:DescribePullThroughCacheRules", "iam:GetRole")
    with pytest.raises(ecr.exceptions.ClientError) as err:
        ecr.describe_pull_through_cache_rules()
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    iam = server.client("iam")
    with pytest.raises(iam.exceptions.ClientError) as err:
        iam.get_role(RoleName="x")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    allow_all()
    assert len(ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]) == 1
