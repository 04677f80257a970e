"""Images set by inline patches: kustomize ``patches[].patch`` (strategic merge or JSON6902),
``patchesStrategicMerge`` strings, and Flux ``Kustomization`` ``spec.patches[].patch``.

``check`` must see the images the patches set (they are what is deployed), and ``rewrite``
edit them inside the string, byte-exactly; real kustomize (``kubectl kustomize``) then builds
the cache's form of every image it built before, and nothing else changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from conftest import require_binary
from helpers import REG, cache_form, pod_images, run, without_images


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1
        - name: side
          image: ghcr.io/acme/side:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy.yaml
patches:
  - target:
      kind: Deployment
      name: web
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: nginx:1.25   # pinned by the platform team
      - op: add
        path: /spec/template/spec/initContainers
        value:
          - name: init
            image: busybox:1.36
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
      spec:
        template:
          spec:
            containers:
              - name: side
                image: 'redis:7'
  - target: {kind: Deployment, name: api}
    patch: '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/acme/api:2"}]'
patchesStrategicMerge:
  - |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
    spec:
      template:
        spec:
          containers:
            - name: sidecar
              image: registry.k8s.io/pause:3.9
"""


def make_repo(root: Path) -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    app = root / "apps" / "web"
    app.mkdir(parents=True)
    (app / "deploy.yaml").write_text(DEPLOY)
    (app / "kustomization.yaml").write_text(KUSTOMIZATION)
    return app


def build(kubectl: str, folder: Path) -> list[dict]:
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return list(YAML(typ="safe", pure=True).load_all(out.stdout))


def test_check_sees_the_images_patches_set(tmp_path):
    app = make_repo(tmp_path / "repo")
    done = run("list", "--format", "json", "apps/web/kustomization.yaml", cwd=app.parent.parent)
    assert done.returncode == 0, done.stderr
    rows = [(r["line"], r["column"], r["path"], r["written"], r["source"]) for r in json.loads(done.stdout)]
    assert rows == [
        (12, 16, "patches[0].patch[0].value", "nginx:1.25", "kustomize"),
        (17, 20, "patches[0].patch[1].value[0].image", "busybox:1.36", "kustomize"),
        (28, 24, "patches[1].patch.spec.template.spec.containers[0].image", "redis:7", "kustomize"),
        (30, 91, "patches[2].patch[0].value", "quay.io/acme/api:2", "kustomize"),
        (
            42,
            22,
            "patchesStrategicMerge[0].spec.template.spec.containers[0].image",
            "registry.k8s.io/pause:3.9",
            "kustomize",
        ),
    ]
    gate = run("check", "apps", cwd=app.parent.parent)
    assert gate.returncode == 1
    assert (
        f"apps/web/kustomization.yaml:12:16: IM001 nginx:1.25 is not pulled through the cache; "
        f"use {REG}/docker-hub/library/nginx:1.25"
    ) in gate.stdout


def test_rewrite_edits_inside_the_patches_and_kustomize_builds_the_cache(tmp_path):
    kubectl = require_binary("kubectl")
    app = make_repo(tmp_path / "repo")
    before = build(kubectl, app)
    # (kustomize applies patchesStrategicMerge first: the sidecar it adds is containers/0 when
    # the JSON6902 patch replaces that image, so pause:3.9 is never deployed)
    assert sorted(pod_images(before)) == [
        "busybox:1.36",
        "ghcr.io/acme/api:1",
        "nginx:1.25",
        "quay.io/acme/api:2",
        "redis:7",
    ]
    done = run("rewrite", "apps", cwd=app.parent.parent)
    assert done.returncode == 0, done.stderr
    text = (app / "kustomization.yaml").read_text()
    expected = KUSTOMIZATION
    for old in ("nginx:1.25", "busybox:1.36", "redis:7", "quay.io/acme/api:2", "registry.k8s.io/pause:3.9"):
        expected = expected.replace(old, cache_form(old), 1)
    assert text == expected
    after = build(kubectl, app)
    assert pod_images(after) == [cache_form(i) for i in pod_images(before)]
    assert without_images(after) == without_images(before)
    assert run("check", "apps", cwd=app.parent.parent).returncode == 0
    again = run("rewrite", "apps", cwd=app.parent.parent)
    assert again.returncode == 0 and "changed 0 of" in again.stderr


