"""TEST-SIDE EXTENSION OF MOTO -- not part of imagemirror.

moto 5.2.x implements ECR repositories, lifecycle and registry policies, tags, Secrets Manager,
IAM and STS, but not two ECR APIs that ``imagemirror ecr`` drives:

* pull-through cache rules: Create / Describe / Update / Delete / ValidatePullThroughCacheRule;
* repository creation templates: Create / Describe / Update / DeleteRepositoryCreationTemplate.

This module adds them to moto's ECR backend and response classes, in the test process, before
a real ``moto.server.ThreadedMotoServer`` is started (that server runs in-process, so the
patched classes serve its HTTP requests).  Requests and responses follow the botocore service
model's shapes (moto serialises results through that model); the errors are the ones the model
documents for each operation (``PullThroughCacheRuleAlreadyExistsException``,
``PullThroughCacheRuleNotFoundException``, ``SecretNotFoundException``,
``UnsupportedUpstreamRegistryException``, ``LimitExceededException``,
``TemplateAlreadyExistsException``, ``TemplateNotFoundException``, ...).

It also changes what moto has, where moto departs from the model or lacks what tests need:

* ``DescribeImages`` is paginated (``maxResults`` 1..1000, ``nextToken``; moto returns every
  image at once), ``imageSizeInBytes`` is the sum of the manifest's layer sizes (moto returns
  the *config* blob's size; for a manifest list the model says "the max size of all manifests
  in the list", emulated as the largest child present), and ``lastRecordedPullTime`` is set
  when ``BatchGetImage`` returns an image (moto never sets it).  :func:`seed_images` puts many
  images straight into the backend (moto's PutImage is quadratic in a repository's size), with
  sizes and pull times chosen by the test.
* ``upstreamRegistry: ecr`` (ECR to ECR): the URL must be ``<account>.dkr.ecr.<region>.amazonaws.com``
  in the caller's partition, and ``customRoleArn`` must be a role ARN in the registry's account
  (the model: "must be in the same account as the registry that you are configuring").
* IAM AccessDenied: :func:`deny` makes the server refuse named actions (``"iam:CreatePolicy"``,
  ``"ecr:CreatePullThroughCacheRule"``) as AWS refuses a principal without the permission:
  ``AccessDenied`` (HTTP 403) for the query protocols, ``AccessDeniedException`` for JSON ones.
  moto's own IAM enforcement (``INITIAL_NO_AUTH_ACTION_COUNT``) needs real users and policies
  for every call, which these tests do not set up.
* Partitions: moto already derives ARNs from the Region (``arn:aws-us-gov:...`` in GovCloud);
  the extension keeps its own ARNs (secrets in rules) in the caller's partition.  imagemirror
  refuses the China Regions before any request, so the emulator has nothing to answer there.
* The 50-rule quota: ``LimitExceededException`` on the 51st ``CreatePullThroughCacheRule``.
* ``upstreamRepositoryPrefix``: the model's pattern and length (2-30, or ``ROOT``, the default),
  stored without its trailing ``/``, and refused with ``ecrRepositoryPrefix: ROOT`` (the User
  Guide's wildcard page).  Whether AWS accepts it for non-ECR upstreams is not documented, so
  the emulator does not decide it (imagemirror never sends it for them).

Honest limits of the emulation:

* ``ValidatePullThroughCacheRule`` checks what can be checked offline -- the secret exists in
  the same account and Region and holds ``{"username", "accessToken"}`` -- and cannot test the
  credentials against the real upstream.
* The error code for an authenticated upstream created without ``credentialArn`` is not
  documented; this emulator answers ``InvalidParameterException``.
* moto's registry-policy validator accepts only ``ecr:CreateRepository`` and
  ``ecr:ReplicateImage``; the ECR User Guide's pull-through cache example grants
  ``ecr:BatchImportUpstreamImage`` in the registry policy too, so it is allowed here.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, UTC
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.exceptions import InvalidParameterException
from moto.ecr.models import ECRBackend, ecr_backends
from moto.ecr.responses import ECRResponse

RULE_QUOTA = 50
_PREFIX = re.compile(r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$")
_CREDENTIAL_ARN = re.compile(
    r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$"
)
# upstreamRegistry enum -> a test for upstreamRegistryUrl (ECR User Guide, "pull through cache").
_UPSTREAM_URL = {
    "ecr-public": lambda u: u == "public.ecr.aws",
    "k8s": lambda u: u == "registry.k8s.io",
    "quay": lambda u: u == "quay.io",
    "docker-hub": lambda u: u == "registry-1.docker.io",
    "github-container-registry": lambda u: u == "ghcr.io",
    "gitlab-container-registry": lambda u: u == "registry.gitlab.com",
    "azure-container-registry": lambda u: re.fullmatch(r"[a-z0-9]+\.azurecr\.io", u) is not None,
    "chainguard": lambda u: u == "cgr.dev",
    "ecr": lambda u: re.fullmatch(r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com", u) is not None,
}
_NEEDS_SECRET = {
    "docker-hub",
    "github-container-registry",
    "gitlab-container-registry",
    "azure-container-registry",
    "chainguard",
}


def _model_enum(shape: str) -> list[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecr")
    return list(model.shape_for(shape).enum)


class PullThroughCacheRuleAlreadyExistsException(ServiceException):
    code = "PullThroughCacheRuleAlreadyExistsException"


class PullThroughCacheRuleNotFoundException(ServiceException):
    code = "PullThroughCacheRuleNotFoundException"


class UnsupportedUpstreamRegistryException(ServiceException):
    code = "UnsupportedUpstreamRegistryException"


class SecretNotFoundException(ServiceException):
    code = "SecretNotFoundException"


class RuleLimitExceededException(ServiceException):
    code = "LimitExceededException"


class TemplateAlreadyExistsException(ServiceException):
    code = "TemplateAlreadyExistsException"


class TemplateNotFoundException(ServiceException):
    code = "TemplateNotFoundException"


# moto looks up an exception's service model from its module name ("moto.<service>...") to
# serialise it with the model's error shape (HTTP 400, __type); these are ECR errors.
for _exc in (
    PullThroughCacheRuleAlreadyExistsException,
    PullThroughCacheRuleNotFoundException,
    UnsupportedUpstreamRegistryException,
    SecretNotFoundException,
    RuleLimitExceededException,
    TemplateAlreadyExistsException,
    TemplateNotFoundException,
):
    _exc.__module__ = "moto.ecr.exceptions"


def _now() -> datetime:
    return datetime.now(UTC)


def _rules(backend: ECRBackend) -> dict[str, dict[str, Any]]:
    # Kept in the backend's __dict__ so moto's reset (which rebuilds __dict__) clears it.
    return backend.__dict__.setdefault("pull_through_cache_rules", {})


def _templates(backend: ECRBackend) -> dict[str, dict[str, Any]]:
    return backend.__dict__.setdefault("repository_creation_templates", {})


def _bad(param: str, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid parameter at '{param}' failed to satisfy constraint: '{constraint}'")


def _check_prefix(prefix: Any, param: str, max_len: int) -> str:
    if not isinstance(prefix, str) or not (2 <= len(prefix) <= max_len or prefix == "ROOT"):
        raise _bad(param, f"Member must have length between 2 and {max_len}")
    if not _PREFIX.match(prefix):
        raise _bad(param, "Member must satisfy regular expression pattern")
    return prefix.rstrip("/") if prefix != "ROOT" else prefix


def _secret(backend: ECRBackend, arn: str) -> dict[str, Any] | None:
    """The secret's JSON value, or None when it does not exist (same account and Region)."""
    from moto.secretsmanager.models import secretsmanager_backends

    sm = secretsmanager_backends[backend.account_id][backend.region_name]
    try:
        value = sm.get_secret_value(arn, None, None)
    except Exception:  # noqa: BLE001 -- moto raises its own not-found/invalid types
        return None
    try:
        data = json.loads(value.get("SecretString") or "")
    except (ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- pull-through cache rules


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def _check_ecr_upstream(backend: ECRBackend, url: str, role: str | None) -> None:
    m = re.fullmatch(r"([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com", url or "")
    if m is None:
        raise UnsupportedUpstreamRegistryException(f"The specified upstream registry {url!r} is not supported as 'ecr'")
    if _partition(m.group(2)) != _partition(backend.region_name):
        raise UnsupportedUpstreamRegistryException(
            f"The upstream registry {url!r} is in another partition; ECR to ECR works within one partition"
        )
    if (m.group(1), m.group(2)) == (backend.account_id, backend.region_name):
        raise _bad("upstreamRegistryUrl", "The upstream registry cannot be the registry itself")
    if role is not None:
        rm = re.fullmatch(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/[\w+=,.@/-]+", role)
        if rm is None or len(role) > 2048:
            raise _bad("customRoleArn", "Member must be an IAM role ARN")
        if rm.group(2) != backend.account_id:
            raise _bad("customRoleArn", "The role must be in the same account as the registry")


def _public_rule(rule: dict[str, Any], *keys: str) -> dict[str, Any]:
    out = {k: rule[k] for k in keys if rule.get(k) is not None}
    return out


_RULE_KEYS = (
    "ecrRepositoryPrefix",
    "upstreamRegistryUrl",
    "createdAt",
    "registryId",
    "credentialArn",
    "customRoleArn",
    "upstreamRepositoryPrefix",
    "upstreamRegistry",
    "updatedAt",
)


def create_pull_through_cache_rule(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    prefix = _check_prefix(self._get_param("ecrRepositoryPrefix"), "ecrRepositoryPrefix", 30)
    url = self._get_param("upstreamRegistryUrl")
    upstream = self._get_param("upstreamRegistry")
    credential_arn = self._get_param("credentialArn")
    if upstream is None:  # the User Guide's CLI examples omit it; ECR infers it from the URL
        upstream = next((k for k, ok in _UPSTREAM_URL.items() if ok(url or "")), None)
    if upstream not in _model_enum("UpstreamRegistry") or not _UPSTREAM_URL[upstream](url or ""):
        raise UnsupportedUpstreamRegistryException(
            f"The specified upstream registry {url!r} is not supported" + (f" as {upstream!r}" if upstream else "")
        )
    rules = _rules(backend)
    if prefix in rules:
        raise PullThroughCacheRuleAlreadyExistsException(
            f"A pull through cache rule with prefix '{prefix}' already exists "
            f"in the registry with id '{backend.account_id}'"
        )
    if len(rules) >= RULE_QUOTA:
        raise RuleLimitExceededException(
            f"The number of pull through cache rules in the registry exceeds the limit of {RULE_QUOTA}"
        )
    upstream_prefix = self._get_param("upstreamRepositoryPrefix")
    upstream_prefix = (
        "ROOT" if upstream_prefix is None else _check_prefix(upstream_prefix, "upstreamRepositoryPrefix", 30)
    )
    if upstream_prefix != "ROOT" and prefix == "ROOT":  # [DOC UG-WILD]
        raise _bad(
            "upstreamRepositoryPrefix", "upstreamRepositoryPrefix can only be set when ecrRepositoryPrefix is not ROOT"
        )
    role = self._get_param("customRoleArn")
    if upstream == "ecr":
        _check_ecr_upstream(backend, url, role)
    elif role is not None:
        raise _bad("customRoleArn", "customRoleArn is only used with an ECR upstream registry")
    if upstream in _NEEDS_SECRET and not credential_arn:
        raise _bad("credentialArn", f"A credentialArn is required for upstream registry '{upstream}'")
    if credential_arn is not None:
        if not _CREDENTIAL_ARN.match(credential_arn):
            raise _bad("credentialArn", "Member must satisfy regular expression pattern")
        if _secret(backend, credential_arn) is None:
            raise SecretNotFoundException(f"The secret '{credential_arn}' cannot be found")
    rule = {
        "ecrRepositoryPrefix": prefix,
        "upstreamRegistryUrl": url,
        "createdAt": _now(),
        "registryId": backend.account_id,
        "upstreamRegistry": upstream,
        "credentialArn": credential_arn,
        "customRoleArn": self._get_param("customRoleArn"),
        "upstreamRepositoryPrefix": upstream_prefix,
    }
    rules[prefix] = rule
    return ActionResult(_public_rule(rule, *[k for k in _RULE_KEYS if k != "updatedAt"]))


def _get_rule(backend: ECRBackend, prefix: Any) -> dict[str, Any]:
    rule = _rules(backend).get(prefix.rstrip("/") if isinstance(prefix, str) else prefix)
    if rule is None:
        raise PullThroughCacheRuleNotFoundException(
            f"The pull through cache rule with prefix '{prefix}' does not exist "
            f"in the registry with id '{backend.account_id}'"
        )
    return rule


def _page(self: ECRResponse, items: list[Any]) -> tuple[list[Any], str | None]:
    start = int(self._get_param("nextToken") or 0)
    size = int(self._get_param("maxResults") or 100)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def describe_pull_through_cache_rules(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    wanted = self._get_param("ecrRepositoryPrefixes")
    if wanted:
        found = [_get_rule(backend, p) for p in wanted]
    else:
        found = [r for _, r in sorted(_rules(backend).items())]
    page, token = _page(self, found)
    out: dict[str, Any] = {"pullThroughCacheRules": [_public_rule(r, *_RULE_KEYS) for r in page]}
    if token:
        out["nextToken"] = token
    return ActionResult(out)


def update_pull_through_cache_rule(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    rule = _get_rule(backend, self._get_param("ecrRepositoryPrefix"))
    credential_arn = self._get_param("credentialArn")
    if credential_arn is not None:
        if not _CREDENTIAL_ARN.match(credential_arn):
            raise _bad("credentialArn", "Member must satisfy regular expression pattern")
        if _secret(backend, credential_arn) is None:
            raise SecretNotFoundException(f"The secret '{credential_arn}' cannot be found")
        rule["credentialArn"] = credential_arn
    if self._get_param("customRoleArn") is not None:
        _check_ecr_upstream(backend, rule["upstreamRegistryUrl"], self._get_param("customRoleArn"))
        rule["customRoleArn"] = self._get_param("customRoleArn")
    rule["updatedAt"] = _now()
    return ActionResult(
        _public_rule(
            rule,
            "ecrRepositoryPrefix",
            "registryId",
            "updatedAt",
            "credentialArn",
            "customRoleArn",
            "upstreamRepositoryPrefix",
        )
    )


def delete_pull_through_cache_rule(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    rule = _get_rule(backend, self._get_param("ecrRepositoryPrefix"))
    del _rules(backend)[rule["ecrRepositoryPrefix"]]
    return ActionResult(
        _public_rule(
            rule,
            "ecrRepositoryPrefix",
            "upstreamRegistryUrl",
            "createdAt",
            "registryId",
            "credentialArn",
            "customRoleArn",
            "upstreamRepositoryPrefix",
        )
    )


def validate_pull_through_cache_rule(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    rule = _get_rule(backend, self._get_param("ecrRepositoryPrefix"))
    out = _public_rule(
        rule,
        "ecrRepositoryPrefix",
        "registryId",
        "upstreamRegistryUrl",
        "credentialArn",
        "customRoleArn",
        "upstreamRepositoryPrefix",
    )
    failure = None
    if rule.get("credentialArn"):
        value = _secret(backend, rule["credentialArn"])
        if value is None:
            failure = "The secret cannot be found or is not accessible"
        elif not {"username", "accessToken"} <= set(value):
            failure = "The secret does not contain the keys 'username' and 'accessToken'"
    out["isValid"] = failure is None
    if failure:
        out["failure"] = failure
    return ActionResult(out)


# ---------------------------------------------------------------- repository creation templates

_TEMPLATE_FIELDS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)


def _check_template(self: ECRResponse, template: dict[str, Any]) -> None:
    applied = template.get("appliedFor")
    allowed = set(_model_enum("RCTAppliedFor"))
    if not applied or not set(applied) <= allowed:
        raise _bad("appliedFor", f"Member must contain values from {sorted(allowed)}")
    mutability = template.get("imageTagMutability")
    if mutability is not None and mutability not in _model_enum("ImageTagMutability"):
        raise _bad("imageTagMutability", "Member must satisfy enum value set")
    for key in ("lifecyclePolicy", "repositoryPolicy"):
        if template.get(key):
            try:
                json.loads(template[key])
            except ValueError:
                raise _bad(key, "Member must be a valid JSON document") from None


def create_repository_creation_template(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    prefix = _check_prefix(self._get_param("prefix"), "prefix", 256)
    templates = _templates(backend)
    if prefix in templates:
        raise TemplateAlreadyExistsException(
            f"The repository creation template with prefix '{prefix}' already exists "
            f"in the registry with id '{backend.account_id}'"
        )
    template: dict[str, Any] = {"prefix": prefix}
    for key in _TEMPLATE_FIELDS:
        value = self._get_param(key)
        if value is not None:
            template[key] = value
    template.setdefault("imageTagMutability", "MUTABLE")
    template.setdefault("encryptionConfiguration", {"encryptionType": "AES256"})
    _check_template(self, template)
    template["createdAt"] = template["updatedAt"] = _now()
    templates[prefix] = template
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": template})


def _get_template(backend: ECRBackend, prefix: Any) -> dict[str, Any]:
    template = _templates(backend).get(prefix)
    if template is None:
        raise TemplateNotFoundException(
            f"The repository creation template with prefix '{prefix}' does not exist "
            f"in the registry with id '{backend.account_id}'"
        )
    return template


def describe_repository_creation_templates(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    wanted = self._get_param("prefixes")
    templates = _templates(backend)
    found = [templates[p] for p in sorted(templates) if not wanted or p in wanted]
    page, token = _page(self, found)
    out: dict[str, Any] = {"registryId": backend.account_id, "repositoryCreationTemplates": page}
    if token:
        out["nextToken"] = token
    return ActionResult(out)


def update_repository_creation_template(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    template = _get_template(backend, self._get_param("prefix"))
    changed = dict(template)
    for key in _TEMPLATE_FIELDS:
        value = self._get_param(key)
        if value is not None:
            changed[key] = value
    _check_template(self, changed)
    changed["updatedAt"] = _now()
    _templates(backend)[template["prefix"]] = changed
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": changed})


def delete_repository_creation_template(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    template = _get_template(backend, self._get_param("prefix"))
    del _templates(backend)[template["prefix"]]
    return ActionResult({"registryId": backend.account_id, "repositoryCreationTemplate": template})


# ---------------------------------------------------------------- registry policy

_REGISTRY_POLICY_ACTIONS = {"ecr:CreateRepository", "ecr:ReplicateImage", "ecr:BatchImportUpstreamImage"}


def _validate_registry_policy_action(self: ECRBackend, policy_text: str) -> None:
    from moto.iam.exceptions import MalformedPolicyDocument

    for statement in json.loads(policy_text)["Statement"]:
        action = statement["Action"]
        if set([action] if isinstance(action, str) else action) - _REGISTRY_POLICY_ACTIONS:
            raise MalformedPolicyDocument()


# ---------------------------------------------------------------- images: sizes, pulls, pages

_INDEX = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


def _image_size(image: Any) -> int | None:
    if "_size" in image.__dict__:
        return image.__dict__["_size"]
    try:
        manifest = json.loads(image.image_manifest)
    except ValueError:
        return None
    if "layers" in manifest:
        return sum(int(layer.get("size") or 0) for layer in manifest["layers"])
    if "manifests" in manifest:  # the model: "the max size of all manifests in the list"
        sizes = [int(m.get("size") or 0) for m in manifest["manifests"]]
        return max(sizes) if sizes else 0
    return None


def describe_images(self: ECRResponse) -> ActionResult:
    backend = self.ecr_backend
    images = list(
        backend.describe_images(
            self._get_param("repositoryName"), self._get_param("registryId"), self._get_param("imageIds")
        )
    )
    size = self._get_param("maxResults")
    if size is not None and not 1 <= int(size) <= 1000:
        raise _bad("maxResults", "Member must have value between 1 and 1000")
    start = int(self._get_param("nextToken") or 0)
    end = start + int(size or 100)
    out = []
    for image in images[start:end]:
        detail: dict[str, Any] = {
            "registryId": image.registry_id,
            "repositoryName": image.repository_name,
            "imageDigest": image.get_image_digest(),
            "imagePushedAt": datetime.fromtimestamp(image.image_pushed_at, UTC),
            "imageManifestMediaType": image.image_manifest_media_type,
        }
        if image.image_tags:
            detail["imageTags"] = list(image.image_tags)
        nbytes = _image_size(image)
        if nbytes is not None:
            detail["imageSizeInBytes"] = nbytes
        if image.__dict__.get("last_recorded_pull_time") is not None:
            detail["lastRecordedPullTime"] = image.__dict__["last_recorded_pull_time"]
        out.append(detail)
    result: dict[str, Any] = {"imageDetails": out}
    if end < len(images):
        result["nextToken"] = str(end)
    return ActionResult(result)


_ORIGINAL_BATCH_GET_IMAGE = ECRBackend.batch_get_image


def _batch_get_image(
    self: ECRBackend,
    repository_name: str,
    registry_id: str | None = None,
    image_ids: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    found = _ORIGINAL_BATCH_GET_IMAGE(self, repository_name, registry_id, image_ids)
    now = _now()
    for image in found.get("images", []):  # moto's Image objects
        image.last_recorded_pull_time = now
    return found


def seed_images(region: str, repository: str, images: list[dict[str, Any]], account: str = "123456789012") -> None:
    """Put images straight into the backend (a test fixture, not an AWS API).

    Each item: ``{"tag": str | None, "size": int, "pulled": datetime | None, "media": str?}``;
    the repository is created when missing.  Digests are unique per item.
    """
    import hashlib

    from moto.ecr.models import Image

    backend = ecr_backends[account][region]
    if repository not in backend.repositories:
        backend.create_repository(repository, None, {"encryptionType": "AES256"}, {"scanOnPush": False}, "MUTABLE", [])
    repo = backend.repositories[repository]
    base = len(repo.images)
    for i, item in enumerate(images):
        media = item.get("media") or "application/vnd.oci.image.manifest.v1+json"
        seed = f"{repository}:{base + i}".encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media,
                "config": {"size": 100, "digest": "sha256:" + hashlib.sha256(b"c" + seed).hexdigest()},
                "layers": [{"size": int(item.get("size", 0)), "digest": "sha256:" + hashlib.sha256(seed).hexdigest()}],
            }
        )
        image = Image(
            account, item.get("tag"), manifest, repository, media, "sha256:" + hashlib.sha256(b"m" + seed).hexdigest()
        )
        if item.get("tag") is None:
            image.image_tags = []
        if item.get("size") is not None:
            image._size = int(item["size"])
        image.last_recorded_pull_time = item.get("pulled")
        repo.images.append(image)


# ---------------------------------------------------------------- AccessDenied

_DENIED: set[str] = set()


def deny(*actions: str) -> None:
    """Refuse ``service:Action`` requests (until :func:`allow_all` or a server reset)."""
    _DENIED.update(actions)


def allow_all() -> None:
    _DENIED.clear()


def _access_denied(service: str, action: str) -> ServiceException:
    query = service in ("iam", "sts")
    cls = type("AccessDenied", (ServiceException,), {"code": "AccessDenied" if query else "AccessDeniedException"})
    cls.__module__ = f"moto.{service}.exceptions"
    return cls(
        f"User: arn:aws:sts::123456789012:assumed-role/ci/imagemirror is not authorized to perform: "
        f"{service}:{action} because no identity-based policy allows the {service}:{action} action"
    )


_ORIGINAL_CALL_ACTION = None


def _call_action(self: Any) -> Any:
    if _DENIED:
        service = getattr(self, "service_name", "") or ""
        action = self._get_action()
        if f"{service}:{action}" in _DENIED:
            import warnings

            with warnings.catch_warnings():  # the model lists no AccessDenied shape; moto says so
                warnings.simplefilter("ignore")
                status, headers, body = self.serialized(ActionResult(_access_denied(service, action)))
            headers["status"] = status
            return status, headers, body
    return _ORIGINAL_CALL_ACTION(self)  # type: ignore[misc]


_OPERATIONS = (
    create_pull_through_cache_rule,
    describe_pull_through_cache_rules,
    update_pull_through_cache_rule,
    delete_pull_through_cache_rule,
    validate_pull_through_cache_rule,
    create_repository_creation_template,
    describe_repository_creation_templates,
    update_repository_creation_template,
    delete_repository_creation_template,
    describe_images,
)


def install() -> None:
    """Patch moto's ECR classes (idempotent).  Call before starting ThreadedMotoServer."""
    global _ORIGINAL_CALL_ACTION
    from moto.core.responses import BaseResponse

    for func in _OPERATIONS:
        setattr(ECRResponse, func.__name__, func)
    ECRBackend._validate_registry_policy_action = _validate_registry_policy_action  # type: ignore[method-assign]
    ECRBackend.batch_get_image = _batch_get_image  # type: ignore[method-assign]
    if _ORIGINAL_CALL_ACTION is None:
        _ORIGINAL_CALL_ACTION = BaseResponse.call_action
        BaseResponse.call_action = _call_action  # type: ignore[method-assign]


__all__ = ["install", "Server", "RULE_QUOTA", "ecr_backends", "seed_images", "deny", "allow_all"]


class Server:
    """A real moto server on 127.0.0.1 (a free port) with this extension installed."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        install()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget every resource (moto's reset API), between tests."""
        import urllib.request

        allow_all()
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=10).read()

    def client(self, service: str, region: str = "eu-west-1"):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self._server.stop()
