"""The registry client under faults: 429 + Retry-After, 5xx, resets, slow and hanging
responses, truncated and corrupt blobs -- against a real HTTP server on 127.0.0.1
(``faultregistry.py``) that injects them.  Retries must succeed where a retry can, and fail
clearly per image, within the deadline, where it cannot.

Sleeps between retries are recorded rather than slept (the clock is an edge), except in the
deadline tests, which use real time.
"""

from __future__ import annotations

import base64
import json
import logging
import os

import pytest

from faultregistry import FaultRegistry
from imagemirror.registry.auth import CredentialStore
from imagemirror.registry.client import RegistryClient
from imagemirror.warm import PINNED_NOT_CACHED, targets_from_strings, warm_images

LAYER_A = os.urandom(300_000)
LAYER_B = os.urandom(50_000)


@pytest.fixture
def registry():
    reg = FaultRegistry()
    reg.add_image("team/app", "1.0", [LAYER_A, LAYER_B])
    reg.add_image("team/other", "2.0", [os.urandom(10_000)])
    yield reg
    reg.stop()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(reg: FaultRegistry, sleeps=None, **kwargs) -> RegistryClient:
    kwargs.setdefault("credentials", CredentialStore({}))
    return RegistryClient(insecure=True, sleep=sleeps if sleeps is not None else Sleeps(), jobs=4, **kwargs)


def warm(reg: FaultRegistry, client: RegistryClient, *refs: str):
    refs = refs or ("team/app:1.0", "team/other:2.0")
    return warm_images(targets_from_strings(f"{reg.host}/{r}" for r in refs), client, jobs=4)


def blob_digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_clean_run_succeeds(registry):
    results = warm(registry, client_for(registry))
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert results[0].bytes > len(LAYER_A) + len(LAYER_B)


def test_429_honours_retry_after(registry):
    registry.fault("/blobs/" + blob_digest(LAYER_A), "429", times=2, value=3)
    sleeps = Sleeps()
    results = warm(registry, client_for(registry, sleeps))
    assert all(r.ok for r in results), [r.error for r in results]
    assert sleeps.count(3.0) == 2


def test_429_with_http_date_retry_after(registry):
    registry.fault("/manifests/1.0", "429", times=1, value=-5)  # a date 5 s ahead
    sleeps = Sleeps()
    results = warm(registry, client_for(registry, sleeps), "team/app:1.0")
    assert results[0].ok, results[0].error
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 6


@pytest.mark.parametrize("kind", ["500", "503", "reset"])
def test_transient_failures_are_retried(registry, kind):
    registry.fault("/manifests/1.0", kind, times=2)
    registry.fault("/blobs/" + blob_digest(LAYER_B), kind, times=2)
    sleeps = Sleeps()
    results = warm(registry, client_for(registry, sleeps))
    assert all(r.ok for r in results), [r.error for r in results]
    assert len(sleeps) == 4  # two retries each for the manifest and the blob
    # exponential backoff: the second wait of each request is longer than the first
    assert sleeps[1] >= sleeps[0] and sleeps[3] >= sleeps[2]


def test_truncated_blob_is_fetched_again(registry):
    registry.fault("/blobs/" + blob_digest(LAYER_A), "truncate", times=1)
    results = warm(registry, client_for(registry))
    assert all(r.ok for r in results), [r.error for r in results]
    gets = [p for m, p, _ in registry.requests if m == "GET" and blob_digest(LAYER_A) in p]
    assert len(gets) == 2


def test_corrupt_blob_fails_that_image_only(registry):
    registry.fault("/blobs/" + blob_digest(LAYER_A), "corrupt", times=None)
    results = warm(registry, client_for(registry, retries=2))
    app, other = results
    assert app.status == "failed"
    assert "digest mismatch" in app.error and "after 3 attempts" in app.error
    assert other.ok


def test_persistent_500_fails_clearly(registry):
    registry.fault("/manifests/2.0", "500", times=None)
    results = warm(registry, client_for(registry, retries=3))
    assert results[0].ok
    assert results[1].status == "failed"
    assert "HTTP 500" in results[1].error and "after 4 attempts" in results[1].error


def test_slow_response_times_out_then_retries(registry):
    registry.fault("/manifests/2.0", "slow", times=1, value=2.0)
    results = warm(registry, client_for(registry, read_timeout=0.3), "team/other:2.0")
    assert results[0].ok, results[0].error
    gets = [p for m, p, _ in registry.requests if p.endswith("/manifests/2.0")]
    assert len(gets) == 2


