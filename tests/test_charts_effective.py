"""Effective images of a release and the plan that mirrors them, on charts built by the tests."""

import textwrap
from pathlib import Path

import pytest

from imagemirror.charts.chart import load_chart
from imagemirror.charts.discover import ChartRef, Layer, Release, clear_cache
from imagemirror.charts.effective import evaluate
from imagemirror.charts.plan import make_fetcher, plan_for_file
from imagemirror.config import load_settings
from integration.charts import ChartSpec, erpnext, wordpress

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture(autouse=True)
def _fresh_index():
    clear_cache()
    yield
    clear_cache()


def app(chart_path: str, values: str, name: str = "app", inline: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: {name}}}
        spec:
          source:
            repoURL: https://git.example/gitops.git
            path: {chart_path}
            helm:
              valueFiles: [../../{values}]
        """) + textwrap.indent(textwrap.dedent(inline), "      ")


@pytest.fixture
def repo(tmp_path):
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    (tmp_path / "apps").mkdir()
    (tmp_path / "env").mkdir()
    return tmp_path


def settings(repo):
    return load_settings(repo / ".imagemirror.yaml")


def images(views):
    return {(i.path, i.written, i.status, i.default_only) for v in views for i in v.images}


def plan(repo: Path, name: str, text: str):
    values = repo / "env" / name
    values.write_text(text)
    s = settings(repo)
    return plan_for_file(values, text, s, make_fetcher(s, repo, offline=True))


def test_bitnami_overlay_without_registry_resolves_through_the_chart_default(repo):
    wordpress(security=True).write_dir(repo / "charts" / "wordpress")
    (repo / "apps" / "wp.yaml").write_text(app("charts/wordpress", "env/wp.yaml"))
    p = plan(repo, "wp.yaml", "image:\n  repository: bitnami/wordpress\n  tag: 6.7.0\n")
    before = images(p.before)
    assert ("image", "docker.io/bitnami/wordpress:6.7.0", "unmirrored", False) in before
    assert ("mariadb.image", "docker.io/bitnami/mariadb:11.4.3-debian-12-r0", "unmirrored", True) in before
    assert not any(path.startswith("memcached") for path, *_ in before)  # condition false
    assert p.text == (
        "image:\n  repository: docker-hub/bitnami/wordpress\n  tag: 6.7.0\n"
        "  # imagemirror: overrides chart default registry: docker.io\n"
        f"  registry: {REG}\n"
        "volumePermissions:\n"
        "  # imagemirror: overrides chart default docker.io/bitnami/os-shell:12-debian-12-r30\n"
        f"  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/os-shell\n"
        "metrics:\n"
        "  # imagemirror: overrides chart default docker.io/bitnami/apache-exporter:1.0.8-debian-12-r0\n"
        f"  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/apache-exporter\n"
        "mariadb:\n"
        "  # imagemirror: overrides chart default docker.io/bitnami/mariadb:11.4.3-debian-12-r0\n"
        f"  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/mariadb\n"
        "  metrics:\n"
        "    # imagemirror: overrides chart default docker.io/bitnami/mysqld-exporter:0.15.1-debian-12-r0\n"
        f"    image:\n      registry: {REG}\n      repository: docker-hub/bitnami/mysqld-exporter\n"
        "global:\n  security:\n"
        "    # imagemirror: Bitnami charts refuse relocated images without this\n"
        "    allowInsecureImages: true\n"
    )
    assert {i.status for v in p.after for i in v.images} == {"mirrored"}
    # A second run changes nothing.
    assert plan(repo, "wp.yaml", p.text).changed is False


def test_erpnext_repository_only_map_gets_the_whole_name(repo):
    erpnext().write_dir(repo / "charts" / "erpnext")
    (repo / "apps" / "erp.yaml").write_text(app("charts/erpnext", "env/erp.yaml"))
    p = plan(repo, "erp.yaml", "image:\n  repository: frappe/erpnext\n  tag: v15.40.0\nredis-cache:\n  enabled: true\n")
    assert ("image", "frappe/erpnext:v15.40.0", "unmirrored", False) in images(p.before)
    assert p.text.startswith(f"image:\n  repository: {REG}/docker-hub/frappe/erpnext\n  tag: v15.40.0\n")
    assert "registry" not in p.text.split("redis-cache")[0]  # the chart has no registry key for it
    # the aliased subchart's default image goes under its alias
    assert (
        "redis-cache:\n  enabled: true\n"
        "  # imagemirror: overrides chart default docker.io/bitnami/redis:7.0.12\n"
        f"  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/redis\n"
    ) in p.text
    assert "redis-queue" not in p.text  # disabled: not rendered, not touched
    assert {i.status for v in p.after for i in v.images} == {"mirrored"}


def test_shared_global_registry_and_null_deletion(repo):
    wordpress().write_dir(repo / "charts" / "wordpress")
    (repo / "apps" / "wp.yaml").write_text(app("charts/wordpress", "env/wp.yaml"))
    p = plan(
        repo, "wp.yaml", "global:\n  imageRegistry: docker.io\nmetrics:\n  image: null\nvolumePermissions: {image: ~}\n"
    )
    paths = {i.path for v in p.before for i in v.images}
    assert paths == {"image", "mariadb.image", "mariadb.metrics.image"}  # nulls delete the defaults
    assert p.text.startswith(f"global:\n  imageRegistry: {REG}/docker-hub\n")
    assert {i.status for v in p.after for i in v.images} == {"mirrored"}


def test_inline_values_that_decide_an_image_are_reported_not_edited(repo):
    ChartSpec(
        "web", values="image: {registry: docker.io, repository: nginxinc/nginx-unprivileged, tag: '1.27'}\n"
    ).write_dir(repo / "charts" / "web")
    (repo / "apps" / "web.yaml").write_text(
        app(
            "charts/web",
            "env/web.yaml",
            inline="""\
        valuesObject:
          image: {repository: nginx}
        """,
        )
    )
    p = plan(repo, "web.yaml", "replicaCount: 2\n")
    assert not p.changed
    assert any("image.registry" not in n and "helm.valuesObject" in n for n in p.notes), p.notes


def test_values_file_without_release_is_untouched(repo):
    p = plan(repo, "lonely.yaml", "image: {repository: a/b}\n")
    assert p.before == [] and not p.changed


def test_evaluate_origin_positions(repo, tmp_path):
    values = tmp_path / "over.yaml"
    values.write_text("# x\nmariadb:\n  image:\n    repository: bitnamilegacy/mariadb\n")
    release = Release("wp", ChartRef("wordpress"), [Layer("over.yaml", values)])
    view = evaluate(release, load_chart(wordpress().tgz()), settings(repo))
    by_path = {i.path: i for i in view.images}
    m = by_path["mariadb.image"]
    assert (m.origin, m.line, m.column, m.default_only) == ("over.yaml", 4, 17, False)
    assert m.written == "docker.io/bitnamilegacy/mariadb:11.4.3-debian-12-r0"
    assert by_path["image"].default_only and by_path["image"].origin == "chart default (wordpress-23.1.0)"
    assert by_path["volumePermissions.image"].disabled and not by_path["image"].disabled


def test_image_split_across_files_is_written_whole_into_the_deciding_file(repo):
    """registry from a shared file, repository from the env file: both keys go to the env file
    (it has the higher priority), so the image is never half moved; the shared file is left
    to its own rewrite."""
    wordpress().write_dir(repo / "charts" / "wordpress")
    (repo / "apps" / "wp.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: wp}
        spec:
          sources:
            - repoURL: https://git.example/gitops.git
              path: charts/wordpress
              helm:
                valueFiles: [$values/env/common.yaml, $values/env/prod.yaml]
            - {repoURL: https://git.example/gitops.git, ref: values}
        """)
    )
    (repo / "env" / "common.yaml").write_text("image:\n  registry: docker.io\n")
    p = plan(repo, "prod.yaml", "image:\n  repository: bitnami/wordpress\n")
    assert p.text.startswith(
        f"image:\n  repository: docker-hub/bitnami/wordpress\n"
        "  # imagemirror: overrides chart default registry: docker.io\n"
        f"  registry: {REG}\n"
    )
    assert {i.status for v in p.after for i in v.images} == {"mirrored"}
    s = settings(repo)
    shared = plan_for_file(
        repo / "env" / "common.yaml", "image:\n  registry: docker.io\n", s, make_fetcher(s, repo, offline=True)
    )
    assert not shared.changed  # prod decides every image; nothing to write in the shared file


