"""Regions and partitions: where the pull-through cache is offered, and what storage costs.  Pure.

No AWS call is made here: a Region is refused before any request.  The ARN partition used in
every ARN imagemirror writes comes from STS (``GetCallerIdentity``'s ``Arn``); this module only
checks that it agrees with the Region's.

Pull-through cache availability, by partition (sources below):

* ``aws``: offered in every commercial Region [UG-PTC].
* ``aws-us-gov``: offered; ECR-to-ECR rules only within the same partition [GOV].
  (AWS's 2023 announcement excluded GovCloud [NEW-2023]; the GovCloud User Guide lists ECR to
  ECR pull-through cache rules as available since, so imagemirror follows the newer page.)
* ``aws-cn``: refused.  The 2023 announcement excludes the China Regions [NEW-2023] and no AWS
  China page we know of says otherwise.
* ``aws-iso*``, ``aws-eusc``: refused: no AWS page documents the pull-through cache there.

[UG-PTC]   https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html
[GOV]      https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-ecr.html
[NEW-2023] https://aws.amazon.com/about-aws/whats-new/2023/11/amazon-ecr-pull-through-cache-additional-upstream-registries/
"""

from __future__ import annotations

import re

UG_PTC = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html"
GOV_ECR = "https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-ecr.html"
NEWS_2023 = (
    "https://aws.amazon.com/about-aws/whats-new/2023/11/amazon-ecr-pull-through-cache-additional-upstream-registries/"
)
PRICING = "https://aws.amazon.com/ecr/pricing/"

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]\Z")

# Region name prefix -> partition (the AWS partitions' region naming, botocore endpoints.json).
_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("eusc-", "aws-eusc"),
)

_REFUSED = {
    "aws-cn": f"the China Regions do not offer ECR pull-through cache ({NEWS_2023})",
    "aws-iso": f"no AWS page documents ECR pull-through cache in the aws-iso partition ({UG_PTC})",
    "aws-iso-b": f"no AWS page documents ECR pull-through cache in the aws-iso-b partition ({UG_PTC})",
    "aws-iso-e": f"no AWS page documents ECR pull-through cache in the aws-iso-e partition ({UG_PTC})",
    "aws-iso-f": f"no AWS page documents ECR pull-through cache in the aws-iso-f partition ({UG_PTC})",
    "aws-eusc": f"no AWS page documents ECR pull-through cache in the aws-eusc partition ({UG_PTC})",
}

_DNS_SUFFIX = {"aws-cn": "amazonaws.com.cn"}

# Storage price, USD per GB-month, for private repositories (cached images included).  The ECR
# pricing page lists $0.10 per GB-month; third-party summaries of that page (cloudburn.io,
# wring.co, March 2026; c3index.co.jp) say the figure is the same in every commercial Region.
# GovCloud is priced separately and no stored source gives its figure: set
# ``ecr.storage_price`` for it (and to override any default).
DEFAULT_STORAGE_PRICE = 0.10
PRICE_SOURCE = f"{PRICING} ($0.10 per GB-month, the same in every commercial Region)"


def partition_of(region: str) -> str:
    for prefix, partition in _PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


def refusal(region: str) -> str | None:
    """Why the pull-through cache cannot be set up in ``region`` (None: it can)."""
    if not REGION.match(region):
        return f"{region!r} is not an AWS Region name"
    reason = _REFUSED.get(partition_of(region))
    return f"{region}: {reason}" if reason else None


def dns_suffix(region: str) -> str:
    return _DNS_SUFFIX.get(partition_of(region), "amazonaws.com")


def registry_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.{dns_suffix(region)}"


def storage_price(region: str) -> float | None:
    """USD per GB-month for ``region``'s private-repository storage, or None when unknown."""
    return DEFAULT_STORAGE_PRICE if partition_of(region) == "aws" else None
