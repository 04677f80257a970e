"""``warm`` warms what the releases pull where a chart is found (``--effective`` on by default).

"A chart is found": a release discovered for the file (here an Argo CD Application) whose chart
is a folder of the repository, vendored, or in the chart cache -- never fetched without
``--effective``.  Any other release, and any file no release reads, is warmed as its values
text says.  ``--no-effective`` reads the values text only; one stderr line per release says
which mode gave its images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from render_support import dump_yaml

REG = "127.0.0.1:9"  # nothing listens: every pull fails fast, and the targets are in the JSON

CHART = """apiVersion: v2
name: app
version: 1.0.0
appVersion: "2.5.0"
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
"""


def application(name: str, source: dict, values: str) -> str:
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "sources": [
                {**source, "helm": {"releaseName": name, "valueFiles": [f"$values/{values}"]}},
                {"repoURL": "https://git.example.com/gitops.git", "targetRevision": "main", "ref": "values"},
            ],
        },
    }
    return dump_yaml(doc)


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "gitops")


def make_tree(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(
        f'registry: {REG}\nrules:\n  docker.io: docker-hub\nexclude: ["**/charts/**"]\n'
    )
    chart = root / "charts" / "app"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text("image:\n  repository: nginx\n  tag: 1.27.3\n")
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (root / "apps").mkdir()
    # a chart in this repository: found; its env file names no image (the chart default renders)
    (root / "apps" / "app.yaml").write_text(
        application(
            "app",
            {"repoURL": "https://git.example.com/gitops.git", "targetRevision": "main", "path": "charts/app"},
            "environments/prod/app/values.yaml",
        )
    )
    # a chart repository the cache has never seen: not found, so its file is warmed as written
    (root / "apps" / "remote.yaml").write_text(
        application(
            "remote",
            {"repoURL": "https://127.0.0.1:9/charts", "chart": "remote", "targetRevision": "1.0.0"},
            "environments/prod/remote/values.yaml",
        )
    )
    for folder, text in {
        "app": "replicaCount: 2\n",
        "remote": "image: busybox:1.36\n",
        "lone": "image: redis:7.2\n",
    }.items():
        (root / "environments" / "prod" / folder).mkdir(parents=True)
        (root / "environments" / "prod" / folder / "values.yaml").write_text(text)
    # a plain manifest: read by the default source (manifests, kustomizations...) as without --effective
    (root / "environments" / "prod" / "lone" / "cache.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cache\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: cache\n          image: memcached:1.6\n"
    )
    return root


def targets(root: Path, renderer: str, fallback: bool = True) -> set[str]:
    from imagemirror.charts.discover import clear_cache
    from imagemirror.charts.source import EffectiveSource
    from imagemirror.config import load_settings
    from imagemirror.inventory import scan
    from imagemirror.warm import targets_from_refs

    clear_cache()
    settings = load_settings(root / ".imagemirror.yaml")
    source = EffectiveSource(offline=True, renderer=renderer, fallback=fallback)
    found = scan([root / "environments" / "prod"], settings, source=source)
    got, problems = targets_from_refs(found.refs)
    assert problems == []
    assert [r.error for r in found.results if r.error] == []
    return {str(t.ref) for t in got}


def renderers() -> list[str]:
    try:
        import helm_python  # noqa: F401
    except ImportError:
        return ["model"]
    return ["model", "sdk"]


@pytest.mark.parametrize("renderer", renderers())
def test_found_chart_renders_the_rest_is_read_as_written(tree, monkeypatch, renderer):
    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(tree / ".cache"))
    assert targets(tree, renderer) == {
        f"{REG}/docker-hub/library/nginx:1.27.3",  # the chart's default: no values file names it
        f"{REG}/docker-hub/library/busybox:1.36",  # remote chart not cached: the values text
        f"{REG}/docker-hub/library/redis:7.2",  # no release reads the file
        f"{REG}/docker-hub/library/memcached:1.6",  # a manifest
    }
    assert not (tree / ".cache").exists() or not any((tree / ".cache").rglob("*.tgz"))  # nothing fetched


def test_a_cached_chart_is_found(tree, monkeypatch):
    """A chart archive in the cache counts as found: the remote release renders too (model: no
    Helm needed), and its tag comes from the chart (the values file names only the repository)."""
    import io
    import tarfile

    cache = tree / ".cache"
    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(cache))
    (tree / "environments" / "prod" / "remote" / "values.yaml").write_text("image:\n  repository: busybox\n")
    from imagemirror.charts import fetch

    folder = cache / "archives" / fetch._key("https://127.0.0.1:9/charts")
    folder.mkdir(parents=True)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in {
            "remote/Chart.yaml": CHART.replace("name: app", "name: remote"),
            "remote/values.yaml": 'image:\n  repository: nginx\n  tag: "1.36.1"\n',
            "remote/templates/deployment.yaml": DEPLOYMENT,
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    (folder / "remote-1.0.0.tgz").write_bytes(data.getvalue())
    got = targets(tree, "model")
    assert f"{REG}/docker-hub/library/busybox:1.36.1" in got  # rendered from the cached chart
    assert not any(t.startswith(f"{REG}/docker-hub/library/busybox:latest") for t in got)


def test_without_fallback_a_missing_chart_is_an_error(tree, monkeypatch):
    """``--effective --offline``: the same tree, a chart not found is the release's error."""
    from imagemirror.charts.discover import clear_cache
    from imagemirror.charts.source import EffectiveSource
    from imagemirror.config import load_settings
    from imagemirror.inventory import scan

    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(tree / ".cache"))
    clear_cache()
    found = scan(
        [tree / "environments" / "prod"],
        load_settings(tree / ".imagemirror.yaml"),
        source=EffectiveSource(offline=True, renderer="model"),
    )
    errors = [str(r.error) for r in found.results if r.error]
    assert len(errors) == 1 and "release remote" in errors[0] and "neither vendored nor cached" in errors[0]
    assert found.service_failed


