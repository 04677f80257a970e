"""``imagemirror warm`` against real registries: Debian's docker-registry as upstreams, a
second one per upstream in pull-through proxy mode as the cache, nginx in front routing the
ECR path shape ``<host>/<prefix>/<path>`` to each prefix's proxy.  The proof that the cache is
warm: after ``warm``, the upstreams are stopped and every image (manifests and every blob,
digests checked) still pulls from the cache -- and an image that was not warmed does not.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import oci
from conftest import REPO, require_binary
from registries import make_ca, stack  # noqa: F401 - fixture
from imagemirror.registry.auth import CredentialStore
from imagemirror.registry.client import RegistryClient
from imagemirror.warm import PINNED_NOT_CACHED, targets_from_strings, warm_images

pytestmark = pytest.mark.integration


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("DOCKER_CONFIG", str((cwd or Path.cwd()) / "no-docker-config"))
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", "warm", *args],
        capture_output=True,
        text=True,
        env={**full_env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=120,
    )


def values_dir(tmp_path: Path, registry: str, text: str) -> Path:
    folder = tmp_path / "environments" / "prod"
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text(text.replace("REG", registry))
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {registry}\n")
    return folder


def test_warm_fills_the_cache_and_it_serves_with_the_upstream_stopped(stack, tmp_path):
    hub, quay = stack.pusher("docker-hub"), stack.pusher("quay")
    nginx_index = oci.index("nginx-1.25", layer_sizes=(20_000, 30_000))
    hub.push_index("library/nginx", "1.25", nginx_index)
    redis = oci.image("redis-7", (50_000, 10_000, 5_000))
    hub.push_image("bitnami/redis", "7.2.4", redis)
    prom = oci.image("prometheus", (40_000,))
    quay.push_image("prometheus/prometheus", "v2.51.0", prom)
    pinned = oci.image("pinned", (8_000,))
    hub.push_image("library/busybox", "1.36", pinned)
    not_warmed = oci.image("not-warmed", (4_000,))
    hub.push_image("library/alpine", "3.19", not_warmed)
    folder = values_dir(
        tmp_path,
        stack.registry,
        f"""\
web:
  image: nginx:1.25
cache:
  image:
    registry: REG
    repository: docker-hub/bitnami/redis
    tag: "7.2.4"
monitoring:
  image: quay.io/prometheus/prometheus:v2.51.0
tools:
  image: REG/docker-hub/library/busybox:1.36@{pinned.digest}
again:
  image: REG/docker-hub/library/nginx:1.25
""",
    )
    done = run_cli(str(folder), "--insecure", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    images = {r["image"]: r for r in report["images"]}
    reg = stack.registry
    assert sorted(images) == sorted(
        [
            f"{reg}/docker-hub/library/nginx:1.25",
            f"{reg}/docker-hub/bitnami/redis:7.2.4",
            f"{reg}/quay/prometheus/prometheus:v2.51.0",
            f"{reg}/docker-hub/library/busybox:1.36@{pinned.digest}",
        ]
    )
    nginx = images[f"{reg}/docker-hub/library/nginx:1.25"]
    assert nginx["platforms"] == ["linux/amd64", "linux/arm64"]
    assert nginx["bytes"] == sum(b.size for b in nginx_index.blobs)
    assert len(nginx["sources"]) == 2  # one image, two places in the values file
    assert images[f"{reg}/docker-hub/bitnami/redis:7.2.4"]["bytes"] == redis.size
    assert all(r["status"] == "ok" and r["cache"] == "fetched" for r in report["images"]), report
    assert report["summary"] == {**report["summary"], "images": 4, "ok": 4, "failed": 0}
    assert "warm [" in done.stderr  # plain progress lines: stderr is not a terminal

    stack.stop_upstreams()
    cache = stack.front.url
    assert oci.pull_everything(cache, "docker-hub/library/nginx", "1.25") == sum(b.size for b in nginx_index.blobs)
    assert oci.pull_everything(cache, "docker-hub/bitnami/redis", "7.2.4") == redis.size
    assert oci.pull_everything(cache, "quay/prometheus/prometheus", "v2.51.0") == prom.size
    assert oci.pull_everything(cache, "docker-hub/library/busybox", pinned.digest) == pinned.size
    with pytest.raises(AssertionError):  # the control: never warmed, upstream gone
        oci.pull_everything(cache, "docker-hub/library/alpine", "3.19")

    again = run_cli(str(folder), "--insecure", "--format", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {r["cache"] for r in json.loads(again.stdout)["images"]} == {"cached-already"}


def test_failures_exit_1_with_hints(stack, tmp_path):
    hub = stack.pusher("docker-hub")
    hub.push_image("library/nginx", "1.25", oci.image("nginx", (1000,)))
    hub.push_image("bitnami/postgresql", "latest", oci.image("pg", (1000,)))
    folder = values_dir(
        tmp_path,
        stack.registry,
        """\
