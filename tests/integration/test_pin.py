"""``pin``, ``check --online`` and ``warm --pin`` against real registries: Debian's
docker-registry as upstreams, one pull-through proxy per upstream as the cache, nginx in front
(the ECR path shape ``<host>/<prefix>/<path>``).  The rules map each prefix to its upstream's
real address, so ``pin`` also confirms every digest against the upstream.  Images and
multi-arch indexes are built in the tests (``oci``); tags are moved upstream by pushing again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import oci
import pytest
from conftest import REPO
from registries import stack  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_CONFIG": str(cwd / "no-docker-config")}
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180
    )


def setup_repo(tmp_path: Path, stack, text: str) -> Path:
    (tmp_path / ".imagemirror.yaml").write_text(
        f"registry: {stack.registry}\nrules:\n"
        + "".join(f"  {server.host}: {prefix}\n" for prefix, server in stack.upstreams.items())
    )
    folder = tmp_path / "environments" / "prod"
    folder.mkdir(parents=True)
    values = folder / "values.yaml"
    values.write_bytes(text.replace("REG", stack.registry).encode())
    return values


def test_pin_check_drift_and_revert_round_trip(stack, tmp_path):
    hub, quay = stack.pusher("docker-hub"), stack.pusher("quay")
    nginx = oci.index("nginx-1.25", layer_sizes=(3000,))
    hub.push_index("library/nginx", "1.25", nginx)
    redis = oci.image("redis-7.2.4", (2000,))
    hub.push_image("bitnami/redis", "7.2.4", redis)
    app = oci.image("app-v1", (2000,))
    quay.push_image("team/app", "v1", app)
    cilium_old, cilium_new = oci.image("cilium-1.17.0", (2000,)), oci.image("cilium-1.18.4", (2000,))
    quay.push_image("cilium/cilium", "v1.17.0", cilium_old)
    quay.push_image("cilium/cilium", "v1.18.4", cilium_new)
    original = f"""\
# prod values\r
web:\r
  image: REG/docker-hub/library/nginx:1.25   # the front\r
redis:\r
  image:\r
    registry: REG\r
    repository: docker-hub/bitnami/redis\r
    tag: "7.2.4"\r
    pullPolicy: IfNotPresent\r
app:\r
  image: {{repository: 'REG/quay/team/app', tag: v1}}\r
cilium:\r
  image:\r
    override: ~\r
    repository: "REG/quay/cilium/cilium"\r
    tag: "v1.18.4"   # bumped by hand from v1.17.0\r
    pullPolicy: "IfNotPresent"\r
    digest: "{cilium_old.digest}"\r
    useDigest: true\r
"""
    values = setup_repo(tmp_path, stack, original)
    before = values.read_bytes()
    reg = stack.registry

    # the Cilium case: tag bumped, digest left naming the old image
    drift = cli("check", "--online", "--insecure", str(values), "--format", "json", cwd=tmp_path)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    findings = json.loads(drift.stdout)["findings"]
    assert [(f["code"], f["line"]) for f in findings] == [("IM008", 15)], findings
    assert cilium_old.digest in findings[0]["message"] and cilium_new.digest in findings[0]["message"]
    offline = cli("check", str(values), cwd=tmp_path)
    assert offline.returncode == 0, offline.stdout + offline.stderr  # offline: nothing to see

    dry = cli("pin", "--insecure", "--dry-run", str(values), cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"+  image: {reg}/docker-hub/library/nginx:1.25@{nginx.digest}" in dry.stdout
    assert values.read_bytes() == before

    done = cli("pin", "--insecure", str(values), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not confirmed" not in done.stderr  # every digest was confirmed upstream
    expected = f"""\
# prod values\r
web:\r
  image: REG/docker-hub/library/nginx:1.25@{nginx.digest}   # the front # imagemirror: pinned\r
redis:\r
  image:\r
    registry: REG\r
    repository: docker-hub/bitnami/redis\r
    tag: "7.2.4"\r
    pullPolicy: IfNotPresent\r
    digest: {redis.digest}  # imagemirror: pinned (added)\r
app:\r
  image: {{repository: 'REG/quay/team/app', tag: "v1@{app.digest}"}}  # imagemirror: pinned (was: v1)\r
