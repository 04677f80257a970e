"""The network clients the commands hand down (the composition root of the registry layer):
credentials from the Docker config and its helpers, ECR tokens through the one AWS wrapper
(``ecr.client.AwsClient.authorization_token``), and the registry client chart fetching gets.

Everything is imported when a client is made, never at CLI start-up.
"""

from __future__ import annotations


def credential_store():
    """Docker config credentials and helpers; ECR hosts' tokens from the AWS wrapper."""
    from ..ecr.client import AwsClient
    from ..registry.auth import CredentialStore, ecr_token_source

    return CredentialStore(ecr=ecr_token_source(lambda region: AwsClient(region=region)))


def chart_client(deadline: float | None = None):
    """The registry client for chart pulls (``--effective``): retries, caps, one overall
    deadline for all of a run's fetching (``charts.fetch.FETCH_DEADLINE``); plain HTTP for
    loopback OCI hosts, as Helm."""
    from ..charts.fetch import FETCH_DEADLINE
    from ..registry.client import RegistryClient

    return RegistryClient(credential_store(), deadline=FETCH_DEADLINE if deadline is None else deadline,
                          plain_http_loopback=True, jobs=1)