def test_registry_the_chart_never_reads_is_ignored(repo):
    """The hand-made ERPNext migration: `registry: <ECR>` + `repository: docker-hub/frappe/erpnext`
    renders `docker-hub/frappe/erpnext:<tag>` -- an image on Docker Hub that does not exist."""
    erpnext().write_dir(repo / "charts" / "erpnext")
    (repo / "apps" / "erp.yaml").write_text(app("charts/erpnext", "env/erp.yaml"))
    text = f"image:\n  registry: {REG}\n  repository: docker-hub/frappe/erpnext\n  tag: v15.40.0\n"
    p = plan(repo, "erp.yaml", text)
    image = next(i for v in p.before for i in v.images if i.path == "image")
    assert (image.written, image.status) == ("docker-hub/frappe/erpnext:v15.40.0", "unmirrored")
    assert image.target == f"{REG}/docker-hub/frappe/erpnext:v15.40.0"
    assert "the chart ignores `registry:" in image.hint
    assert p.text.startswith(f"image:\n  registry: {REG}\n  repository: {REG}/docker-hub/frappe/erpnext\n")
    assert {i.status for v in p.after for i in v.images} == {"mirrored"}


def test_cache_prefix_under_a_chart_default_registry_is_ambiguous_not_doubled(repo):
    """bitnami: `{repository: docker-hub/bitnami/wordpress}` without registry still pulls
    docker.io/docker-hub/...: reported, never rewritten to docker-hub/docker-hub/..."""
    wordpress().write_dir(repo / "charts" / "wordpress")
    (repo / "apps" / "wp.yaml").write_text(app("charts/wordpress", "env/wp.yaml"))
    text = "image:\n  repository: docker-hub/bitnami/wordpress\n  tag: 6.7.0\n"
    p = plan(repo, "wp.yaml", text)
    image = next(i for v in p.before for i in v.images if i.path == "image")
    assert (image.written, image.status) == ("docker.io/docker-hub/bitnami/wordpress:6.7.0", "ambiguous")
    assert "unfinished migration" in image.hint
    assert p.text.startswith(text)  # this image is left for a human; the defaults-only ones are moved
    assert any("unfinished migration" in n for n in p.notes)