a: {image: REG/docker-hub/nginx:1.25}
b: {image: REG/docker-hub/bitnami/postgresql:15.4.0-debian-11-r45}
c: {image: REG/nowhere/team/app:1.0}
d: {image: REG/docker-hub/library/nginx:1.25}
e: {image: gcr.io/distroless/static:nonroot}
""",
    )
    done = run_cli(str(folder), "--insecure", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    reg = stack.registry
    assert f"hint: Docker Hub official images live under library/: use {reg}/docker-hub/library/nginx:1.25" in out
    assert f"{reg}/docker-hub/bitnamilegacy/postgresql:15.4.0-debian-11-r45" in out
    assert "repository unknown" in out  # no route (cache rule) for the prefix
    assert "4 images, 1 warmed, 3 failed" in out
    assert "values.yaml:1:" in out  # where the reference was found
    assert "not warmed (1 no-rule)" in done.stderr


def test_platform_filter_warms_only_that_platform(stack, tmp_path):
    idx = oci.index("multi", layer_sizes=(10_000,))
    stack.pusher("docker-hub").push_index("library/app", "2", idx)
    folder = values_dir(tmp_path, stack.registry, "image: REG/docker-hub/library/app:2\n")
    done = run_cli(str(folder), "--insecure", "--platform", "linux/arm64", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)["images"][0]
    assert result["platforms"] == ["linux/arm64"]
    arm = next(i for i in idx.images if i.platform["architecture"] == "arm64")
    assert result["bytes"] == arm.size
    stack.stop_upstreams()
    accept = {"Accept": oci.OCI_MANIFEST}
    p = oci.Pusher(stack.front.url)
    for image in idx.images:
        for blob in image.layers:
            status, _, _ = p.request("GET", f"/v2/docker-hub/library/app/blobs/{blob.digest}", headers=accept)
            # cached: served; not cached: the proxy cannot reach its remote (500)
            assert (status == 200) == (image is arm), (image.platform, status)


def test_pinned_digest_after_the_tag_moved(stack, tmp_path):
    hub = stack.pusher("docker-hub")
    old, new = oci.image("v1-old", (3000,)), oci.image("v1-new", (3000,))
    hub.push_image("team/app", "1", old)
    client = RegistryClient(CredentialStore({}), insecure=True, retries=1, backoff=0.05)
    ref = f"{stack.registry}/docker-hub/team/app:1@{old.digest}"
    first = warm_images(targets_from_strings([ref]), client)
    assert first[0].ok, first[0].error
    hub.push_image("team/app", "1", new)  # the tag moves upstream; the old image is cached
    second = warm_images(targets_from_strings([ref]), client)
    assert second[0].ok and second[0].digest == old.digest, second[0].error

    other_old, other_new = oci.image("v2-old", (3000,)), oci.image("v2-new", (3000,))
    hub.push_image("team/other", "2", other_old)
    hub.push_image("team/other", "2", other_new)  # moved before the cache ever saw the old one
    status, _, body = hub.request("DELETE", f"/v2/team/other/manifests/{other_old.digest}")
    assert status == 202, body
    gone = warm_images(targets_from_strings([f"{stack.registry}/docker-hub/team/other:2@{other_old.digest}"]), client)
    assert gone[0].status == "failed"
    assert PINNED_NOT_CACHED in gone[0].error
    assert "pin the new digest" in gone[0].hint


def test_tls_with_private_ca_and_basic_auth(stack, tmp_path):
    stack.pusher("docker-hub").push_image("library/nginx", "1", oci.image("tls", (2000,)))
    ca = make_ca(tmp_path, require_binary("openssl"))
    front = stack.add_front(tls=ca, basic_auth=("ci-robot", "s3cret-pw"), name="nginx-tls")
    folder = values_dir(tmp_path, front.host, "image: REG/docker-hub/library/nginx:1\n")
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    token = base64.b64encode(b"ci-robot:s3cret-pw").decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {front.host: {"auth": token}}}))
    env = {"DOCKER_CONFIG": str(config_dir)}

    ok = run_cli(str(folder), "--ca-bundle", str(ca.ca_cert), env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "s3cret-pw" not in ok.stdout + ok.stderr and token not in ok.stdout + ok.stderr
    via_env = run_cli(str(folder), env={**env, "SSL_CERT_FILE": str(ca.ca_cert)}, cwd=tmp_path)
    assert via_env.returncode == 0, via_env.stdout + via_env.stderr

    untrusted = run_cli(str(folder), env={**env, "SSL_CERT_FILE": "", "REQUESTS_CA_BUNDLE": ""}, cwd=tmp_path)
    assert untrusted.returncode == 1
    assert "TLS failed" in untrusted.stdout and "--ca-bundle" in untrusted.stdout

    anonymous = run_cli(str(folder), "--ca-bundle", str(ca.ca_cert), cwd=tmp_path)
    assert anonymous.returncode == 1
    assert f"hint: no credentials for {front.host}" in anonymous.stdout


def test_ecr_host_gets_its_token_from_get_authorization_token(stack, tmp_path, monkeypatch):
    """An ECR-named host: the client asks ECR (moto's server) for a token and sends it as
    Basic, as ECR expects.  The ECR host name is pointed at nginx (whose Basic auth holds the
    token moto issues) with the client's connect-to map, since no DNS names it here."""
    from moto.server import ThreadedMotoServer

    stack.pusher("docker-hub").push_image("library/redis", "7", oci.image("ecr", (2000,)))
    account = "123456789012"
    front = stack.add_front(basic_auth=("AWS", f"{account}-auth-token"), name="nginx-ecr")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        ecr = f"{account}.dkr.ecr.af-south-1.amazonaws.com"
        from imagemirror.ecr.client import AwsClient
        from imagemirror.registry.auth import ecr_token_source

        # the token comes through the one AWS wrapper, injected into the credential store
        store = CredentialStore({}, ecr=ecr_token_source(lambda region: AwsClient(region=region)))
        client = RegistryClient(store, insecure=True, addresses={ecr: front.host})
        results = warm_images(targets_from_strings([f"{ecr}/docker-hub/library/redis:7"]), client)
        assert results[0].ok, results[0].error
        assert results[0].bytes > 2000
    finally:
        moto.stop()