def test_a_patch_string_with_escapes_is_read_not_edited(tmp_path):
    app = make_repo(tmp_path / "repo")
    single = (
        """'[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/acme/api:2"}]'"""
    )
    double = '"' + single[1:-1].replace('"', '\\"') + '"'
    escaped = KUSTOMIZATION.replace(single, double)
    assert escaped != KUSTOMIZATION
    (app / "kustomization.yaml").write_text(escaped)
    gate = run("check", "apps/web/kustomization.yaml", cwd=app.parent.parent)
    assert gate.returncode == 1 and " quay.io/acme/api:2 is not pulled" in gate.stdout
    done = run("rewrite", "apps/web/kustomization.yaml", cwd=app.parent.parent)
    assert done.returncode == 0
    assert double in (app / "kustomization.yaml").read_text()  # left as written
    assert "image: 'redis:7'" not in (app / "kustomization.yaml").read_text()  # the others rewritten


def test_a_patch_that_is_not_yaml_is_one_error_line(tmp_path):
    app = make_repo(tmp_path / "repo")
    (app / "kustomization.yaml").write_text(
        KUSTOMIZATION.replace("        value: nginx:1.25", "        value: [nginx", 1)
    )
    gate = run("check", "apps/web/kustomization.yaml", cwd=app.parent.parent)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    assert "apps/web/kustomization.yaml:" in gate.stdout + gate.stderr
    assert "Traceback" not in gate.stderr
    assert run("rewrite", "apps/web/kustomization.yaml", cwd=app.parent.parent).returncode == 3
    assert "[nginx" in (app / "kustomization.yaml").read_text()


FLUX_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/plain
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  patches:
    - patch: |
        - op: replace
          path: /spec/template/spec/containers/1/image
          value: docker.io/bitnami/redis:7.2
      target:
        kind: Deployment
        name: web
"""


def flux_build(kubectl: str, root: Path, work: Path) -> list[dict]:
    """kustomize-controller: a kustomization generated for the plain folder, ``spec.patches``
    appended to its ``patches``, then kustomize."""
    spec = YAML(typ="safe", pure=True).load((root / "clusters/apps.yaml").read_text())["spec"]
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / spec["path"], work)
    files = sorted(p.relative_to(work).as_posix() for p in work.rglob("*.y*ml"))
    doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": files}
    doc["patches"] = spec["patches"]
    (work / "kustomization.yaml").write_text(json.dumps(doc))
    return build(kubectl, work)


def test_flux_spec_patches(tmp_path):
    kubectl = require_binary("kubectl")
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".git").mkdir()
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\nrules:\n  docker.io: docker-hub\n")
    (root / "apps/plain").mkdir(parents=True)
    (root / "apps/plain/deploy.yaml").write_text(DEPLOY.replace("ghcr.io/acme/", f"{REG}/github/acme/"))
    (root / "clusters").mkdir()
    (root / "clusters/apps.yaml").write_text(FLUX_KS)
    before = flux_build(kubectl, root, tmp_path / "build")
    assert "docker.io/bitnami/redis:7.2" in pod_images(before)
    gate = run("check", "clusters", cwd=root)
    assert gate.returncode == 1
    assert "clusters/apps.yaml:17:18: IM001 docker.io/bitnami/redis:7.2 is not pulled" in gate.stdout
    assert run("rewrite", "clusters", cwd=root).returncode == 0
    assert (root / "clusters/apps.yaml").read_text() == FLUX_KS.replace(
        "docker.io/bitnami/redis:7.2", f"{REG}/docker-hub/bitnami/redis:7.2"
    )
    after = flux_build(kubectl, root, tmp_path / "build")
    assert pod_images(after) == [i if i.startswith(REG) else cache_form(i) for i in pod_images(before)]
    assert without_images(after) == without_images(before)
