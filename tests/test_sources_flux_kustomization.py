"""Flux ``Kustomization`` (``kustomize.toolkit.fluxcd.io/v1``) ``spec.images``.

kustomize-controller writes ``spec.images`` into the kustomization at ``spec.path`` (an entry
of the same ``name`` replaced, else appended; a folder without a kustomization gets one listing
its YAML files: fluxcd/pkg ``kustomize.Generator``) and builds it.  ``check`` must see the
entries and ``rewrite`` edit them as a kustomization's own entries are edited; real kustomize
(``kubectl kustomize``) then builds what Flux would build, before and after, and every image is
the cache's form of the image before.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import require_binary
from helpers import REG, cache_form, run

DIGEST = "sha256:" + "b" * 64

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: nginx:1.25
        - name: cache
          image: redis
"""

KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/{folder}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  images:
    - name: nginx
      newName: ghcr.io/acme/nginx   # the overlay's own build
      newTag: "1.27"
    - name: redis
      newTag: "7.2"
    - {{name: busybox, digest: "{digest}"}}
"""


def make_repo(root: Path, with_kustomization: bool) -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    folder = "web" if with_kustomization else "plain"
    app = root / "apps" / folder
    app.mkdir(parents=True)
    (app / "deploy.yaml").write_text(DEPLOY)
    if with_kustomization:
        (app / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deploy.yaml]\n"
            "images:\n  - name: redis\n    newTag: '6'\n"  # replaced by the Flux entry of that name
        )
    (root / "clusters").mkdir()
    ks = root / "clusters" / "apps.yaml"
    ks.write_text(KS.format(folder=folder, digest=DIGEST))
    return ks


def flux_build(kubectl: str, root: Path, ks: Path, work: Path) -> list[str]:
    """What kustomize-controller builds for ``ks``: its ``spec.images`` merged into the
    kustomization at ``spec.path`` as fluxcd/pkg's generator merges them, then kustomize."""
    spec = YAML(typ="safe", pure=True).load(ks.read_text())["spec"]
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / spec["path"], work)
    kfile = work / "kustomization.yaml"
    if kfile.exists():
        doc = YAML(typ="safe", pure=True).load(kfile.read_text())
    else:
        files = sorted(p.relative_to(work).as_posix() for p in work.rglob("*.y*ml"))
        doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": files}
    images = doc.setdefault("images", [])
    for entry in spec.get("images") or []:
        same = next((i for i, e in enumerate(images) if e.get("name") == entry["name"]), None)
        if same is None:
            images.append(dict(entry))
        else:
            images[same] = dict(entry)
    kfile.write_text(json.dumps(doc))
    out = subprocess.run([kubectl, "kustomize", str(work)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found = []
    for obj in YAML(typ="safe", pure=True).load_all(out.stdout):
        pod = obj["spec"]["template"]["spec"]
        found += [c["image"] for c in pod.get("initContainers", []) + pod["containers"]]
    return found


def test_check_sees_every_spec_images_entry(tmp_path):
    root = tmp_path / "repo"
    make_repo(root, with_kustomization=True)
    done = run("list", "--format", "json", "clusters", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = [
        (r["line"], r["column"], r["path"], r["written"], r["status"], r["source"]) for r in json.loads(done.stdout)
    ]
    assert rows == [
        (15, 16, "spec.images[0].newName", "ghcr.io/acme/nginx:1.27", "unmirrored", "flux"),
        (17, 13, "spec.images[1].name", "redis:7.2", "unmirrored", "flux"),
        (19, 14, "spec.images[2].name", f"busybox@{DIGEST}", "unmirrored", "flux"),
    ]
    gate = run("check", "clusters", cwd=root)
    assert gate.returncode == 1
    assert (
        f"clusters/apps.yaml:15:16: IM001 ghcr.io/acme/nginx:1.27 is not pulled through the cache; use {REG}/github/acme/nginx:1.27"
        in gate.stdout
    )


@pytest.mark.parametrize("with_kustomization", [True, False], ids=["kustomization", "generated"])
def test_rewrite_keeps_what_flux_deploys_from_the_cache(tmp_path, with_kustomization):
    kubectl = require_binary("kubectl")
    root = tmp_path / "repo"
    ks = make_repo(root, with_kustomization)
    before = flux_build(kubectl, root, ks, tmp_path / "build")
    assert before == [f"busybox@{DIGEST}", "ghcr.io/acme/nginx:1.27", "redis:7.2"]
    done = run("rewrite", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    text = ks.read_text()
    # the entry matching the base follows its new name; the others get newName; comments kept
    assert f"    - name: {REG}/docker-hub/library/nginx\n      newName: {REG}/github/acme/nginx   # the overlay" in text
    assert f"    - name: {REG}/docker-hub/library/redis\n" in text  # follows the base's `redis`
    after = flux_build(kubectl, root, ks, tmp_path / "build")
    assert after == [cache_form(i) for i in before]
    assert run("check", ".", cwd=root).returncode == 0
    again = run("rewrite", ".", cwd=root)
    assert again.returncode == 0 and "changed 0 of" in again.stderr


def test_an_entry_whose_path_is_not_here_gets_newname(tmp_path):
    """``spec.path`` of another repository: nothing here matches, so ``newName`` is inserted."""
    root = tmp_path / "repo"
    ks = make_repo(root, with_kustomization=True)
    ks.write_text(ks.read_text().replace("./apps/web", "./elsewhere"))
    assert run("rewrite", "clusters", cwd=root).returncode == 0
    text = ks.read_text()
    assert f'    - name: redis\n      newName: {REG}/docker-hub/library/redis\n      newTag: "7.2"\n' in text
    assert f"name: busybox, newName: {REG}/docker-hub/library/busybox, digest:" in text