def test_hanging_registry_ends_at_the_deadline(registry):
    """A server that never answers: the run still ends (real clock), each image failed."""
    registry.fault("/manifests/", "hang", times=None)
    import time

    client = RegistryClient(
        credentials=CredentialStore({}), insecure=True, deadline=1.5, read_timeout=30, sleep=time.sleep
    )
    results = warm(registry, client)
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("deadline" in r.error or "timed out" in r.error for r in results), [r.error for r in results]


def test_connection_refused_fails_with_a_clear_message():
    reg = FaultRegistry()
    host = reg.host
    reg.stop()
    client = RegistryClient(credentials=CredentialStore({}), insecure=True, retries=1, sleep=Sleeps())
    results = warm_images(targets_from_strings([f"{host}/team/app:1.0"]), client)
    assert results[0].status == "failed"
    assert "connection failed" in results[0].error


def test_missing_manifest_is_not_retried(registry):
    sleeps = Sleeps()
    results = warm(registry, client_for(registry, sleeps), "team/app:9.9")
    assert results[0].status == "failed" and "HTTP 404" in results[0].error
    assert sleeps == []


def test_pinned_digest_not_served_is_reported(registry):
    gone = "sha256:" + "ab" * 32
    results = warm(registry, client_for(registry), f"team/app:1.0@{gone}")
    assert results[0].status == "failed"
    assert PINNED_NOT_CACHED in results[0].error
    assert results[0].hint and "pin the new digest" in results[0].hint
    # never first by digest: the first manifest request was by tag
    manifests = [p for m, p, _ in registry.requests if "/manifests/" in p]
    assert manifests[0].endswith("/manifests/1.0")


def test_pinned_digest_served_passes(registry):
    digest = registry.add_image("team/pinned", "3.0", [b"x" * 1000])
    results = warm(registry, client_for(registry), f"team/pinned:3.0@{digest}")
    assert results[0].ok, results[0].error
    manifests = [p for m, p, _ in registry.requests if "/manifests/" in p]
    assert manifests == ["/v2/team/pinned/manifests/3.0", f"/v2/team/pinned/manifests/{digest}"]


# -- auth --------------------------------------------------------------------------------


