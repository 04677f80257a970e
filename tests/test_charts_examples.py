"""The three releases of examples/gitops, offline from their vendored charts, as a new user
would run them: check --effective lists every image they pull (default-only and subchart images
included), rewrite --effective moves all of them onto the cache, and recomputing the effective
values finds nothing unmirrored and nothing ambiguous."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imagemirror.charts.discover import clear_cache
from imagemirror.charts.plan import make_fetcher, views_for
from imagemirror.config import load_settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gitops"
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


def imagemirror(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "IMAGEMIRROR_CACHE_DIR": str(cwd / ".no-cache")},
    )


@pytest.fixture
def gitops(tmp_path):
    dest = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, dest)
    (dest / ".git").mkdir()
    clear_cache()
    yield dest
    clear_cache()


def effective(root: Path, env: str) -> dict:
    """(release, path) -> image, recomputed through the library (not the CLI)."""
    clear_cache()
    settings = load_settings(root / ".imagemirror.yaml")
    fetcher = make_fetcher(settings, root, offline=True)
    out = {}
    for app in ("wordpress", "rocketchat", "erpnext"):
        for view in views_for(root / "environments" / env / app / "values.yaml", settings, fetcher):
            for image in view.images:
                out[(view.release.name, image.path)] = image
    return out


def test_check_effective_lists_every_image_the_releases_pull(gitops):
    # the model's inventory (values only; the trimmed charts' templates render less: test_render_examples.py)
    out = imagemirror(
        "list", "--effective", "--offline", "--renderer", "model", "--format", "json", "environments/prod", cwd=gitops
    )
    assert out.returncode == 0, out.stderr
    rows = {(r["release"], r["path"]): r for r in json.loads(out.stdout)}
    assert {release for release, _ in rows} == {"wordpress", "rocketchat-prod", "erpnext-prod"}
    default_only = {key for key, r in rows.items() if r["default_only"]}
    assert {
        ("wordpress", "mariadb.volumePermissions.image"),  # subchart default
        ("rocketchat-prod", "microservices.account.image"),  # repository-only default
        ("rocketchat-prod", "nats.bootconfig.image"),  # subchart of strings
        ("rocketchat-prod", "mongodb.tls.image"),
        ("erpnext-prod", "nginx.image"),  # ERPNext's own, composed without registry
        ("erpnext-prod", "valkey-cache.metrics.exporter.image"),  # aliased subchart (ghcr.io)
    } <= default_only
    assert not any(r["status"] == "ambiguous" for r in rows.values())
    # The overlay's ambiguous maps are settled by the charts: no registry key in ERPNext's
    # image (repository:tag), the chart default registry for valkey.
    assert rows[("erpnext-prod", "image")]["upstream"] == "docker.io/frappe/erpnext:v16.32.3"
    assert rows[("erpnext-prod", "valkey-cache.image")]["upstream"] == "docker.io/valkey/valkey:7.2"
    assert not any(key[1].startswith(("redis-cache", "memcached")) for key in rows)  # disabled subcharts

    check = imagemirror("check", "--effective", "--offline", "--renderer", "model", "environments/prod", cwd=gitops)
    assert check.returncode == 1
    assert "nginx.image: chart default of erpnext-8.0.23" in check.stdout


def test_rewrite_effective_moves_every_image_onto_the_cache(gitops):
    before = {p: p.read_bytes() for p in (gitops / "charts").rglob("*") if p.is_file()}
    out = imagemirror("rewrite", "--effective", "--offline", "environments", cwd=gitops)
    assert out.returncode == 0, out.stderr
    assert "left for review" not in out.stderr
    for env in ("prod", "staging"):
        images = effective(gitops, env)
        assert images, env
        wrong = {k: (i.written, i.status) for k, i in images.items() if i.status != "mirrored"}
        assert wrong == {}
        assert all(i.written.startswith(REG + "/") for i in images.values())
    erp = (gitops / "environments/prod/erpnext/values.yaml").read_text()
    assert f"image:\n  repository: {REG}/docker-hub/frappe/erpnext\n  tag: v16.32.3\n" in erp
    assert (
        "valkey-cache:\n  enabled: true\n  image:\n    repository: docker-hub/valkey/valkey\n"
        '    tag: "7.2" # check for latest version\n'
        "    # imagemirror: overrides chart default registry: docker.io\n"
        f"    registry: {REG}\n"
    ) in erp
    staging = (gitops / "environments/staging/erpnext/values.yaml").read_bytes()
    assert b"\n" not in staging.replace(b"\r\n", b"")  # still CRLF throughout
    assert {p: p.read_bytes() for p in (gitops / "charts").rglob("*") if p.is_file()} == before
    second = imagemirror("rewrite", "--effective", "--offline", "--check", "environments", cwd=gitops)
    assert second.returncode == 0, second.stderr
    assert imagemirror("check", "--effective", "--offline", "environments", cwd=gitops).returncode == 0