cilium:\r
  image:\r
    override: ~\r
    repository: "REG/quay/cilium/cilium"\r
    tag: "v1.18.4"   # bumped by hand from v1.17.0\r
    pullPolicy: "IfNotPresent"\r
    digest: "{cilium_new.digest}"  # imagemirror: pinned (was: "{cilium_old.digest}")\r
    useDigest: true\r
""".replace("REG", reg)
    assert values.read_bytes() == expected.encode()
    assert f"{reg}/quay/cilium/cilium:v1.18.4@{cilium_new.digest} [digest-key] (was {cilium_old.digest})" in done.stdout

    again = cli("pin", "--insecure", str(values), cwd=tmp_path)
    assert again.returncode == 0 and values.read_bytes() == expected.encode(), again.stderr
    assert "changed 0 of 1 file" in again.stderr
    clean = cli("check", "--online", "--insecure", str(values), cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # the tag moves upstream after the pin: check --online names both digests
    app_new = oci.image("app-v1-rebuilt", (2000,))
    quay.push_image("team/app", "v1", app_new)
    moved = cli("check", "--online", "--insecure", str(values), cwd=tmp_path)
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert "IM008" in moved.stdout and app.digest in moved.stdout and app_new.digest in moved.stdout
    assert "IM009" not in moved.stdout  # the pinned image is still in the cache
    assert moved.stdout.count("IM008") == 1

    back = cli("pin", "--revert", str(values), cwd=tmp_path)
    assert back.returncode == 0, back.stdout + back.stderr
    assert values.read_bytes() == before  # byte-exact, CRLF and all


def test_pinned_digest_missing_from_the_cache(stack, tmp_path):
    hub = stack.pusher("docker-hub")
    gone, now = oci.image("gone-1", (1000,)), oci.image("now-1", (1000,))
    hub.push_image("team/gone", "1", gone)
    hub.push_image("team/gone", "1", now)  # moved before the cache ever saw the old one
    status, _, body = hub.request("DELETE", f"/v2/team/gone/manifests/{gone.digest}")
    assert status == 202, body
    values = setup_repo(tmp_path, stack, f"job:\n  image: REG/docker-hub/team/gone:1@{gone.digest}\n")
    done = cli("check", "--online", "--insecure", str(values), "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    by_code = {f["code"]: f for f in json.loads(done.stdout)["findings"]}
    assert set(by_code) == {"IM008", "IM009"}
    assert gone.digest in by_code["IM009"]["message"]
    assert "imagemirror pin environments/prod/values.yaml" in by_code["IM009"]["message"]
    assert now.digest in by_code["IM008"]["message"]
    assert by_code["IM008"]["fix"] == f"{stack.registry}/docker-hub/team/gone:1@{now.digest}"


def test_warm_pin_pins_exactly_what_it_warmed(stack, tmp_path):
    hub = stack.pusher("docker-hub")
    multi = oci.index("multi-2", layer_sizes=(2000,))
    hub.push_index("library/app", "2", multi)
    tool = oci.image("tool-3", (1500,))
    hub.push_image("team/tool", "3", tool)
    original = """\
a:
  image: REG/docker-hub/library/app:2
b:
  image:
    repository: REG/docker-hub/team/tool
    tag: "3"
missing:
  image: REG/docker-hub/team/nothing:9
"""
    values = setup_repo(tmp_path, stack, original)
    done = cli("warm", "--pin", "--insecure", str(values), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # one image failed: not pinned
    reg = stack.registry
    assert values.read_text() == original.replace("REG", reg).replace(
        "library/app:2\n", f"library/app:2@{multi.digest}  # imagemirror: pinned\n"
    ).replace('tag: "3"\n', f'tag: "3@{tool.digest}"  # imagemirror: pinned\n')
    assert "3 images, 2 warmed, 1 failed" in done.stdout
    # what was pinned is served by the cache with the upstream gone
    stack.stop_upstreams()
    assert oci.pull_everything(stack.front.url, "docker-hub/library/app", multi.digest) > 0
    assert oci.pull_everything(stack.front.url, "docker-hub/team/tool", tool.digest) == tool.size
