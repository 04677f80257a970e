"""Read the account's current state (describe calls only) into :class:`plan.Observed`."""

from __future__ import annotations

from .client import AwsClient
from .plan import REGIONS_TAG, Desired, Observed, policy_regions
from .settings import DEFAULT_CI_POLICY, MANAGED_TAG, SECRET_PREFIX, EcrSettings


def ci_policy_arn(account: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:policy/{name}"


def observe(
    client: AwsClient, ecr: EcrSettings, desired: Desired, *, cached: bool = False, global_users: bool = False
) -> Observed:
    """Everything plan/destroy/doctor compare against.  Never writes.

    ``global_users`` (destroy): for the CI policy, read every other Region its
    :data:`plan.REGIONS_TAG` lists, to learn whether that Region's registry still uses it.
    """
    observed = Observed()
    observed.rules = client.rules()
    observed.templates = client.templates()
    observed.secrets = client.secrets(SECRET_PREFIX, deleted=observed.deleted_secrets)
    observed.repositories = {r.name: client.repository(r.name) for r in ecr.repositories}
    observed.registry_policy = client.registry_policy()

    name = ecr.ci_policy or DEFAULT_CI_POLICY
    observed.ci_policy = client.policy(ci_policy_arn(desired.account, name, desired.partition))
    roles = {up.role for up in desired.rules if up.role}
    if ecr.creation_role:
        roles.add(ecr.creation_role)
    for arn in sorted(roles):
        if arn.split(":")[4] == desired.account:
            observed.roles[arn] = client.role_exists(arn.rsplit("/", 1)[-1])
    if cached:
        names = client.repository_names()
        for prefix in observed.rules:
            observed.cached[prefix] = [
                {"name": n, "images": client.image_count(n)} for n in names if n.startswith(prefix + "/")
            ]
    if global_users and observed.ci_policy is not None:
        for region in policy_regions(observed.ci_policy):
            if region != desired.region:
                observed.ci_users[region] = users_in(client.in_region(region), ecr)
    return observed


def users_in(client: AwsClient, ecr: EcrSettings) -> list[str]:
    """What in ``client``'s Region shows that its registry still uses imagemirror's CI policy:
    the private repositories the policy grants pushes to, there and tagged managed-by=imagemirror."""
    return [f"repository {n}" for n in client.tagged_repository_names([r.name for r in ecr.repositories])]


__all__ = ["observe", "users_in", "ci_policy_arn", "REGIONS_TAG", "MANAGED_TAG"]
