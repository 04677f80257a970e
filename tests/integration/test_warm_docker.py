"""``imagemirror warm --engine docker`` against a real Docker Engine API: Debian's podman
serving one (``podman system service``, vfs storage), pulling through the same
docker-registry proxies and nginx as the registry-engine tests (plain HTTP, Basic auth, so
the credentials must travel to the engine as ``auth_config``)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

import oci
from conftest import REPO, require_binary
from registries import start_podman, stack  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def engine_env(stack, tmp_path):
    podman = require_binary("podman")
    front = stack.add_front(basic_auth=("puller", "engine-pw"), name="nginx-auth")
    server = start_podman(tmp_path, [front.host, stack.registry], binary=podman)
    config = tmp_path / "docker-config"
    config.mkdir()
    token = base64.b64encode(b"puller:engine-pw").decode()
    (config / "config.json").write_text(json.dumps({"auths": {front.host: {"auth": token}}}))
    yield front, {"DOCKER_HOST": server.url, "DOCKER_CONFIG": str(config)}
    server.stop()


def run_cli(args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", "warm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=180,
    )


def test_docker_engine_pulls_every_image_with_credentials(stack, engine_env, tmp_path):
    import docker

    front, env = engine_env
    hub = stack.pusher("docker-hub")
    idx = oci.index("engine-multi", layer_sizes=(20_000,))
    hub.push_index("library/nginx", "1.25", idx)
    hub.push_image("bitnami/redis", "7.2", oci.image("engine-redis", (30_000,)))
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "values.yaml").write_text(
        "web: {image: nginx:1.25}\n"
        f"cache: {{image: {front.host}/docker-hub/bitnami/redis:7.2}}\n"
        f"wrong: {{image: {front.host}/docker-hub/nginx:1.25}}\n"
    )
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {front.host}\n")
    done = run_cli([str(folder), "--engine", "docker", "--format", "json", "--platform", "linux/arm64"], env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    results = {r["image"]: r for r in json.loads(done.stdout)["images"]}
    ok = [f"{front.host}/docker-hub/library/nginx:1.25", f"{front.host}/docker-hub/bitnami/redis:7.2"]
    for name in ok:
        assert results[name]["status"] == "ok", results[name]
        assert results[name]["engine"] == "docker"
    wrong = results[f"{front.host}/docker-hub/nginx:1.25"]
    assert wrong["status"] == "failed"
    assert "library/" in wrong.get("hint", ""), wrong.get("error")

    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    try:
        tags = {t for image in client.images.list() for t in image.tags}
        assert set(ok) <= tags
        arm = client.images.get(ok[0]).attrs
        assert arm["Architecture"] == "arm64"
    finally:
        client.close()


def test_docker_engine_without_credentials_fails_with_hint(stack, engine_env, tmp_path):
    front, env = engine_env
    stack.pusher("docker-hub").push_image("library/busybox", "1", oci.image("engine-busybox", (1000,)))
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "values.yaml").write_text(f"image: {front.host}/docker-hub/library/busybox:1\n")
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {front.host}\n")
    anonymous = {**env, "DOCKER_CONFIG": str(tmp_path / "empty")}
    done = run_cli([str(folder), "--engine", "docker"], anonymous, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unauthorized" in done.stdout.lower() or "authentication" in done.stdout.lower()
    assert f"hint: no credentials for {front.host}" in done.stdout
