"""The network clients the commands hand down (the composition root of the registry layer):
credentials from the Docker config and its helpers, ECR tokens through the one AWS wrapper
(``ecr.client.AwsClient.authorization_token``), and the registry client chart fetching gets.

Cheap to import: urllib3 and boto3 are imported by the adapters when a client is made.
"""

from __future__ import annotations

import time

from ..ecr.client import AwsClient
from ..registry.auth import CredentialStore, ecr_token_source
from ..registry.client import RegistryClient

#: the overall bound of a run's chart fetching (every request, retry and byte of it), seconds
FETCH_DEADLINE = 300.0


def credential_store(deadline: float | None = None) -> CredentialStore:
    """Docker config credentials and helpers; ECR hosts' tokens from the AWS wrapper.
    ``deadline`` (seconds from now): no helper nor AWS call runs past it (a run's wall clock)."""
    until = None if deadline is None else time.monotonic() + deadline
    return CredentialStore(ecr=ecr_token_source(lambda region: AwsClient(region=region, until=until)), until=until)


def chart_client(deadline: float = FETCH_DEADLINE) -> RegistryClient:
    """The registry client for chart pulls (``--effective``): retries, caps, one overall
    deadline for all of a run's fetching; plain HTTP for loopback OCI hosts, as Helm."""
    return RegistryClient(credential_store(deadline), deadline=deadline, plain_http_loopback=True, jobs=1)
