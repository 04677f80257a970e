"""Helpers for the rendering tests: the real charts of ../shared/charts (read in place, never
copied), their oracle (``render_images.py``, imported from there), GitOps trees whose Argo CD
Applications point at them, and the ``helm`` shim on PATH.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, skip_or_fail

# ../shared/charts of the project (IMAGEMIRROR_SHARED_CHARTS overrides; a git worktree one level
# deeper finds it one level up)
CHARTS = next(
    (
        p
        for p in (
            Path(os.environ.get("IMAGEMIRROR_SHARED_CHARTS", REPO.parent / "shared" / "charts")),
            REPO.parent.parent / "shared" / "charts",
        )
        if (p / "RENDERED.tsv").is_file()
    ),
    REPO.parent / "shared" / "charts",
)
SHIM = Path(__file__).resolve().parent / "helm_shim" / "helm"
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"

# Values of ours that turn optional components on (metrics exporters, volume-permission init
# containers, subcharts, sidecars, test hooks).  Each was checked to render.
OVERLAYS: dict[str, dict] = {
    "wordpress-27.0.0": {
        "volumePermissions": {"enabled": True},
        "metrics": {"enabled": True},
        "memcached": {"enabled": True},
        "mariadb": {"volumePermissions": {"enabled": True}},
    },
    "mariadb-23.0.1": {"metrics": {"enabled": True}, "volumePermissions": {"enabled": True}},
    "mongodb-17.0.2": {
        "architecture": "replicaset",
        "arbiter": {"enabled": True},
        "metrics": {"enabled": True},
        "volumePermissions": {"enabled": True},
    },
    "postgresql-17.1.0": {"metrics": {"enabled": True}, "volumePermissions": {"enabled": True}},
    "redis-23.1.1": {
        "metrics": {"enabled": True},
        "sentinel": {"enabled": True},
        "volumePermissions": {"enabled": True},
    },
    "keycloak-25.4.0": {"keycloakConfigCli": {"enabled": True}, "metrics": {"enabled": True}},
    "erpnext-8.0.75": {
        "persistence": {"worker": {"storageClass": "nfs"}},
        "jobs": {
            "volumePermissions": {"enabled": True},
            "createSite": {"enabled": True, "siteName": "erp.example.com"},
        },
        "mariadb-subchart": {"enabled": True},
    },
    "kube-prometheus-stack-88.5.3": {"thanosRuler": {"enabled": True}},
    "ingress-nginx-4.15.1": {"defaultBackend": {"enabled": True}, "controller": {"metrics": {"enabled": True}}},
    "argo-cd-10.1.1": {"redis-ha": {"enabled": True}, "redis": {"enabled": False}},
    "external-dns-1.21.1": {"policy": "upsert-only", "extraContainers": [{"name": "extra", "image": "busybox:1.36"}]},
    "traefik-41.3.0": {"deployment": {"initContainers": [{"name": "init", "image": "busybox:1.36"}]}},
    "velero-12.1.0": {
        "deployNodeAgent": True,
        "initContainers": [{"name": "aws", "image": "velero/velero-plugin-for-aws:v1.10.0"}],
    },
}


def charts_dir() -> Path:
    if not (CHARTS / "RENDERED.tsv").is_file():
        skip_or_fail(f"real charts not found at {CHARTS} (../shared/charts)")
    return CHARTS


def require_sdk():
    try:
        import helm_python
    except ImportError:
        skip_or_fail("helm-python-sdk is not installed (pip install -e '.[helm]')")
    return helm_python


def oracle():
    """``render_images.py`` of ../shared/charts, imported in place."""
    spec = importlib.util.spec_from_file_location("render_images", CHARTS / "render_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered_tsv() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    with open(CHARTS / "RENDERED.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.setdefault(row["chart"], []).append(row)
    return out


def chart_name(folder: str) -> str:
    return folder.rsplit("-", 1)[0]


def write_tree(root: Path, charts: dict[str, tuple[str, dict | None, dict | None]], env: str = "prod") -> Path:
    """A GitOps tree: ``charts/<app>`` links to a real chart, ``apps/<app>.yaml`` an Argo CD
    Application (path source + ``$values`` file), ``environments/<env>/<app>/values.yaml``.

    ``charts``: app -> (chart folder, required values or None, overlay or None)."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    for app, (folder, required, extra) in charts.items():
        link = root / "charts" / app
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(CHARTS / folder, target_is_directory=True)
        values = root / "environments" / env / app / "values.yaml"
        values.parent.mkdir(parents=True, exist_ok=True)
        data = merge(required or {}, extra or {})
        values.write_text(dump_yaml(data) if data else "{}\n")
        name = chart_name(folder)
        app_doc = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": app, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
                "sources": [
                    {
                        "repoURL": "https://git.example.com/gitops.git",
                        "targetRevision": "main",
                        "path": f"charts/{app}",
                        "helm": {"releaseName": name, "valueFiles": [f"$values/environments/{env}/{app}/values.yaml"]},
                    },
                    {"repoURL": "https://git.example.com/gitops.git", "targetRevision": "main", "ref": "values"},
                ],
            },
        }
        (root / "apps").mkdir(exist_ok=True)
        (root / "apps" / f"{app}.yaml").write_text(dump_yaml(app_doc))
    return root


def dump_yaml(data) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def required_values(folder: str) -> dict | None:
    path = CHARTS / f"{folder}.render-values.yaml"
    if not path.is_file():
        return None
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text()) or {}


def shim_bin(tmp: Path) -> Path:
    """A ``bin`` folder with the ``helm`` shim (run by this interpreter) for PATH."""
    folder = tmp / "bin"
    folder.mkdir(exist_ok=True)
    text = SHIM.read_text().split("\n", 1)[1]
    (folder / "helm").write_text(f"#!{sys.executable}\n{text}")
    (folder / "helm").chmod(0o755)
    return folder


def imagemirror(*args, cwd: Path, env: dict | None = None, path_prefix: Path | None = None):
    full = {**os.environ, "PYTHONPATH": str(REPO), "IMAGEMIRROR_CACHE_DIR": str(cwd / ".no-cache"), **(env or {})}
    if path_prefix is not None:
        full["PATH"] = f"{path_prefix}{os.pathsep}{full.get('PATH', '')}"
    else:  # no helm on PATH: the SDK (or the model) decides
        full["PATH"] = os.pathsep.join(
            p for p in full.get("PATH", "").split(os.pathsep) if not (Path(p) / "helm").exists()
        )
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
        timeout=900,
    )


def listed(out) -> list[dict]:
    return json.loads(out.stdout)


def row_key(row: dict, erpnext_job: bool = True) -> tuple:
    """(template, kind, container, field, image) -- the name left out: erpnext's configure Job
    is named after the render time."""
    container = row.get("container")
    return (row["template"], row["kind"], "-" if container in (None, "-") else container, row["field"], row["image"])
