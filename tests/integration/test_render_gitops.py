"""The issue's "Done when", tried as a new user would: GitOps trees whose Argo CD Applications
point at real charts -- ours under tmp (wordpress and erpnext of ../shared/charts, read in place
through a symlink) and examples/gitops (its own hand-made charts) -- checked, rewritten and
checked again with real Helm rendering each release; and the same commands without the
``[helm]`` extra and without ``helm`` on PATH: today's model, with one line on stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render_support import REG, charts_dir, imagemirror, required_values, require_sdk, write_tree  # noqa: E402

from conftest import REPO  # noqa: E402

BLOCK_SDK = """import sys
class _NoHelm:
    def find_spec(self, name, path=None, target=None):
        if name == "helm_python" or name.startswith("helm_python."):
            raise ModuleNotFoundError("No module named 'helm_python' (blocked by the test)")
        return None
sys.meta_path.insert(0, _NoHelm())
"""


@pytest.fixture
def real_tree(tmp_path):
    charts_dir()
    require_sdk()
    root = write_tree(
        tmp_path / "gitops",
        {
            "wordpress": ("wordpress-27.0.0", None, {"image": {"tag": "6.8.2-debian-12-r4"}}),
            "erpnext": ("erpnext-8.0.75", required_values("erpnext-8.0.75"), None),
        },
    )
    return root


def test_check_names_every_rendered_image_with_template_and_tag_then_rewrite_settles_it(real_tree):
    root = real_tree
    listed = json.loads(
        imagemirror("list", "--effective", "--offline", "--format", "json", "environments/prod", cwd=root).stdout
    )
    rendered = {(r["release"], r["template"], r["container"], r["rendered"]) for r in listed}
    assert (
        "wordpress",
        "wordpress/templates/deployment.yaml",
        "wordpress",
        "docker.io/bitnami/wordpress:6.8.2-debian-12-r4",
    ) in rendered
    assert ("erpnext", "erpnext/templates/deployment-gunicorn.yaml", "gunicorn", "frappe/erpnext:v16.32.3") in rendered
    check = imagemirror("check", "--effective", "--offline", "environments/prod", cwd=root)
    assert check.returncode == 1, check.stderr
    for release, template, container, image in rendered:
        lines = [ln for ln in check.stdout.splitlines() if image in ln and template in ln]
        assert lines, (release, template, container, image)
    busybox = [ln for ln in check.stdout.splitlines() if " IM007 busybox " in ln]
    assert busybox and "erpnext/templates/tests/test-connection.yaml" in busybox[0]
    assert "Pod/erpnext-test-connection" in busybox[0] and "container wget" in busybox[0]
    assert "kustomize patch or Helm post-renderer" in busybox[0]

    rewrite = imagemirror("rewrite", "--effective", "--offline", "environments/prod", cwd=root)
    assert rewrite.returncode == 0, rewrite.stderr
    after = imagemirror("check", "--effective", "--offline", "--format", "json", "environments/prod", cwd=root)
    findings = json.loads(after.stdout)["findings"]
    # only what a chart change can fix is left: the literal busybox of a test hook, a warning
    assert [(f["code"], f["reference"], f["level"]) for f in findings] == [("IM007", "busybox", "warning")]
    assert after.returncode == 0, after.stdout
    again = json.loads(
        imagemirror("list", "--effective", "--offline", "--format", "json", "environments/prod", cwd=root).stdout
    )
    moved = {(r["release"], r["template"], r["container"]): r["rendered"] for r in again}
    for release, template, container, image in rendered:
        if image == "busybox":
            continue
        now = moved[(release, template, container)]
        assert now.startswith(REG + "/"), (template, container, now)
        assert now.rsplit(":", 1)[-1] == image.rsplit(":", 1)[-1]  # the same tag it rendered before


def test_examples_gitops_renders_with_real_helm(tmp_path):
    require_sdk()
    root = tmp_path / "gitops"
    shutil.copytree(REPO / "examples" / "gitops", root)
    (root / ".git").mkdir()
    check = imagemirror("check", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=root)
    assert check.returncode == 1, check.stderr
    assert "IM100" not in check.stdout, check.stdout  # every chart renders
    assert "wordpress/templates/deployment.yaml: Deployment/wordpress container wordpress" in check.stdout
    assert "docker.io/bitnami/wordpress:6.8.2-debian-12-r5" in check.stdout


def test_without_the_extra_and_without_helm_everything_works_as_today_with_one_note(real_tree, tmp_path):
    site = tmp_path / "nosdk"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_SDK)
    env = {"PYTHONPATH": f"{site}:{REPO}"}
    today = imagemirror("check", "--effective", "--offline", "--renderer", "model", "environments/prod", cwd=real_tree)
    got = imagemirror("check", "--effective", "--offline", "environments/prod", cwd=real_tree, env=env)
    assert got.returncode == today.returncode
    assert got.stdout == today.stdout
    notes = [ln for ln in got.stderr.splitlines() if "templates were not evaluated" in ln]
    assert len(notes) == 1, got.stderr
    assert "pip install 'imagemirror[helm]'" in notes[0]
    refused = imagemirror(
        "check", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=real_tree, env=env
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_warm_effective_targets_exactly_the_rendered_tags(real_tree, monkeypatch):
    """What ``warm --effective`` pulls (its targets, computed as the command computes them):
    every rendered image's cache path with the tag it renders -- before and after the rewrite --
    and nothing that does not render (a literal image cannot be moved: not warmed)."""
    from imagemirror.charts.discover import clear_cache
    from imagemirror.charts.source import EffectiveSource
    from imagemirror.config import load_settings
    from imagemirror.inventory import scan
    from imagemirror.warm import targets_from_refs

    monkeypatch.chdir(real_tree)
    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(real_tree / ".no-cache"))
    settings = load_settings(real_tree / ".imagemirror.yaml")

    def targets():
        clear_cache()
        found = scan([Path("environments/prod")], settings, source=EffectiveSource(offline=True, renderer="sdk"))
        got, problems = targets_from_refs(found.refs)
        assert problems == []
        return {str(t.ref) for t in got}, found.refs

    before, refs = targets()
    rendered = {r.written for r in refs}
    assert "busybox" in rendered  # listed, but literal: nothing to warm
    want = {
        f"{REG}/docker-hub/bitnami/wordpress:6.8.2-debian-12-r4",
        f"{REG}/docker-hub/bitnami/mariadb:12.0.2-debian-12-r0",
        f"{REG}/docker-hub/frappe/erpnext:v16.32.3",
        f"{REG}/docker-hub/valkey/valkey:7.2",
    }
    assert before == want
    assert imagemirror("rewrite", "--effective", "--offline", "environments/prod", cwd=real_tree).returncode == 0
    after, refs = targets()
    assert after == want  # the same tags: the overrides carry none, the release renders them
    assert all(r.status == "mirrored" for r in refs if r.written != "busybox")


def test_list_all_shows_what_the_values_name_but_does_not_render_and_why(real_tree):
    plain = json.loads(
        imagemirror(
            "list",
            "--effective",
            "--offline",
            "--renderer",
            "sdk",
            "--format",
            "json",
            "environments/prod",
            cwd=real_tree,
        ).stdout
    )
    every = json.loads(
        imagemirror(
            "list",
            "--effective",
            "--offline",
            "--renderer",
            "sdk",
            "--all",
            "--format",
            "json",
            "environments/prod",
            cwd=real_tree,
        ).stdout
    )
    assert not any(r["status"] == "not-rendered" for r in plain)
    missing = {(r["release"], r["path"]): r for r in every if r["status"] == "not-rendered"}
    # WordPress names its metrics exporter and volume-permissions images; with the defaults neither renders
    assert missing[("wordpress", "metrics.image")]["hint"] == "under enabled: false"
    assert missing[("wordpress", "metrics.image")]["written"].startswith("docker.io/bitnami/apache-exporter:")
    assert ("wordpress", "volumePermissions.image") in missing
    rendered = {r["rendered"] for r in plain}
    assert not any(
        r["written"] in rendered and r["hint"] != "under enabled: false"
        for r in missing.values()
        if r["written"].startswith("docker.io/bitnami/wordpress")
    )

    def same(rows):  # erpnext's configure Job is named after the render time
        return [{k: v for k, v in r.items() if k != "name"} for r in rows]

    assert same(r for r in every if r["status"] != "not-rendered") == same(plain)
