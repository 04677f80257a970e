"""kustomize's ``images:`` after a rewrite, judged by real kustomize (``kubectl kustomize``).

For every overlay of ``tests/fixtures/gitops-kustomize`` that kustomize can build here (not
the ``helmCharts`` one: that needs a helm binary), the output before and after ``rewrite``
differ only in image strings, and each image after is exactly the cache's form of the image
before (``list``'s target for it).  A second rewrite changes nothing; ``--revert`` gives
outputs that deploy the same upstream images again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from conftest import require_binary

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "gitops-kustomize" / "input"
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
OVERLAYS = ("base", "overlays/prod", "overlays/dev")


def build(kubectl: str, folder: Path) -> list:
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return list(YAML(typ="safe", pure=True).load_all(out.stdout))


def images(docs) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("initContainers", "containers"):
                for c in node.get(key) or []:
                    found.append(c["image"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(docs)
    return found


def blank_images(node):
    if isinstance(node, dict):
        return {k: ("<image>" if k == "image" else blank_images(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [blank_images(v) for v in node]
    return node


def cache_form(image: str) -> str:
    """The cache's form of ``image``, computed here: Docker Hub's implicit host and
    ``library/`` made explicit, then ``<registry>/<prefix>/``."""
    rules = {"docker.io": "docker-hub", "quay.io": "quay", "ghcr.io": "github", "registry.k8s.io": "k8s"}
    name, sep, rest = image.partition("@") if "@" in image else (image, "", "")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon:] if colon > slash else ""
    name = name[: len(name) - len(tag)]
    first = name.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        host, path = first, name.split("/", 1)[1]
    else:
        host, path = "docker.io", name
    if host == "docker.io" and "/" not in path:
        path = "library/" + path
    return f"{REG}/{rules[host]}/{path}{tag}{sep}{rest}"


def upstream_form(image: str) -> str:
    assert image.startswith(REG + "/"), image
    rest = image[len(REG) + 1 :]
    prefix, _, path = rest.partition("/")
    host = {"docker-hub": "docker.io", "quay": "quay.io", "github": "ghcr.io", "k8s": "registry.k8s.io"}[prefix]
    return f"{host}/{path}"


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_every_overlay_still_deploys_what_it_did_from_the_cache(tmp_path):
    kubectl = require_binary("kubectl")
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    before = {o: build(kubectl, root / o) for o in OVERLAYS}
    assert images(before["overlays/prod"]) == ["nginx:1.26", "quay.io/opstree/redis:v7.0.12"]
    assert images(before["overlays/dev"]) == ["nginx:1.26", "quay.io/opstree/redis:v7.2.0"]

    done = run("rewrite", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    after = {o: build(kubectl, root / o) for o in OVERLAYS}
    for overlay in OVERLAYS:
        # nothing but image strings changed, and each is the cache's form of what was deployed
        assert blank_images(after[overlay]) == blank_images(before[overlay]), overlay
        assert images(after[overlay]) == [cache_form(i) for i in images(before[overlay])], overlay

    again = run("rewrite", ".", cwd=root)
    assert again.returncode == 0 and "changed 0 of" in again.stderr
    assert {o: build(kubectl, root / o) for o in OVERLAYS} == after

    back = run("rewrite", "--revert", ".", cwd=root)
    assert back.returncode == 0, back.stderr
    reverted = {o: build(kubectl, root / o) for o in OVERLAYS}
    for overlay in OVERLAYS:
        assert blank_images(reverted[overlay]) == blank_images(before[overlay])
        assert images(reverted[overlay]) == [upstream_form(i) for i in images(after[overlay])], overlay


def test_a_base_rewritten_first_is_followed_by_its_overlays(tmp_path):
    """``rewrite base`` alone, then ``rewrite overlays``: the overlays' ``name`` entries are
    moved to match the base's new names (kustomize compares the written strings)."""
    kubectl = require_binary("kubectl")
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    before = {o: build(kubectl, root / o) for o in OVERLAYS}
    assert run("rewrite", "base", cwd=root).returncode == 0
    assert run("rewrite", "overlays", cwd=root).returncode == 0
    for overlay in OVERLAYS:
        after = build(kubectl, root / overlay)
        assert images(after) == [cache_form(i) for i in images(before[overlay])], overlay


def set_image(entry: str) -> dict:
    """``kustomize edit set image ENTRY`` as kustomize documents it (``name=newName:tag``,
    ``name:tag``, ``name@digest``), as the images entry it writes.  (Modelled: Argo CD runs
    the kustomize binary, which these machines lack; ``kubectl kustomize`` then builds.)"""
    name, eq, new = entry.partition("=")
    out = {"name": name}
    image = new if eq else name
    if "@" in image:
        image, out["digest"] = image.split("@", 1)
    slash, colon = image.rfind("/"), image.rfind(":")
    if colon > slash:
        image, out["newTag"] = image[:colon], image[colon + 1 :]
    if eq:
        out["newName"] = image
    else:
        out["name"] = image
    return out


def test_argocd_kustomize_images_keep_deploying_what_they_did(tmp_path):
    """An Application's ``kustomize.images`` over a kustomization of this repository: after the
    rewrite, the source's output pulls the same images, from the cache."""
    import json

    kubectl = require_binary("kubectl")
    root = tmp_path / "repo"
    shutil.copytree(REPO / "tests" / "fixtures" / "gitops-argocd" / "input", root)
    app = root / "apps" / "guestbook.yaml"

    def argo_build() -> list[str]:
        data = YAML(typ="safe", pure=True).load(app.read_text())
        path = root / data["spec"]["source"]["path"]
        work = tmp_path / "build"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(path, work)
        kfile = work / "kustomization.yaml"
        doc = YAML(typ="safe", pure=True).load(kfile.read_text())
        doc["images"] = [set_image(e) for e in data["spec"]["source"]["kustomize"]["images"]]
        kfile.write_text(json.dumps(doc))
        return images(build(kubectl, work))

    before = argo_build()
    assert before == ["gcr.io/heptio-images/ks-guestbook-demo:0.3", "docker.io/library/busybox:1.36", "redis:7.4"]
    assert run("rewrite", ".", cwd=root).returncode == 0
    after = argo_build()
    assert after[0] == before[0]  # gcr.io: no cache rule
    assert after[1:] == [cache_form(i) for i in before[1:]]
