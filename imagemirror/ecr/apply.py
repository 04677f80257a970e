"""Execute a plan: each :class:`plan.Change` becomes calls on the :class:`client.AwsClient`.

Credentials are gathered *before* anything is written (so a missing token stops the run with
nothing half-done), from environment variables, ``--credentials-stdin`` (a JSON object
``{"<host>": {"username": ..., "accessToken": ...}}``) or a hidden prompt; never from argv.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Mapping

from ..errors import ConfigError, ImagemirrorError, ServiceError
from .client import AwsClient, Credential
from .plan import REGIONS_TAG, Change, Observed
from .settings import MANAGED_TAG, EcrSettings, Upstream

# Order of execution: secrets before the rules that read them, a rule's delete before its
# re-create, templates before anyone pulls, deletions of secrets last.
_ORDER = [
    ("secret", "create"),
    ("secret", "update"),
    ("rule", "delete"),
    ("rule", "replace"),
    ("rule", "create"),
    ("rule", "update"),
    ("template", "delete"),
    ("template", "create"),
    ("template", "update"),
    ("repository", "create"),
    ("repository", "update"),
    ("registry-policy", "create"),
    ("registry-policy", "update"),
    ("registry-policy", "delete"),
    ("iam-policy", "create"),
    ("iam-policy", "update"),
    ("iam-policy", "delete"),
    ("cached-repository", "delete"),
    ("repository", "delete"),
    ("secret", "delete"),
]
_RANK = {key: i for i, key in enumerate(_ORDER)}
_TAGS = {MANAGED_TAG[0]: MANAGED_TAG[1]}


def ordered(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: _RANK[(c.kind, c.action)])


Ask = Callable[[str, bool], str]


def gather_credentials(
    changes: list[Change],
    ecr: EcrSettings,
    *,
    environ: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    ask: Ask | None = None,
) -> dict[str, Credential]:
    """Credentials (by host) for every secret the plan creates or rotates."""
    environ = os.environ if environ is None else environ
    hosts = [c.spec["host"] for c in changes if c.kind == "secret" and c.action in ("create", "update")]
    if not hosts:
        return {}
    upstreams: dict[str, Upstream] = {u.host: u for u in ecr.upstreams}
    piped: dict = {}
    if stdin_text is not None:
        try:
            piped = json.loads(stdin_text or "{}")
        except ValueError:
            raise ConfigError(
                '--credentials-stdin: expected a JSON object {"<host>": {"username": ..., "accessToken": ...}}'
            ) from None
        if not isinstance(piped, dict):
            raise ConfigError(
                '--credentials-stdin: expected a JSON object {"<host>": {"username": ..., "accessToken": ...}}'
            )
    out: dict[str, Credential] = {}
    for host in hosts:
        up = upstreams[host]
        user, token = environ.get(up.username_env or ""), environ.get(up.token_env or "")
        if user and token:
            out[host] = Credential(user, token)
            continue
        entry = piped.get(host)
        if entry is not None:
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("username"), str)
                or not isinstance(entry.get("accessToken"), str)
                or not entry["username"]
                or not entry["accessToken"]
            ):
                raise ConfigError(f'--credentials-stdin: {host!r} needs non-empty "username" and "accessToken" strings')
            out[host] = Credential(entry["username"], entry["accessToken"])
            continue
        if ask is not None:
            user = ask(f"{host} username (for {up.secret})", False)
            token = ask(f"{host} access token", True)
            if not user or not token:
                raise ConfigError(f"{host}: an empty username or access token was entered")
            out[host] = Credential(user, token)
            continue
        raise ConfigError(
            f"{host} needs credentials for secret {up.secret}: set ${up.username_env} and ${up.token_env}, "
            f"pipe them with --credentials-stdin, or run in a terminal to be prompted"
        )
    return out


class ApplyStopped(ServiceError):
    """A change failed midway: what was done, what failed and what was not done.

    Every change is judged from the account's state, so re-running ``apply`` does what is left.
    """

    def __init__(self, done: list[Change], failed: Change, error: ImagemirrorError, remaining: list[Change]):
        self.done, self.failed, self.error, self.remaining = done, failed, error, remaining
        self.exit_code = error.exit_code
        super().__init__(f"{failed.action} {failed.kind} {failed.name} failed: {error}")

    def report(self) -> list[str]:
        lines = [f"imagemirror: apply stopped: {self}"]
        lines.append(f"imagemirror: done ({len(self.done)}): " + (", ".join(_label(c) for c in self.done) or "nothing"))
        lines.append(
            f"imagemirror: not done ({len(self.remaining) + 1}): "
            + ", ".join(_label(c) for c in [self.failed, *self.remaining])
        )
        lines.append(
            "imagemirror: fix the cause and run `imagemirror ecr apply` again: it plans from the account's state and does what is left"
        )
        return lines


def _label(c: Change) -> str:
    return f"{c.action} {c.kind} {c.name}"


def execute(
    client: AwsClient,
    changes: list[Change],
    observed: Observed,
    credentials: dict[str, Credential],
    progress: Callable[[str], None] = lambda line: None,
) -> list[Change]:
    """Apply ``changes`` in a safe order; returns them in the order they were made.

    Raises :class:`ApplyStopped` when one fails, naming what was and was not done.
    """
    arns = {name: s["ARN"] for name, s in observed.secrets.items()}
    done: list[Change] = []
    todo = ordered(changes)
    for i, change in enumerate(todo):
        progress(f"{_ING[change.action]} {change.kind} {change.name}")
        try:
            _one(client, change, arns, credentials)
        except ImagemirrorError as exc:
            raise ApplyStopped(done, change, exc, todo[i + 1 :]) from None
        done.append(change)
    return done


_ING = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}


def _one(client: AwsClient, change: Change, arns: dict[str, str], credentials: dict[str, Credential]) -> None:
    spec, kind, action = change.spec, change.kind, change.action
    if kind == "secret":
        if action == "create":
            arns[spec["name"]] = client.create_secret(
                spec["name"],
                credentials[spec["host"]],
                _TAGS,
                f"imagemirror: ECR pull-through cache credentials for {spec['host']}",
            )
        elif action == "update":
            client.put_secret_value(spec["name"], credentials[spec["host"]])
        else:
            client.delete_secret(spec["name"])
    elif kind == "rule":
        if action == "delete":
            client.delete_rule(spec["ecrRepositoryPrefix"])
            return
        arn = arns.get(spec["secret"]) if spec.get("secret") else None
        if spec.get("secret") and arn is None:
            raise ConfigError(f"rule {change.name}: secret {spec['secret']} does not exist (run apply to create it)")
        role = spec.get("customRoleArn")
        if action == "update":
            client.update_rule(spec["ecrRepositoryPrefix"], arn, role)
            return
        if action == "replace":
            client.delete_rule(spec["old_prefix"])
        client.create_rule(
            spec["ecrRepositoryPrefix"],
            spec["upstreamRegistry"],
            spec["upstreamRegistryUrl"],
            arn,
            role,
            upstream_prefix=spec.get("upstreamRepositoryPrefix"),
        )
    elif kind == "template":
        if action == "delete":
            client.delete_template(spec["prefix"])
        else:
            client.put_template(spec, exists=action == "update")
    elif kind in ("repository", "cached-repository"):
        if action == "delete":
            client.delete_repository(spec["name"], force=spec.get("force", False))
        elif action == "create":
            client.create_repository(spec["name"], spec["scanOnPush"], _TAGS)
            client.put_lifecycle_policy(spec["name"], spec["lifecyclePolicy"])
        else:
            if "scanOnPush" in spec["fields"]:
                client.put_scan_on_push(spec["name"], spec["scanOnPush"])
            if "lifecyclePolicy" in spec["fields"]:
                client.put_lifecycle_policy(spec["name"], spec["lifecyclePolicy"])
    elif kind == "registry-policy":
        client.put_registry_policy(spec["document"])
    elif kind == "iam-policy":
        if action == "create":
            client.create_policy(spec["name"], spec["document"], {**_TAGS, REGIONS_TAG: " ".join(spec["regions"])})
        elif action == "update":
            if spec.get("document") is not None:
                client.update_policy(spec["arn"], spec["document"])
            client.tag_policy(spec["arn"], {REGIONS_TAG: " ".join(spec["regions"])})
        else:
            client.delete_policy(spec["arn"])
    else:  # pragma: no cover -- plan only makes the kinds above
        raise AssertionError(kind)
