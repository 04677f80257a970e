"""Pure parts of issue 15: scrubbing, Regions/partitions, ECR-to-ECR settings, preflight, the
``rules:`` block, and the usage report."""

from __future__ import annotations

from datetime import datetime, UTC
from pathlib import Path

import pytest

from imagemirror.config import parse_settings
from imagemirror.ecr import regions, settings as ecr_settings
from imagemirror.ecr.client import scrub
from imagemirror.ecr.plan import Observed, desired_state, plan, preflight
from imagemirror.errors import ConfigError

ACCOUNT = "123456789012"


# ---------------------------------------------------------------- scrubbing


@pytest.mark.parametrize("username", ["me", "a", "e", "in", "the", "admin", "docker", "secret"])
def test_short_or_common_usernames_never_damage_a_message(username):
    message = "Invalid parameter at 'credentialArn': the secret me cannot be read in a while"
    assert scrub(message, tokens=["dckr_pat_REAL-TOKEN-0001"], names=[username]) == message


def test_a_long_username_and_the_token_are_masked_as_whole_words_only():
    token, user = "dckr_pat_REAL-TOKEN-0001", "deploy-bot-42"
    text = f'bad {{"username":"{user}","accessToken":"{token}"}} for {user}x and x{token}'
    out = scrub(text, tokens=[token], names=[user])
    assert out == 'bad {"username":"***","accessToken":"***"} for deploy-bot-42x and xdckr_pat_REAL-TOKEN-0001'.replace(
        "deploy-bot-42x", f"{user}x"
    )


def test_a_one_character_token_is_masked_where_it_stands_alone_and_words_survive():
    assert scrub("token z rejected; zone size", tokens=["z"]) == "token *** rejected; zone size"


def test_scrub_keeps_one_line():
    assert scrub("a\nb\tc", tokens=[]) == "a b c"


# ---------------------------------------------------------------- Regions and partitions


@pytest.mark.parametrize(
    "region,partition,refused",
    [
        ("eu-west-1", "aws", False),
        ("af-south-1", "aws", False),
        ("us-gov-west-1", "aws-us-gov", False),
        ("cn-north-1", "aws-cn", True),
        ("cn-northwest-1", "aws-cn", True),
        ("us-iso-east-1", "aws-iso", True),
        ("us-isob-east-1", "aws-iso-b", True),
        ("eusc-de-east-1", "aws-eusc", True),
    ],
)
def test_partition_and_refusal_of_a_region(region, partition, refused):
    assert regions.partition_of(region) == partition
    assert (regions.refusal(region) is not None) == refused


def test_registry_host_and_price_defaults():
    assert regions.registry_host(ACCOUNT, "eu-west-1") == f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    assert regions.storage_price("ap-northeast-1") == 0.10
    assert regions.storage_price("us-gov-west-1") is None  # no stored source gives it


def test_govcloud_desired_state_uses_its_partition():
    settings = parse_settings(
        {
            "registry": f"{ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com",
            "rules": {"quay.io": "quay"},
            "ecr": {"region": "us-gov-west-1", "node_roles": [f"arn:aws-us-gov:iam::{ACCOUNT}:role/nodes"]},
        }
    )
    d = desired_state(ecr_settings.parse(settings), ACCOUNT, "us-gov-west-1", "aws-us-gov")
    assert d.statement["Resource"] == [f"arn:aws-us-gov:ecr:us-gov-west-1:{ACCOUNT}:repository/quay/*"]
    assert d.ci_policy[1]["Statement"][0]["Resource"] == [f"arn:aws-us-gov:ecr:*:{ACCOUNT}:repository/custom-apps"]


# ---------------------------------------------------------------- ECR upstreams in settings

UP = "210987654321.dkr.ecr.us-east-1.amazonaws.com"


def _parse(data: dict):
    return ecr_settings.parse(parse_settings(data, Path("/x/.imagemirror.yaml")))


def test_an_ecr_upstream_with_a_role_is_a_rule():
    ecr = _parse(
        {
            "rules": {UP: "central"},
            "ecr": {
                "region": "eu-west-1",
                "account": ACCOUNT,
                "credentials": {UP: {"role": f"arn:aws:iam::{ACCOUNT}:role/ptc"}},
            },
        }
    )
    (up,) = ecr.upstreams
    assert (up.registry, up.url, up.role, up.ecr_upstream) == (
        "ecr",
        UP,
        f"arn:aws:iam::{ACCOUNT}:role/ptc",
        ("210987654321", "us-east-1"),
    )


