"""Images a release takes from its inline values are listed once, where they are written.

An Argo CD Application's ``helm.values`` / ``valuesObject`` / ``parameters`` and a Flux
HelmRelease's ``spec.values`` are read twice with ``--effective``: as the release's values
(its rendered images) and as the manifest's text.  Each image must be one record, at the line
and column of the inline key, in ``list``, ``check`` and ``warm`` (and its suppression comment
must hold for the release's record too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from render_support import shim_bin

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        - name: side
          image: {{ .Values.sidecar.image | quote }}
"""

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  destination: {namespace: web}
  source:
    repoURL: https://git.example.com/gitops.git
    path: charts/web
    helm:
      values: |
        image:
          repository: quay.io/acme/web
          tag: "2.0"
      parameters:
        - name: sidecar.image
          value: ghcr.io/acme/side:3   # imagemirror: ignore
"""

FLUX = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: https://git.example.com/gitops.git}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: api, namespace: flux-system}
spec:
  chart:
    spec: {chart: charts/web, sourceRef: {kind: GitRepository, name: flux-system}}
  values:
    image: {repository: quay.io/acme/api, tag: "1.0"}
    sidecar:
      image: docker.io/library/busybox:1.36
"""


def repo(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    chart = root / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(
        f"image:\n  repository: {ECR}/docker-hub/library/nginx\n  tag: '1.25'\nsidecar:\n"
        f"  image: {ECR}/docker-hub/library/alpine:3\n"
    )
    (chart / "templates" / "deploy.yaml").write_text(TEMPLATE)
    (root / "apps").mkdir()
    (root / "apps" / "web.yaml").write_text(APP)
    (root / "apps" / "api.yaml").write_text(FLUX)
    return root


def cli(*args, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "IMAGEMIRROR_CACHE_DIR": str(cwd / ".cache")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not (Path(p) / "helm").exists())
    if "helm" in args:  # tests/helm_shim/helm stands in for the binary (no registry here carries it)
        env["PATH"] = f"{shim_bin(cwd.parent)}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def renderers() -> list[str]:
    try:
        import helm_python  # noqa: F401
    except ImportError:
        return ["model"]
    return ["model", "sdk", "helm"]


EXPECTED = [
    ("apps/api.yaml", 13, 25, "quay.io/acme/api:1.0"),
    ("apps/api.yaml", 15, 14, "docker.io/library/busybox:1.36"),
    ("apps/web.yaml", 13, 23, "quay.io/acme/web:2.0"),
    ("apps/web.yaml", 17, 18, "ghcr.io/acme/side:3"),  # suppressed: check and warm skip it
]


@pytest.mark.parametrize("renderer", renderers())
def test_each_inline_image_once_at_its_inline_key(tmp_path, renderer):
    root = repo(tmp_path / "repo")
    done = cli("list", "--effective", "--offline", "--renderer", renderer, "--format", "json", "apps", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    got = sorted((r["file"], r["line"], r["column"], r["written"]) for r in rows)
    assert got == EXPECTED, rows
    assert all(r["release"] in ("web", "api") for r in rows)

    check = cli("check", "--effective", "--offline", "--renderer", renderer, "apps", cwd=root)
    assert check.returncode == 1, check.stderr
    lines = check.stdout.splitlines()
    assert [ln.split(": IM")[0] for ln in lines] == [
        "apps/api.yaml:13:25",
        "apps/api.yaml:15:14",
        "apps/web.yaml:13:23",
    ]
    assert "1 suppressed" in check.stderr


@pytest.mark.parametrize("renderer", renderers())
def test_warm_pulls_each_once_from_its_inline_key(tmp_path, monkeypatch, renderer):
    from imagemirror.charts.discover import clear_cache
    from imagemirror.charts.source import EffectiveSource
    from imagemirror.config import load_settings
    from imagemirror.inventory import scan
    from imagemirror.warm import targets_from_refs

    root = repo(tmp_path / "repo")
    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(root / ".cache"))
    monkeypatch.chdir(root)
    if renderer == "helm":
        monkeypatch.setenv("PATH", f"{shim_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    clear_cache()
    source = EffectiveSource(offline=True, renderer=renderer)
    found = scan([Path("apps")], load_settings(root / ".imagemirror.yaml"), source=source)
    targets, problems = targets_from_refs(found.refs)
    assert problems == []
    got = sorted((str(t.ref), tuple(t.sources)) for t in targets)
    assert got == [
        (f"{ECR}/docker-hub/library/busybox:1.36", ("apps/api.yaml:15:14",)),
        (f"{ECR}/quay/acme/api:1.0", ("apps/api.yaml:13:25",)),
        (f"{ECR}/quay/acme/web:2.0", ("apps/web.yaml:13:23",)),
    ]  # the suppressed ghcr.io sidecar is not warmed


@pytest.mark.parametrize("renderer", renderers())
def test_an_inline_value_a_later_layer_overrides_is_not_listed(tmp_path, renderer):
    """``helm.values`` names one sidecar, ``parameters`` another: the release pulls the second."""
    root = repo(tmp_path / "repo")
    app = root / "apps" / "web.yaml"
    app.write_text(
        app.read_text().replace(
            '          tag: "2.0"\n', '          tag: "2.0"\n        sidecar:\n          image: quay.io/acme/old:1\n'
        )
    )
    (root / "apps" / "api.yaml").unlink()
    done = cli("list", "--effective", "--offline", "--renderer", renderer, "--format", "json", "apps", cwd=root)
    assert done.returncode == 0, done.stderr
    got = sorted((r["line"], r["written"]) for r in json.loads(done.stdout))
    assert got == [(13, "quay.io/acme/web:2.0"), (19, "ghcr.io/acme/side:3")]


@pytest.mark.parametrize("renderer", renderers())
def test_values_object_replaces_the_values_string(tmp_path, renderer):
    """Argo CD renders ``valuesObject`` when it is set and ignores ``values`` then
    (``ApplicationSourceHelm.ValuesYAML``): the image's repository is the chart's default."""
    root = repo(tmp_path / "repo")
    app = root / "apps" / "web.yaml"
    app.write_text(
        app.read_text().replace(
            "      parameters:\n",
            "      valuesObject:\n        image: {tag: '5'}\n      parameters:\n",
        )
    )
    (root / "apps" / "api.yaml").unlink()
    done = cli("list", "--effective", "--offline", "--renderer", renderer, "--format", "json", "apps", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["written"] for r in rows} == {f"{ECR}/docker-hub/library/nginx:5", "ghcr.io/acme/side:3"}
    assert all(r.get("release") == "web" for r in rows)  # the ignored values string is not listed