def docker_config(host: str, user: str, password: str) -> dict:
    return {"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}


def test_bearer_challenge_with_docker_config_credentials(caplog):
    reg = FaultRegistry(bearer=("robot", "hunter2-secret"))
    try:
        reg.add_image("team/app", "1.0", [LAYER_B])
        reg.add_image("team/other", "2.0", [LAYER_B[:100]])
        store = CredentialStore(docker_config(reg.host, "robot", "hunter2-secret"))
        with caplog.at_level(logging.DEBUG, logger="imagemirror.registry"):
            results = warm(reg, client_for(reg, credentials=store))
        assert all(r.ok for r in results), [r.error for r in results]
        # one token per repository scope, reused for the manifest and every blob
        assert sorted(reg.token_requests) == ["repository:team/app:pull", "repository:team/other:pull"]
        assert "Authorization" in caplog.text and "<redacted>" in caplog.text
        assert "hunter2-secret" not in caplog.text
        assert base64.b64encode(b"robot:hunter2-secret").decode() not in caplog.text
        assert "tok-repository" not in caplog.text
    finally:
        reg.stop()


def test_bearer_rejected_credentials_get_a_hint():
    reg = FaultRegistry(bearer=("robot", "right"))
    try:
        reg.add_image("team/app", "1.0", [LAYER_B])
        store = CredentialStore(docker_config(reg.host, "robot", "wrong"))
        results = warm(reg, client_for(reg, credentials=store), "team/app:1.0")
        assert results[0].status == "failed"
        assert "authentication failed" in results[0].error and "rejected" in results[0].error
        assert "log in again" in results[0].hint
    finally:
        reg.stop()


def test_basic_auth_without_credentials_says_so():
    reg = FaultRegistry(basic=("user", "pw"))
    try:
        reg.add_image("team/app", "1.0", [LAYER_B])
        results = warm(reg, client_for(reg, credentials=CredentialStore({})), "team/app:1.0")
        assert results[0].status == "failed"
        assert "no credentials" in results[0].error
        assert results[0].hint.startswith(f"no credentials for {reg.host}")
        ok = warm(
            reg, client_for(reg, credentials=CredentialStore(docker_config(reg.host, "user", "pw"))), "team/app:1.0"
        )
        assert ok[0].ok, ok[0].error
    finally:
        reg.stop()


def test_credential_helper_is_used(tmp_path, monkeypatch):
    """A real ``docker-credential-*`` program on PATH speaks the helper protocol."""
    helper = tmp_path / "docker-credential-imtest"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        'if [ "$1" = get ]; then printf \'{"ServerURL":"%s","Username":"user","Secret":"pw"}\' "$host"; fi\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    reg = FaultRegistry(basic=("user", "pw"))
    try:
        reg.add_image("team/app", "1.0", [LAYER_B])
        store = CredentialStore({"credHelpers": {reg.host: "imtest"}})
        results = warm(reg, client_for(reg, credentials=store), "team/app:1.0")
        assert results[0].ok, results[0].error
        assert json.dumps(store.get(reg.host).auth_config()) == '{"username": "user", "password": "pw"}'
    finally:
        reg.stop()


def test_anonymous_bearer_tokens_for_public_images():
    """Docker Hub / ghcr style: a Bearer challenge, a token issued without credentials."""
    reg = FaultRegistry(bearer=("", ""))
    try:
        reg.add_image("library/nginx", "1", [LAYER_B])
        results = warm(reg, client_for(reg), "library/nginx:1")
        assert results[0].ok, results[0].error
        assert reg.token_requests == ["repository:library/nginx:pull"]
        assert {a for m, p, a in reg.requests if "/blobs/" in p} == {"Bearer"}
    finally:
        reg.stop()


def test_ecr_without_aws_credentials_fails_with_the_credentials_hint():
    from imagemirror.registry.auth import CredentialError

    def no_aws(host):
        raise CredentialError(f"cannot get an ECR token for {host}: NoCredentialsError: Unable to locate credentials")

    reg = FaultRegistry(basic=("AWS", "token"))
    try:
        reg.add_image("docker-hub/library/nginx", "1", [LAYER_B])
        ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        client = RegistryClient(
            CredentialStore({}, ecr=no_aws), insecure=True, addresses={ecr: reg.host}, sleep=Sleeps()
        )
        results = warm_images(targets_from_strings([f"{ecr}/docker-hub/library/nginx:1"]), client)
        assert results[0].status == "failed"
        assert "Unable to locate credentials" in results[0].error
        assert results[0].hint.startswith(f"no credentials for {ecr}")
    finally:
        reg.stop()


# -- oversized, endless and drip-fed answers -------------------------------------------------


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        ("oversize", 5, "manifest larger than 4 MiB"),  # announced: refused before it is read
        ("endless", 0.05, "manifest larger than 4 MiB"),  # no length: cut at the cap
    ],
)
def test_oversized_manifest_fails_at_once(registry, kind, value, expected):
    registry.fault("/manifests/1.0", kind, times=None, value=value)
    results = warm(registry, client_for(registry), "team/app:1.0")
    assert results[0].status == "failed" and expected in results[0].error, results[0].error
    assert len([p for m, p, _ in registry.requests if p.endswith("/manifests/1.0")]) == 1  # not retried


def test_endless_token_response_is_capped():
    reg = FaultRegistry(bearer=("", ""))
    try:
        reg.add_image("library/nginx", "1", [LAYER_B])
        reg.fault("/token", "endless", times=None, value=0.05)
        results = warm(reg, client_for(reg), "library/nginx:1")
        assert results[0].status == "failed"
        assert "token response larger than 1 MiB" in results[0].error, results[0].error
    finally:
        reg.stop()


@pytest.mark.parametrize("match", ["/token", "/manifests/1.0", "/blobs/"])
def test_drip_fed_answers_end_at_the_deadline(match):
    """A byte every 0.5 s, on the token, the manifest or a blob: the run ends at its deadline
    (a wall clock), not when the server is done dripping."""
    import time

    reg = FaultRegistry(bearer=("", ""))
    try:
        reg.add_image("team/app", "1.0", [LAYER_B])
        reg.fault(match, "drip", times=None, value=0.5)
        client = client_for(reg, deadline=2.0, read_timeout=30)
        start = time.monotonic()
        results = warm_images(targets_from_strings([f"{reg.host}/team/app:1.0"]), client, jobs=2, settle=0)
        assert time.monotonic() - start < 15
        assert results[0].status == "failed" and "deadline exceeded" in results[0].error, results[0].error
    finally:
        reg.stop()


def test_redirect_to_another_scheme_is_refused(registry):
    registry.fault("/manifests/1.0", "redirect", times=None, extra="ftp://127.0.0.1:1/manifest")
    results = warm(registry, client_for(registry), "team/app:1.0")
    assert results[0].status == "failed" and "only http and https" in results[0].error, results[0].error