@pytest.mark.parametrize(
    "data,message",
    [
        (
            {"rules": {UP: "central"}, "ecr": {"credentials": {UP: {"username_env": "A"}}}},
            "an ECR upstream authenticates with an IAM role",
        ),
        (
            {
                "rules": {UP: "central"},
                "ecr": {"account": ACCOUNT, "credentials": {UP: {"role": "arn:aws:iam::999999999999:role/x"}}},
            },
            "must be in the cache's account",
        ),
        ({"rules": {"210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn": "cn"}}, "the China Regions do not offer"),
        ({"rules": {UP: "central"}, "ecr": {"region": "us-gov-west-1"}}, "works only within one partition"),
        ({"rules": {"mcr.microsoft.com": "mcr"}}, "pull-through-cache.html"),
        ({"rules": {"gitlab.example.com": "gl"}}, "not one of the upstream registries"),
        ({"rules": {"quay.io": "quay"}, "ecr": {"storage_price": "cheap"}}, "ecr.storage_price"),
    ],
)
def test_ecr_upstream_settings_errors(data, message):
    with pytest.raises(ConfigError) as err:
        _parse(data)
    assert message in str(err.value)


# ---------------------------------------------------------------- preflight


def _desired(rules: dict, **ecr):
    return desired_state(_parse({"rules": rules, "ecr": {"region": "eu-west-1", **ecr}}), ACCOUNT, "eu-west-1")


def test_preflight_counts_the_quota_after_deletions_and_creations():
    d = _desired({"quay.io": "quay", "registry.k8s.io": "k8s"})
    obs = Observed(rules={f"x{i:02d}": {"upstreamRegistryUrl": "quay.io"} for i in range(49)})
    problems = preflight(d, obs, plan(d, obs))
    assert len(problems) == 1 and "49 pull-through cache rules exist and the plan creates 2: 51" in problems[0]
    obs.rules.pop("x00")
    assert preflight(d, obs, plan(d, obs)) == []


def test_preflight_finds_a_cross_account_ecr_upstream_without_role_and_a_missing_role():
    d = _desired({UP: "central"})
    assert any("ECR needs an IAM role" in p for p in preflight(d, Observed(), plan(d, Observed())))
    role = f"arn:aws:iam::{ACCOUNT}:role/ptc"
    d = _desired({UP: "central"}, credentials={UP: {"role": role}})
    obs = Observed(roles={role: False})
    assert preflight(d, obs, plan(d, obs)) == [f"rule central: role {role} does not exist in account {ACCOUNT}"]
    obs.roles[role] = True
    assert preflight(d, obs, plan(d, obs)) == []


def test_a_changed_role_is_an_update_and_a_removed_role_a_replace():
    role = f"arn:aws:iam::{ACCOUNT}:role/ptc"
    d = _desired({UP: "central"}, credentials={UP: {"role": role}})
    obs = Observed(rules={"central": {"upstreamRegistryUrl": UP, "upstreamRegistry": "ecr"}}, roles={role: True})
    assert [(c.action, c.kind) for c in plan(d, obs) if c.kind == "rule"] == [("update", "rule")]
    obs.rules["central"]["customRoleArn"] = role
    assert not [c for c in plan(d, obs) if c.kind == "rule"]
    d = _desired({UP: "central"})
    assert [(c.action, c.reason) for c in plan(d, obs) if c.kind == "rule"] == [
        ("replace", "customRoleArn removed (rules can only be recreated)")
    ]


# ---------------------------------------------------------------- rules: block


