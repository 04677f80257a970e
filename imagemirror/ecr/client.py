"""The one wrapper around boto3: every AWS call imagemirror makes goes through :class:`AwsClient`.

* "Not found" answers become plain values (None, empty lists), never exceptions.
* Every other failure -- botocore ``ClientError``, no endpoint, no credentials, no region --
  becomes :class:`imagemirror.errors.ServiceError` with one clear line (exit code 4).
* Secret values are passed in as :class:`Credential` objects, are only ever placed in the
  ``SecretString`` of a Secrets Manager request, and are scrubbed from any error message.
  Debug logging names operations and parameter *names*, never values; botocore's own loggers
  are never set to DEBUG by imagemirror (their wire logs would contain request bodies).

* Every call is bounded: in time by a wall clock (``call_deadline``, retries included: an
  endpoint that drip-feeds its answer, or never finishes it, cannot hold a command), in size by
  :data:`MAX_ANSWER_BYTES` (botocore would read any answer whole into memory).

The endpoint is injectable (``endpoint_url``, else boto3 honours ``AWS_ENDPOINT_URL``), and so
is the boto3 session.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

from ..errors import ServiceError

log = logging.getLogger("imagemirror.ecr")

_NOT_FOUND = {
    "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException",
    "RegistryPolicyNotFoundException",
    "PullThroughCacheRuleNotFoundException",
    "TemplateNotFoundException",
    "ResourceNotFoundException",
    "NoSuchEntity",
}


#: every AWS call, its retries included, ends within this many seconds (a wall clock)
CALL_DEADLINE = 60.0
#: the largest answer read from an AWS endpoint (ECR's, STS's and IAM's are kilobytes)
MAX_ANSWER_BYTES = 32 << 20
_CHUNK = 64 << 10

T = TypeVar("T")


class _Expired(Exception):
    """Raised in place of a request once its call's deadline passed (botocore does not retry it)."""


class _TooLarge(Exception):
    """An answer larger than :data:`MAX_ANSWER_BYTES` (botocore does not retry it)."""


class _Call:
    """The HTTP responses of one bounded AWS call: shut when its deadline passes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.responses: list = []
        self.expired = False

    def add(self, raw: Any) -> None:
        with self.lock:
            self.responses.append(raw)
            expired = self.expired
        if expired:
            _shut(raw)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            responses = list(self.responses)
        for raw in responses:
            _shut(raw)


def _shut(raw: Any) -> None:
    """Shut the socket under a urllib3 response (a read blocked on it returns at once)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError, ValueError):
        pass


class Credential:
    """An upstream registry credential.  Its repr never shows the values."""

    __slots__ = ("_username", "_token")

    def __init__(self, username: str, token: str):
        self._username = username
        self._token = token

    def secret_string(self) -> str:
        return json.dumps({"username": self._username, "accessToken": self._token})

    def values(self) -> tuple[str, str]:
        return (self._username, self._token)

    def __repr__(self) -> str:
        return "Credential(username=***, accessToken=***)"

    __str__ = __repr__


