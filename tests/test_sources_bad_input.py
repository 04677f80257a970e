"""Bad input in the sources beyond values files: one clear line with file:line:column, the
exit code from the table, nothing else affected, nothing modified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
GOOD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.25\n"


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "GITHUB_ACTIONS": ""},
    )


def repo(tmp_path: Path, files: dict) -> Path:
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


def test_a_manifest_that_is_not_valid_yaml(tmp_path):
    root = repo(tmp_path, {"bad.yaml": "apiVersion: apps/v1\nkind: Deployment\nspec:\n  x: [1, 2\n  y: 3\n"})
    check = run("check", "--format", "text", ".", cwd=root)
    assert check.returncode == 3
    assert "bad.yaml:5:" in check.stdout and "IM100" in check.stdout and "invalid YAML" in check.stdout
    assert "good.yaml:7:14: IM001" in check.stdout  # the other file is still checked
    before = snapshot(root)
    done = run("rewrite", ".", cwd=root)
    assert done.returncode == 3
    assert errors(done.stderr) == [errors(done.stderr)[0]] and "bad.yaml:5:" in done.stderr
    assert (root / "bad.yaml").read_bytes() == before[root / "bad.yaml"]
    assert f"image: {REG}/docker-hub/library/nginx:1.25" in (root / "good.yaml").read_text()
    assert "Traceback" not in check.stderr + done.stderr


def test_a_kustomization_naming_a_missing_file(tmp_path):
    text = "resources:\n  - good.yaml\n  - missing.yaml\nimages:\n  - name: nginx\n    newTag: '1.26'\n"
    root = repo(tmp_path, {"kustomization.yaml": text})
    check = run("check", "--format", "text", ".", cwd=root)
    assert check.returncode == 3
    assert "kustomization.yaml:3:5: IM100 resource 'missing.yaml' not found" in check.stdout
    done = run("rewrite", ".", cwd=root)
    assert done.returncode == 3
    assert "kustomization.yaml:3:5: resource 'missing.yaml' not found" in done.stderr
    assert (root / "kustomization.yaml").read_text() == text  # untouched
    assert REG in (root / "good.yaml").read_text()  # the rest still rewritten


def test_an_applicationset_template_is_reported_templated(tmp_path):
    text = (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n"
        "  template:\n    spec:\n      source:\n        helm:\n          values: |\n"
        "            image:\n              repository: {{ .repo }}\n              tag: {{.tag}}\n"
    )
    root = repo(tmp_path, {"appset.yaml": text})
    (root / "good.yaml").unlink()
    check = run("check", "--format", "json", ".", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    import json

    found = [(f["file"], f["line"], f["column"], f["code"], f["message"]) for f in json.loads(check.stdout)["findings"]]
    assert found == [("appset.yaml", 11, 27, "IM006", "{{ .repo }}:{{.tag}} is templated; not checked")]
    assert run("rewrite", ".", cwd=root).returncode == 0
    assert (root / "appset.yaml").read_text() == text


def test_a_helmrelease_whose_values_come_from_a_secret_not_in_the_repo(tmp_path):
    text = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n"
        "  valuesFrom:\n    - kind: Secret\n      name: prod-values\n  values:\n    image: nginx:1.25\n"
    )
    root = repo(tmp_path, {"release.yaml": text})
    check = run("check", "--format", "text", ".", cwd=root)
    assert check.returncode == 1  # the inline image is still found
    notes = [l for l in check.stderr.splitlines() if "valuesFrom" in l]
    assert notes == [
        "imagemirror: note: release.yaml:7:13: valuesFrom Secret 'prod-values' is not generated from "
        "a file of this repository; the images it sets are not checked"
    ]
    assert "release.yaml:9:12: IM001" in check.stdout


def test_helm_values_that_are_not_yaml(tmp_path):
    text = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source:\n"
        "    helm:\n      values: |\n        image: nginx:1.25\n        tag: [oops\n"
    )
    root = repo(tmp_path, {"app.yaml": text})
    check = run("check", "--format", "text", ".", cwd=root)
    assert check.returncode == 3
    line = next(l for l in check.stdout.splitlines() if "app.yaml" in l)
    assert line.startswith("app.yaml:10:") and "spec.source.helm.values is not valid YAML" in line
    assert run("rewrite", ".", cwd=root).returncode == 3
    assert (root / "app.yaml").read_text() == text


def test_vendored_charts_are_never_scanned_as_manifests(tmp_path):
    tpl = (
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - image: {{ .Values.image }}\n          name: x\n        - image: busybox\n          name: y\n"
    )
    root = repo(
        tmp_path,
        {
            "vendor/mychart/Chart.yaml": "apiVersion: v2\nname: mychart\nversion: 1.0.0\n",
            "vendor/mychart/templates/deploy.yaml": tpl,
            "vendor/mychart/crds/job.yaml": GOOD,
            "vendor/mychart/values.yaml": "image: nginx:1.25\n",
        },
    )
    listed = run("list", ".", cwd=root)
    files = {line.split(":", 1)[0] for line in listed.stdout.splitlines()}
    assert files == {"good.yaml", "vendor/mychart/values.yaml"}


def test_exclude_applies_to_manifests(tmp_path):
    root = repo(tmp_path, {"skip/pod.yaml": GOOD})
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\nexclude: ['skip/**']\n")
    listed = run("list", ".", cwd=root)
    assert [line.split(":", 1)[0] for line in listed.stdout.splitlines()] == ["good.yaml"]


def test_a_kustomization_resource_that_is_a_fifo_or_a_link_is_never_read(tmp_path):
    """Matching images: entries against resources reads them, but never follows a symbolic
    link and never opens a FIFO (it would block): the FIFO is an error at its line:column."""
    outside = tmp_path / "outside.yaml"
    outside.write_text(GOOD)
    (tmp_path / "r").mkdir()
    root = repo(
        tmp_path / "r", {"kustomization.yaml": "resources: [link.yaml]\nimages:\n- name: nginx\n  newTag: '2'\n"}
    )
    os.symlink(outside, root / "link.yaml")
    listed = run("list", "--format", "json", ".", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert '"path": "images[0].name"' in listed.stdout
    # the link was not read: nothing matched, so the rewrite adds newName rather than renaming
    assert run("rewrite", ".", cwd=root).returncode == 0
    assert "- name: nginx\n  newName: " in (root / "kustomization.yaml").read_text()
    os.mkfifo(root / "fifo.yaml")
    (root / "kustomization.yaml").write_text("resources: [fifo.yaml]\n")
    done = subprocess.run(
        [sys.executable, "-m", "imagemirror", "check", "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 3
    assert "kustomization.yaml:1:13: IM100 resource 'fifo.yaml' is not a regular file" in done.stdout