def warm(root: Path, *args):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "IMAGEMIRROR_CACHE_DIR": str(root / ".cache"),
        "IMAGEMIRROR_RENDERER": "model",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagemirror",
            "warm",
            "--insecure",
            "--deadline",
            "3",
            "--format",
            "json",
            *args,
            "environments/prod",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    images = {i["image"] for i in json.loads(done.stdout)["images"]} if done.stdout.strip() else set()
    return done, images


def test_cli_default_mode_lines_and_no_effective(tree):
    done, images = warm(tree)
    assert done.returncode == 1, done.stderr  # the pulls fail (nothing listens); no chart fetch was tried
    assert images == {
        f"{REG}/docker-hub/library/nginx:1.27.3",
        f"{REG}/docker-hub/library/busybox:1.36",
        f"{REG}/docker-hub/library/redis:7.2",
        f"{REG}/docker-hub/library/memcached:1.6",
    }
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("imagemirror warm: ")]
    assert lines == [
        "imagemirror warm: release app (apps/app.yaml): the chart model (values only), chart charts/app",
        (
            "imagemirror warm: release remote (apps/remote.yaml): its values as written (chart neither vendored nor "
            "cached; --effective fetches the chart)"
        ),
        "imagemirror warm: 2 other files read as written (no release with a chart reads it)",  # lone
    ], done.stderr
    assert "fetching" not in done.stderr and "Traceback" not in done.stderr

    plain, images = warm(tree, "--no-effective")
    assert plain.returncode == 1, plain.stderr
    assert images == {
        f"{REG}/docker-hub/library/busybox:1.36",
        f"{REG}/docker-hub/library/redis:7.2",
        f"{REG}/docker-hub/library/memcached:1.6",
    }
    assert "imagemirror warm: " not in plain.stderr

    both, _ = warm(tree, "--effective", "--no-effective")
    assert both.returncode == 2 and "exclude each other" in both.stderr

    offline, _ = warm(tree, "--effective", "--offline")
    assert offline.returncode == 4 and "release remote" in offline.stderr