class AwsClient:
    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        *,
        call_deadline: float | None = None,
        until: float | None = None,
    ):
        """``call_deadline``: seconds each call may take, retries included (default
        :data:`CALL_DEADLINE`); ``until``: a ``time.monotonic()`` no call runs past (a run's
        deadline, e.g. ``warm --deadline`` fetching an ECR token)."""
        self.session = session if session is not None else _new_session()
        self.region = region or self.session.region_name
        self.endpoint_url = endpoint_url
        self.call_deadline = CALL_DEADLINE if call_deadline is None else call_deadline
        self.until = until
        self._local = threading.local()
        self._clients: dict[str, Any] = {}
        self._tokens: list[str] = []  # always masked (whole occurrences)
        self._names: list[str] = []  # usernames: masked when long enough to be secret

    # ------------------------------------------------------------ plumbing

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard"},  # attempts: AWS_MAX_ATTEMPTS (default 3)
                connect_timeout=5,
                read_timeout=30,
                user_agent_extra="imagemirror",
            )
            try:
                self._clients[service] = self.session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
            except Exception as exc:  # NoRegionError, unknown endpoint, bad profile
                raise ServiceError(f"AWS {service}: {self._scrub(str(exc))}") from None
            self._bound_reads(self._clients[service])
        return self._clients[service]

    def _bound_reads(self, client: Any) -> None:
        """Wrap the client's HTTP session so that every answer is read here: at most
        :data:`MAX_ANSWER_BYTES`, and its socket known to the call's deadline (see
        :meth:`_bounded`).  botocore's own reading (``AWSResponse.content``) has no cap."""
        http = getattr(getattr(client, "_endpoint", None), "http_session", None)
        send = getattr(http, "send", None)
        if send is None:  # not botocore's URLLib3Session: left as it is
            return
        local = self._local

        def bounded_send(request: Any) -> Any:
            call = getattr(local, "call", None)
            if call is not None and call.expired:
                raise _Expired()
            wanted = getattr(request, "stream_output", False)
            request.stream_output = True  # the body is read below, not by botocore
            try:
                response = send(request)
            finally:
                request.stream_output = wanted
            if call is not None:
                call.add(response.raw)
            if not wanted:
                response._content = _read_capped(response.raw, request)
            if call is not None and call.expired:
                raise _Expired()  # a socket shut at the deadline ends a body early
            return response

        http.send = bounded_send

    def _bounded(self, func: Callable[[], T]) -> T:
        """``func()`` (one botocore call, its retries included) on a thread of its own, waited
        for until ``call_deadline``; then its sockets are shut and :class:`_Expired` raised."""
        wait = self.call_deadline
        if self.until is not None:
            wait = min(wait, self.until - time.monotonic())
            if wait <= 0:
                raise _Expired("deadline exceeded")
        call = _Call()
        outcome: list = []
        done = threading.Event()
        local = self._local

        def run() -> None:
            local.call = call
            try:
                outcome.append((True, func()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                outcome.append((False, exc))
            finally:
                local.call = None
                done.set()

        # a daemon thread: one blocked on an endpoint that never answers ends with the process
        threading.Thread(target=run, name="aws-call", daemon=True).start()
        if not done.wait(wait):
            call.expire()
            raise _Expired("deadline exceeded" if wait < self.call_deadline else "")
        ok, value = outcome[0]
        if ok:
            return value
        if call.expired:
            raise _Expired()
        raise value

    def _scrub(self, text: str) -> str:
        """One line with every secret masked (see :func:`scrub`), AWS's own keys included."""
        return scrub(text, tokens=[*self._tokens, *_aws_secrets(self.session)], names=self._names)

    def _remember(self, credential: Credential) -> None:
        user, token = credential.values()
        self._names.append(user)
        self._tokens.append(token)

    def _error(self, service: str, client: Any, operation: str, exc: Exception) -> ServiceError:
        """One line for a failed call; never the response body of an endpoint that is not AWS."""
        from botocore.exceptions import ClientError
        from botocore.parsers import ResponseParserError

        where = f"AWS {service} {_op_name(client, operation)}"
        if isinstance(exc, _Expired) and str(exc):
            return ServiceError(f"{where}: {exc}")
        if isinstance(exc, _Expired):
            return ServiceError(
                f"{where}: no complete answer within {self.call_deadline:g} s (the endpoint is too slow "
                "or never finishes its answer); check --endpoint-url / AWS_ENDPOINT_URL and any proxy"
            )
        if isinstance(exc, _TooLarge):
            return ServiceError(
                f"{where}: the endpoint's answer is larger than {MAX_ANSWER_BYTES >> 20} MiB (not an AWS "
                "response); check --endpoint-url / AWS_ENDPOINT_URL and any proxy"
            )
        if isinstance(exc, ResponseParserError):
            # botocore's message quotes the whole body, and a proxy's page may echo the request
            # (its signature, X-Amz-Security-Token): say what happened, quote nothing.
            return ServiceError(
                f"{where}: the endpoint did not answer like AWS (not an AWS response); "
                "check --endpoint-url / AWS_ENDPOINT_URL and any proxy"
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {}) or {}
            code = str(error.get("Code") or "Error")
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code.isdigit() or not _CODE.match(code):
                # No AWS error code: a page from something else (a proxy, a captive portal).
                return ServiceError(
                    f"{where}: the endpoint answered HTTP {status or code} without an AWS error; "
                    "check --endpoint-url / AWS_ENDPOINT_URL and any proxy"
                )
            message = self._scrub(str(error.get("Message") or ""))
            return ServiceError(f"{where}: {code}: {_clip(message)}" if message else f"{where}: {code}")
        return ServiceError(f"{where}: {_clip(self._scrub(str(exc)))}")

    def _call(self, service: str, operation: str, *, missing: bool = False, **params: Any) -> Any:
        """Call ``operation``; return None for a not-found answer when ``missing``."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        log.debug("%s.%s(%s)", service, operation, ", ".join(sorted(params)))
        client = self._client(service)
        try:
            return self._bounded(lambda: getattr(client, operation)(**params))
        except ClientError as exc:
            if missing and (exc.response.get("Error", {}) or {}).get("Code") in _NOT_FOUND:
                return None
            raise self._error(service, client, operation, exc) from None
        except (BotoCoreError, ResponseParserError, _Expired, _TooLarge) as exc:  # no endpoint, not AWS ...
            raise self._error(service, client, operation, exc) from None

    def _pages(self, service: str, operation: str, key: str, **params: Any) -> Iterator[dict]:
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        log.debug("%s.%s(%s) [paginated]", service, operation, ", ".join(sorted(params)))
        client = self._client(service)
        config = params.pop("PaginationConfig", None)
        try:
            pages = iter(
                client.get_paginator(operation).paginate(**params, **({"PaginationConfig": config} if config else {}))
            )
            end = object()
            while True:
                page = self._bounded(lambda: next(pages, end))  # each page its own call
                if page is end:
                    return
                yield from page.get(key, [])
        except (ClientError, BotoCoreError, ResponseParserError, _Expired, _TooLarge) as exc:
            raise self._error(service, client, operation, exc) from None

    # ------------------------------------------------------------ STS

    def account_id(self) -> str:
        return self.identity()[0]

    def identity(self) -> tuple[str, str]:
        """``(account, partition)`` of the caller, from STS ``GetCallerIdentity``."""
        found = self._call("sts", "get_caller_identity")
        arn = str(found.get("Arn") or "")
        partition = arn.split(":")[1] if arn.count(":") >= 5 else "aws"
        return found["Account"], partition or "aws"

    def authorization_token(self, registry_id: str) -> tuple[str, str]:
        """``(user, password)`` for a registry's Docker login (``get_authorization_token``,
        valid 12 hours); the password is scrubbed from every later error message."""
        reply = self._call("ecr", "get_authorization_token", registryIds=[registry_id])
        try:
            token = reply["authorizationData"][0]["authorizationToken"]
            user, sep, password = base64.b64decode(token).decode().partition(":")
        except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError):
            raise ServiceError("AWS ecr GetAuthorizationToken: the answer holds no token") from None
        if not sep:
            raise ServiceError("AWS ecr GetAuthorizationToken: the token is not user:password")
        self._tokens.extend((token, password))
        return user, password

    # ------------------------------------------------------------ pull-through cache rules

    def rules(self) -> dict[str, dict]:
        return {
            r["ecrRepositoryPrefix"]: r
            for r in self._pages("ecr", "describe_pull_through_cache_rules", "pullThroughCacheRules")
        }

    def create_rule(
        self,
        prefix: str,
        registry: str,
        url: str,
        credential_arn: str | None,
        role: str | None = None,
        upstream_prefix: str | None = None,
    ) -> dict:
        params: dict[str, Any] = {
            "ecrRepositoryPrefix": prefix,
            "upstreamRegistry": registry,
            "upstreamRegistryUrl": url,
        }
        if credential_arn:
            params["credentialArn"] = credential_arn
        if role:
            params["customRoleArn"] = role
        if upstream_prefix:
            params["upstreamRepositoryPrefix"] = upstream_prefix
        return self._call("ecr", "create_pull_through_cache_rule", **params)

    def update_rule(self, prefix: str, credential_arn: str | None, role: str | None = None) -> dict:
        params: dict[str, Any] = {"ecrRepositoryPrefix": prefix}
        if credential_arn:
            params["credentialArn"] = credential_arn
        if role:
            params["customRoleArn"] = role
        return self._call("ecr", "update_pull_through_cache_rule", **params)

    def delete_rule(self, prefix: str) -> dict | None:
        return self._call("ecr", "delete_pull_through_cache_rule", missing=True, ecrRepositoryPrefix=prefix)

    def validate_rule(self, prefix: str) -> dict | None:
        return self._call("ecr", "validate_pull_through_cache_rule", missing=True, ecrRepositoryPrefix=prefix)

    # ------------------------------------------------------------ repository creation templates

    def templates(self) -> dict[str, dict]:
        return {
            t["prefix"]: t
            for t in self._pages("ecr", "describe_repository_creation_templates", "repositoryCreationTemplates")
        }

    def put_template(self, template: dict, *, exists: bool) -> dict:
        op = "update_repository_creation_template" if exists else "create_repository_creation_template"
        return self._call("ecr", op, **template)

    def delete_template(self, prefix: str) -> dict | None:
        return self._call("ecr", "delete_repository_creation_template", missing=True, prefix=prefix)

    # ------------------------------------------------------------ repositories

    def repository(self, name: str) -> dict | None:
        """A repository's state: scanOnPush, lifecyclePolicy (text), Tags (dict), images; or None."""
        found = self._call("ecr", "describe_repositories", missing=True, repositoryNames=[name])
        if not found or not found.get("repositories"):
            return None
        repo = found["repositories"][0]
        tags = self._call("ecr", "list_tags_for_resource", resourceArn=repo["repositoryArn"]).get("tags", [])
        policy = self._call("ecr", "get_lifecycle_policy", missing=True, repositoryName=name)
        return {
            "arn": repo["repositoryArn"],
            "scanOnPush": (repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False),
            "imageTagMutability": repo.get("imageTagMutability"),
            "lifecyclePolicy": (policy or {}).get("lifecyclePolicyText"),
            "Tags": {t["Key"]: t["Value"] for t in tags},
            "images": self.image_count(name),
        }

    def image_count(self, name: str) -> int:
        return sum(1 for _ in self._pages("ecr", "list_images", "imageIds", repositoryName=name))

    def repository_names(self) -> list[str]:
        return [r["repositoryName"] for r in self._pages("ecr", "describe_repositories", "repositories")]

    def images(self, name: str) -> Iterator[dict]:
        """``DescribeImages`` of one repository, every page (1000 images a page)."""
        return self._pages(
            "ecr", "describe_images", "imageDetails", repositoryName=name, PaginationConfig={"PageSize": 1000}
        )

    def tagged_repository_names(self, names: list[str]) -> list[str]:
        """Which of ``names`` exist and carry the managed-by=imagemirror tag."""
        out = []
        for name in names:
            found = self._call("ecr", "describe_repositories", missing=True, repositoryNames=[name])
            for repo in (found or {}).get("repositories", []):
                tags = self._call("ecr", "list_tags_for_resource", resourceArn=repo["repositoryArn"]).get("tags", [])
                if any(t["Key"] == "managed-by" and t["Value"] == "imagemirror" for t in tags):
                    out.append(name)
        return out

    def create_repository(self, name: str, scan_on_push: bool, tags: dict[str, str]) -> dict:
        return self._call(
            "ecr",
            "create_repository",
            repositoryName=name,
            imageTagMutability="MUTABLE",
            imageScanningConfiguration={"scanOnPush": scan_on_push},
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    def put_scan_on_push(self, name: str, scan_on_push: bool) -> None:
        self._call(
            "ecr",
            "put_image_scanning_configuration",
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": scan_on_push},
        )

    def put_lifecycle_policy(self, name: str, text: str) -> None:
        self._call("ecr", "put_lifecycle_policy", repositoryName=name, lifecyclePolicyText=text)

    def delete_repository(self, name: str, force: bool) -> None:
        self._call("ecr", "delete_repository", missing=True, repositoryName=name, force=force)

    # ------------------------------------------------------------ registry policy

    def registry_policy(self) -> dict | None:
        found = self._call("ecr", "get_registry_policy", missing=True)
        if not found or not found.get("policyText"):
            return None
        return json.loads(found["policyText"])

    def put_registry_policy(self, document: dict | None) -> None:
        if document is None:
            self._call("ecr", "delete_registry_policy", missing=True)
        else:
            self._call("ecr", "put_registry_policy", policyText=json.dumps(document))

    # ------------------------------------------------------------ Secrets Manager

    def secrets(self, name_prefix: str, deleted: set[str] | None = None) -> dict[str, dict]:
        """Secrets whose name starts with ``name_prefix``: name -> {"ARN", "Tags"}.

        Names pending deletion are left out, and added to ``deleted`` when given.
        """
        out = {}
        params: dict[str, Any] = {"Filters": [{"Key": "name", "Values": [name_prefix]}]}
        if deleted is not None:
            params["IncludePlannedDeletion"] = True
        for s in self._pages("secretsmanager", "list_secrets", "SecretList", **params):
            if not s["Name"].startswith(name_prefix):
                continue
            if s.get("DeletedDate"):
                if deleted is not None:
                    deleted.add(s["Name"])
                continue
            out[s["Name"]] = {"ARN": s["ARN"], "Tags": {t["Key"]: t["Value"] for t in s.get("Tags") or []}}
        return out

    def create_secret(self, name: str, credential: Credential, tags: dict[str, str], description: str) -> str:
        self._remember(credential)
        return self._call(
            "secretsmanager",
            "create_secret",
            Name=name,
            Description=description,
            SecretString=credential.secret_string(),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["ARN"]

    def put_secret_value(self, name: str, credential: Credential) -> None:
        self._remember(credential)
        self._call("secretsmanager", "put_secret_value", SecretId=name, SecretString=credential.secret_string())

    def delete_secret(self, name: str) -> None:
        # Without recovery: a managed secret is re-created from the environment when needed,
        # and a pending deletion would block re-creating the same name.
        self._call("secretsmanager", "delete_secret", missing=True, SecretId=name, ForceDeleteWithoutRecovery=True)

    # ------------------------------------------------------------ IAM

    def policy(self, arn: str) -> dict | None:
        found = self._call("iam", "get_policy", missing=True, PolicyArn=arn)
        if found is None:
            return None
        pol = found["Policy"]
        version = self._call("iam", "get_policy_version", PolicyArn=arn, VersionId=pol["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        if isinstance(document, str):  # URL-encoded JSON on some endpoints
            from urllib.parse import unquote

            document = json.loads(unquote(document))
        tags = pol.get("Tags")
        if tags is None:
            tags = self._call("iam", "list_policy_tags", PolicyArn=arn).get("Tags", [])
        return {
            "Arn": arn,
            "Document": document,
            "Tags": {t["Key"]: t["Value"] for t in tags},
            "AttachmentCount": pol.get("AttachmentCount", 0),
        }

    def create_policy(self, name: str, document: dict, tags: dict[str, str]) -> str:
        return self._call(
            "iam",
            "create_policy",
            PolicyName=name,
            PolicyDocument=json.dumps(document),
            Description="imagemirror: least-privilege ECR push for CI",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["Policy"]["Arn"]

    def update_policy(self, arn: str, document: dict) -> None:
        versions = self._call("iam", "list_policy_versions", PolicyArn=arn)["Versions"]
        old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        if len(versions) >= 5 and old:  # IAM keeps at most five versions
            self._call("iam", "delete_policy_version", PolicyArn=arn, VersionId=old[0]["VersionId"])
        self._call(
            "iam", "create_policy_version", PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
        )

    def tag_policy(self, arn: str, tags: dict[str, str]) -> None:
        self._call("iam", "tag_policy", PolicyArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def delete_policy(self, arn: str) -> None:
        versions = self._call("iam", "list_policy_versions", missing=True, PolicyArn=arn)
        for v in (versions or {}).get("Versions", []):
            if not v["IsDefaultVersion"]:
                self._call("iam", "delete_policy_version", PolicyArn=arn, VersionId=v["VersionId"])
        self._call("iam", "delete_policy", missing=True, PolicyArn=arn)

    def role_exists(self, name: str) -> bool:
        return self._call("iam", "get_role", missing=True, RoleName=name) is not None

    def role_trust(self, name: str) -> dict | None:
        """A role's trust policy document, or None when the role does not exist."""
        found = self._call("iam", "get_role", missing=True, RoleName=name)
        if found is None:
            return None
        doc = found["Role"].get("AssumeRolePolicyDocument") or {}
        if isinstance(doc, str):
            from urllib.parse import unquote

            doc = json.loads(unquote(doc))
        return doc

    def in_region(self, region: str) -> AwsClient:
        """A client for another Region, same session and endpoint (for global resources)."""
        other = AwsClient(
            region=region,
            endpoint_url=self.endpoint_url,
            session=self.session,
            call_deadline=self.call_deadline,
            until=self.until,
        )
        other._tokens, other._names = self._tokens, self._names
        return other

    def role_policies(self, name: str) -> list[dict]:
        """Identity policy documents of a role (attached managed and inline)."""
        docs = []
        for p in self._pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            found = self.policy(p["PolicyArn"])
            if found:
                docs.append(found["Document"])
        for pname in self._pages("iam", "list_role_policies", "PolicyNames", RoleName=name):
            doc = self._call("iam", "get_role_policy", RoleName=name, PolicyName=pname)["PolicyDocument"]
            if isinstance(doc, str):
                from urllib.parse import unquote

                doc = json.loads(unquote(doc))
            docs.append(doc)
        return docs


def _read_capped(raw: Any, request: Any) -> bytes:
    """An answer's body, at most :data:`MAX_ANSWER_BYTES`; read errors as botocore names them."""
    from botocore.exceptions import ConnectionClosedError, HTTPClientError, ReadTimeoutError
    from urllib3.exceptions import ProtocolError
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    chunks, total = [], 0
    try:
        for chunk in raw.stream(_CHUNK):
            total += len(chunk)
            if total > MAX_ANSWER_BYTES:
                raw.close()
                raise _TooLarge()
            chunks.append(chunk)
    except Urllib3ReadTimeout as exc:
        raise ReadTimeoutError(endpoint_url=request.url, error=exc) from None
    except ProtocolError as exc:
        raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from None
    except (_TooLarge, _Expired):
        raise
    except Exception as exc:  # noqa: BLE001 - as botocore's own send does
        raise HTTPClientError(error=exc) from None
    return b"".join(chunks)


_CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]*\Z")
MIN_SECRET = 8  # a username shorter than this is no secret, and masking it would cut words


def scrub(text: str, tokens: list[str] = (), names: list[str] = ()) -> str:
    """``text`` on one line with credential values masked as ``***``.

    Only *whole* occurrences are masked -- a value with a letter or digit right before or after
    it is part of another word and left alone, so "Invalid parameter" survives a username "me".
    Tokens are always masked; usernames only from :data:`MIN_SECRET` characters (a one-letter or
    common-word username is no secret, and masking it would both damage the message and, by the
    gaps it leaves, reveal it).
    """
    values = [t for t in tokens if t] + [n for n in names if n and len(n) >= MIN_SECRET]
    for value in sorted(set(values), key=len, reverse=True):
        text = re.sub(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", "***", text)
    return " ".join(text.split())


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _aws_secrets(session: Any) -> list[str]:
    """The caller's own AWS secret key and session token (never printed either)."""
    import os

    out = [os.environ.get("AWS_SECRET_ACCESS_KEY", ""), os.environ.get("AWS_SESSION_TOKEN", "")]
    # Only credentials already resolved: resolving them here could probe the instance metadata.
    creds = getattr(getattr(session, "_session", None), "_credentials", None)
    if creds is not None:
        out += [getattr(creds, "secret_key", "") or "", getattr(creds, "token", "") or ""]
    return [v for v in out if v]


_LOADER: Any = None


def _new_session() -> Any:
    """A fresh boto3 session (fresh credentials and config) sharing one service-model loader,
    so several sessions in one process parse botocore's JSON models once."""
    import boto3
    import botocore.session

    global _LOADER
    core = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


def _op_name(client: Any, operation: str) -> str:
    try:
        return client.meta.method_to_api_mapping.get(operation, operation)
    except AttributeError:
        return operation