def test_rules_block_comments_what_rules_cannot_express():
    from imagemirror.commands.ecr import rules_block

    text = rules_block(
        {
            "k8s": {"upstreamRegistryUrl": "registry.k8s.io"},
            "ROOT": {"upstreamRegistryUrl": UP},
            "team-a": {"upstreamRegistryUrl": UP, "upstreamRepositoryPrefix": "team-b"},
            "central": {"upstreamRegistryUrl": UP, "customRoleArn": "arn:aws:iam::1:role/r"},
            "team-c": {"upstreamRegistryUrl": UP, "upstreamRepositoryPrefix": "team-b/"},
            "gh-org": {"upstreamRegistryUrl": "ghcr.io", "upstreamRepositoryPrefix": "org"},
        },
        ACCOUNT,
        "eu-west-1",
    )
    assert "  registry.k8s.io: k8s\n" in text
    assert f"  {UP}: central  # customRoleArn arn:aws:iam::1:role/r\n" in text
    assert f"  # {UP}: ROOT  (no prefix" in text
    # an ECR upstream's upstreamRepositoryPrefix is the key's path; a second rule for it is a comment
    assert f"  {UP}/team-b: team-a\n" in text
    assert f"  # {UP}/team-b: team-c  (another rule for the same upstream)" in text
    assert (
        "  # ghcr.io/org: gh-org  (upstreamRepositoryPrefix org: imagemirror maps upstream prefixes of ECR upstreams only"
        in text
    )
    # and the block is settings imagemirror reads back: team-a/x is the upstream's team-b/x
    from ruamel.yaml import YAML

    from imagemirror.config import parse_settings
    from imagemirror.reference import parse

    rules = YAML(typ="safe").load(text)["rules"]
    settings = parse_settings({"registry": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com", "rules": rules}, None)
    status, upstream, target = settings.ruleset.classify(parse(f"{UP}/team-b/app:1"))
    assert (status, str(target)) == ("unmirrored", f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team-a/app:1")
    status, upstream, _ = settings.ruleset.classify(parse(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team-a/app:1"))
    assert (status, str(upstream)) == ("mirrored", f"{UP}/team-b/app:1")


# ---------------------------------------------------------------- usage report


def _img(tag, nbytes, pulled=None, media="application/vnd.oci.image.manifest.v1+json", digest=None):
    return {
        "digest": digest or f"sha256:{tag or 'x'}{nbytes}",
        "tags": [tag] if tag else [],
        "bytes": nbytes,
        "pushed": None,
        "pulled": pulled,
        "media": media,
    }


def test_usage_joins_the_cache_with_the_references():
    from imagemirror.ecr.usage import GIB, Repo, build, format_csv, format_text

    when = datetime(2026, 11, 30, tzinfo=UTC)
    repos = [
        Repo("docker-hub/library/nats", "docker-hub", [_img("2.12", GIB, when), _img("2.10", GIB)]),
        Repo(
            "quay/argoproj/argocd",
            "quay",
            [_img("v2", 300, when, media="application/vnd.oci.image.index.v1+json"), _img(None, 200), _img(None, 250)],
        ),
    ]
    refs = {
        "docker-hub/library/nats": {"2.12": ["a.yaml:3"]},
        "quay/argoproj/argocd": {"v2": ["b.yaml:1"]},
        "docker-hub/bitnami/redis": {"7.2": ["c.yaml:9"]},
    }
    report = build(repos, ["docker-hub", "quay"], 0.10, refs)
    assert report["prefixes"][0]["monthly_cost"] == 0.2 and report["prefixes"][0]["images"] == 2
    assert report["repositories"][1]["bytes"] == 450  # the index's own size is its largest child's
    assert report["cached_referenced"] == 4  # nats:2.12, the index and its two untagged platforms
    assert [s["tags"] for s in report["stale"]] == [["2.10"]]
    assert report["cold"] == [
        {
            "repository": "docker-hub/bitnami/redis",
            "reference": "docker-hub/bitnami/redis:7.2",
            "where": ["c.yaml:9"],
            "prefix": "docker-hub",
        }
    ]
    text = format_text(report, account=ACCOUNT, region="eu-west-1", host="h")
    assert "docker-hub/library/nats:2.10" in text and "docker-hub/bitnami/redis:7.2  (c.yaml:9)" in text
    assert "$0.20" in text
    assert "cold,docker-hub,docker-hub/bitnami/redis,docker-hub/bitnami/redis:7.2" in format_csv(
        report, account=ACCOUNT, region="r", host="h"
    )


def test_usage_without_a_price_says_unknown():
    from imagemirror.ecr.usage import Repo, build, format_text

    report = build([Repo("quay/a/b", "quay", [_img("1", 10)])], ["quay"], None)
    assert report["total"]["monthly_cost"] is None
    assert "unknown" in format_text(report, account=ACCOUNT, region="us-gov-west-1", host="h")


def test_preflight_refuses_role_arns_of_another_partition():
    settings = parse_settings(
        {
            "rules": {"quay.io": "quay"},
            "ecr": {"region": "us-gov-west-1", "node_roles": [f"arn:aws:iam::{ACCOUNT}:role/nodes"]},
        }
    )
    d = desired_state(ecr_settings.parse(settings), ACCOUNT, "us-gov-west-1", "aws-us-gov")
    assert preflight(d, Observed(), plan(d, Observed())) == [
        f"arn:aws:iam::{ACCOUNT}:role/nodes is not in partition aws-us-gov (the one STS reports for these credentials)"
    ]
