"""End to end, as a user would: a GitOps repository whose releases come from a classic chart
repository (HTTP on 127.0.0.1) and an OCI registry (Debian's docker-registry), declared by
Argo CD Applications, an umbrella Chart.yaml, a Flux HelmRelease and a helmfile.

``check --effective`` must fail on images only chart defaults name; ``rewrite --effective``
must leave every release resolving to the cache (checked by recomputing the effective values);
after one online run the same works ``--offline`` from the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from charts import ChartRepo, erpnext, mariadb, push_oci, wordpress
from conftest import REPO, require_binary
from registries import start_registry

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    binary = require_binary("docker-registry", "/usr/bin/docker-registry")
    work = tmp_path_factory.mktemp("chart-servers")
    registry = start_registry(work, "chart-oci", binary=binary)
    repo = ChartRepo(work / "www")
    try:
        host = registry.url.split("://", 1)[1]
        push_oci(registry.url, "bitnamicharts/mariadb", mariadb("20.0.0"))
        push_oci(registry.url, "bitnamicharts/mariadb", mariadb("20.1.0"))
        for version in ("23.0.0", "23.1.0"):
            push_oci(
                registry.url,
                "bitnamicharts/wordpress",
                wordpress(version, security=True, vendored=False, mariadb_repo=f"oci://{host}/bitnamicharts"),
            )
        for version in ("8.0.1", "8.0.2", "9.0.0"):
            repo.add(erpnext(version))
        yield {"oci": host, "repo": repo}
    finally:
        repo.close()
        registry.stop()


@pytest.fixture
def gitops(tmp_path, servers):
    root = tmp_path / "gitops"
    (root / ".git").mkdir(parents=True)
    write(root, ".imagemirror.yaml", f"registry: {REG}\n")
    oci, url = servers["oci"], servers["repo"].url
    write(
        root,
        "apps/erpnext.yaml",
        f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: erpnext-prod}}
        spec:
          sources:
            - repoURL: {url}
              chart: erpnext
              targetRevision: 8.0.x
              helm:
                valueFiles: [$values/envs/prod/erpnext.yaml]
            - repoURL: https://git.example/gitops.git
              ref: values
        """,
    )
    write(
        root,
        "apps/wordpress.yaml",
        f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: wordpress-prod}}
        spec:
          sources:
            - repoURL: {oci}/bitnamicharts
              chart: wordpress
              targetRevision: ^23.0.0
              helm:
                valueFiles: [$values/envs/prod/wordpress.yaml]
            - repoURL: https://git.example/gitops.git
              ref: values
        """,
    )
    write(
        root,
        "envs/prod/erpnext.yaml",
        """\
        # production ERPNext
        image:
          repository: frappe/erpnext
          tag: v15.40.0
        """,
    )
    write(
        root,
        "envs/prod/wordpress.yaml",
        """\
        image:
          repository: bitnami/wordpress   # the chart default registry applies
          tag: 6.7.0
        mariadb:
          auth:
            database: blog
        """,
    )
    # Flux: a HelmRelease whose values come from a kustomize ConfigMap of a repository file.
    write(
        root,
        "flux/sources.yaml",
        f"""\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {{name: bitnami, namespace: flux-system}}
        spec: {{type: oci, url: oci://{oci}/bitnamicharts}}
        """,
    )
    write(
        root,
        "flux/blog/release.yaml",
        """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: blog, namespace: blog}
        spec:
          chart:
            spec:
              chart: wordpress
              version: 23.0.0
              sourceRef: {kind: HelmRepository, name: bitnami, namespace: flux-system}
          valuesFrom:
            - {kind: ConfigMap, name: blog-values}
        """,
    )
    write(
        root,
        "flux/blog/kustomization.yaml",
        """\
        resources: [release.yaml]
        configMapGenerator:
          - name: blog-values
            files: [values.yaml=blog-values.yaml]
        """,
    )
    write(root, "flux/blog/blog-values.yaml", "memcached:\r\n  enabled: false\r\n")
    # helmfile
    write(
        root,
        "helmfile.yaml",
        f"""\
        repositories:
          - name: frappe
            url: {url}
        releases:
          - name: erp-hf
            chart: frappe/erpnext
            version: ~8.0.1
            values: [envs/hf/erpnext.yaml]
        """,
    )
    write(root, "envs/hf/erpnext.yaml", "redis-cache:\n    enabled: false\nredis-queue:\n    enabled: true\n")
    # An umbrella chart: erpnext as an aliased dependency, an env file beside Chart.yaml.
    write(
        root,
        "umbrella/Chart.yaml",
        f"""\
        apiVersion: v2
        name: umbrella
        version: 0.1.0
        dependencies:
          - name: erpnext
            alias: erp
            version: 8.0.x
            repository: {url}
        """,
    )
    write(root, "umbrella/values.yaml", "erp:\n  jobs:\n    configure:\n      enabled: true\n")
    write(root, "umbrella/values-prod.yaml", "erp:\n  image:\n    tag: v15.41.0\n")
    return root


def imagemirror(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_check_rewrite_check_then_offline(gitops, tmp_path):
    # imagemirror's model of Helm (values only): these charts have no templates to render
    env = {
        "IMAGEMIRROR_CACHE_DIR": str(tmp_path / "cache"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "IMAGEMIRROR_RENDERER": "model",
    }
    before = imagemirror("list", "--effective", "--format", "json", ".", cwd=gitops, env=env)
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)
    releases = {r["release"] for r in rows}
    assert releases == {"erpnext-prod", "wordpress-prod", "blog", "erp-hf", "umbrella"}
    def_only = {(r["release"], r["path"]) for r in rows if r["default_only"]}
    assert ("wordpress-prod", "mariadb.image") in def_only  # subchart fetched from the OCI registry
    assert ("erpnext-prod", "redis-cache.image") in def_only  # aliased subchart
    assert ("erp-hf", "redis-queue.image") in def_only  # enabled by the helmfile's values
    assert ("umbrella", "erp.redis-cache.image") in def_only  # two levels: umbrella -> erp -> redis
    assert ("blog", "image") in def_only
    erp = next(r for r in rows if r["release"] == "erpnext-prod" and r["path"] == "image")
    assert (erp["file"], erp["line"], erp["column"]) == ("envs/prod/erpnext.yaml", 3, 15)
    assert erp["upstream"] == "docker.io/frappe/erpnext:v15.40.0" and erp["status"] == "unmirrored"
    assert not [r for r in rows if r["status"] == "ambiguous"]

    check = imagemirror("check", "--effective", ".", cwd=gitops, env=env)
    assert check.returncode == 1, check.stderr
    assert "mariadb.image: chart default of mariadb-20.1.0" in check.stdout

    rewrite = imagemirror("rewrite", "--effective", ".", cwd=gitops, env=env)
    assert rewrite.returncode == 0, rewrite.stderr
    erp_text = (gitops / "envs/prod/erpnext.yaml").read_text()
    assert erp_text.startswith(f"# production ERPNext\nimage:\n  repository: {REG}/docker-hub/frappe/erpnext\n")
    wp_text = (gitops / "envs/prod/wordpress.yaml").read_text()
    assert wp_text.startswith(
        "image:\n  repository: docker-hub/bitnami/wordpress   # the chart default registry applies\n"
        f"  tag: 6.7.0\n  # imagemirror: overrides chart default registry: docker.io\n  registry: {REG}\n"
    )
    assert (
        "mariadb:\n  auth:\n    database: blog\n"
        "  # imagemirror: overrides chart default docker.io/bitnami/mariadb:11.4.3-debian-12-r0\n"
    ) in wp_text
    assert (gitops / "flux/blog/blog-values.yaml").read_bytes().count(b"\r\n") == (
        gitops / "flux/blog/blog-values.yaml"
    ).read_bytes().count(b"\n")  # CRLF kept
    assert (gitops / "umbrella/values-prod.yaml").read_text().startswith("erp:\n  image:\n")

    after = imagemirror("check", "--effective", ".", cwd=gitops, env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    again = imagemirror("rewrite", "--effective", "--check", ".", cwd=gitops, env=env)
    assert again.returncode == 0, again.stderr

    # Offline: the cache of the first run is enough; an empty cache is an external failure.
    offline = imagemirror("check", "--effective", "--offline", ".", cwd=gitops, env=env)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    empty = imagemirror(
        "check",
        "--effective",
        "--offline",
        ".",
        cwd=gitops,
        env={**env, "IMAGEMIRROR_CACHE_DIR": str(tmp_path / "empty")},
    )
    assert empty.returncode == 4
    assert "neither vendored nor cached" in empty.stdout + empty.stderr
