"""Read the account's current state (describe calls only) into :class:`plan.Observed`."""

from __future__ import annotations

from .client import AwsClient
from .plan import Desired, Observed
from .settings import SECRET_PREFIX, EcrSettings


def ci_policy_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:policy/{name}"


def observe(client: AwsClient, ecr: EcrSettings, desired: Desired, *, cached: bool = False) -> Observed:
    """Everything plan/destroy/doctor compare against.  Never writes."""
    observed = Observed()
    observed.rules = client.rules()
    observed.templates = client.templates()
    observed.secrets = client.secrets(SECRET_PREFIX)
    observed.repositories = {r.name: client.repository(r.name) for r in ecr.repositories}
    observed.registry_policy = client.registry_policy()
    from .settings import DEFAULT_CI_POLICY

    name = ecr.ci_policy or DEFAULT_CI_POLICY
    observed.ci_policy = client.policy(ci_policy_arn(desired.account, name))
    if cached:
        names = client.repository_names()
        for prefix in observed.rules:
            observed.cached[prefix] = [
                {"name": n, "images": client.image_count(n)} for n in names if n.startswith(prefix + "/")
            ]
    return observed
