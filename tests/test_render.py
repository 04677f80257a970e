"""The renderer's pure parts (manifest walking, ``helm template`` output, sentinels and their
tracing), the renderer choice, and that the SDK is imported only when a release is rendered."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from imagemirror.charts import provenance as prov
from imagemirror.charts import render
from render_support import CHARTS, require_sdk


def test_images_of_walks_every_container_list_and_other_image_fields():
    manifests = {
        "c/templates/a.yaml": """---
# Source: c/templates/a.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: job
  annotations: {helm.sh/hook: "test-success"}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: init, image: "busybox:1.36"}]
          containers:
            - {name: main, image: "nginx:1.27"}
          ephemeralContainers: [{name: debug, image: "alpine"}]
---
kind: List
items:
  - kind: Prometheus
    metadata: {name: p}
    spec: {image: "quay.io/prometheus/prometheus:v3"}
---
# only a comment
""",
        "c/templates/NOTES.txt": "image: not-a-manifest\n",
        "c/crds/crd.yaml": "kind: CustomResourceDefinition\nspec: {image: {type: string}}\n",
    }
    got = [(i.kind, i.name, i.container, i.field, i.image, i.is_test_hook) for i in render.images_of(manifests)]
    assert got == [
        ("CronJob", "job", "init", "spec.jobTemplate.spec.template.spec.initContainers[0]", "busybox:1.36", True),
        ("CronJob", "job", "main", "spec.jobTemplate.spec.template.spec.containers[0]", "nginx:1.27", True),
        ("CronJob", "job", "debug", "spec.jobTemplate.spec.template.spec.ephemeralContainers[0]", "alpine", True),
        ("Prometheus", "p", None, "spec.image", "quay.io/prometheus/prometheus:v3", False),
    ]


def test_a_rendered_document_that_is_not_yaml_is_one_clear_error():
    with pytest.raises(render.RenderError) as err:
        render.images_of({"c/templates/bad.yaml": "image: [unclosed\n"})
    assert str(err.value).startswith("c/templates/bad.yaml: rendered manifest is not YAML")


def test_helm_template_output_is_split_by_source():
    text = (
        "---\n# Source: c/crds/x.yaml\nkind: CustomResourceDefinition\n"
        "---\n# Source: c/templates/d.yaml\nkind: Deployment\n---\n# Source: c/templates/d.yaml\nkind: Service\n"
    )
    out = render.parse_template_output(text)
    assert sorted(out) == ["c/crds/x.yaml", "c/templates/d.yaml"]
    assert [d.strip().split("\n")[-1] for d in render.split_documents(out["c/templates/d.yaml"])] == [
        "kind: Deployment",
        "kind: Service",
    ]


def test_helm_cli_command_is_what_argo_cd_runs():
    cli = render.HelmCli("/usr/bin/helm")
    cmd = cli.command(REPO, ["a.json", "b.json"], render.RenderOptions("blog", "web", "1.31.0", ("x/v1", "y/v2")))
    assert cmd == [
        "/usr/bin/helm",
        "template",
        "blog",
        str(REPO),
        "--namespace",
        "web",
        "--include-crds",
        "-f",
        "a.json",
        "-f",
        "b.json",
        "--kube-version",
        "1.31.0",
        "--api-versions",
        "x/v1",
        "--api-versions",
        "y/v2",
    ]


def test_candidates_cover_image_maps_strings_and_globals_but_not_unrelated_keys():
    values = {
        "registry": "txt",  # external-dns' TXT registry: not an image
        "global": {"imageRegistry": "", "image": {"repository": "quay.io/argoproj/argocd", "tag": ""}},
        "image": {"registry": "docker.io", "repository": "bitnami/wordpress", "tag": "6.8.2", "digest": ""},
        "operator": {"registry": "quay.io", "repository": "strimzi", "name": "operator", "tag": "0.27.1"},
        "traefik": {"image": {"registry": None, "repository": None, "tag": None}},
        "sidecars": [{"name": "s", "image": "busybox:1.36"}],
        "serviceAccount": {"name": "sa"},
        "mariadb": {"global": {"imageRegistry": "x"}, "image": {"repository": "bitnami/mariadb", "tag": "12"}},
    }
    got = {(prov.dotted(c.keypath), c.role) for c in prov.candidates(values)}
    assert got == {
        ("global.image.repository", "repository"),
        ("image.registry", "registry"),
        ("image.repository", "repository"),
        ("image.tag", "tag"),
        ("operator.registry", "registry"),
        ("operator.repository", "repository"),
        ("operator.name", "name"),
        ("operator.tag", "tag"),
        ("traefik.image.registry", "registry"),
        ("traefik.image.repository", "repository"),
        ("sidecars[0].image", "image"),
        ("mariadb.image.repository", "repository"),
        ("mariadb.image.tag", "tag"),
    }


def test_overlay_and_trace_round_trip():
    values = {
        "image": {"registry": "docker.io", "repository": "bitnami/x", "tag": "1.0", "digest": "sha256:" + "a" * 64},
        "extra": [{"name": "e", "image": "busybox"}],
    }
    cands = prov.candidates(values)
    layer, tokens = prov.overlay(values, cands)
    assert layer["global"]["security"]["allowInsecureImages"] is True
    assert layer["extra"][0]["name"] == "e"  # a list is set whole, its other keys kept
    image = f"{layer['image']['registry']}/{layer['image']['repository']}:{layer['image']['tag']}@{layer['image']['digest']}"
    traced = prov.trace(image, tokens)
    assert traced.controlled
    assert [(r, prov.dotted(k)) for r, k in traced.keys] == [
        ("registry", "image.registry"),
        ("repository", "image.repository"),
        ("tag", "image.tag"),
        ("digest", "image.digest"),
    ]
    assert layer["image"]["tag"].startswith("1.0+")  # semver build metadata: semverCompare ignores it
    assert prov.trace(layer["extra"][0]["image"], tokens).keys == [("image", ("extra", 0, "image"))]
    literal = prov.trace("docker.io/library/busybox:1.36", tokens)
    assert literal.literal and literal.describe() == "literal in the template"
    # a literal host before a key's repository: values cannot move it either
    assert not prov.trace(f"docker.io/{layer['image']['repository']}", tokens).controlled


def test_choose_falls_back_to_the_model_with_one_note(monkeypatch, capsys):
    monkeypatch.setattr(render, "helm_binary", lambda: None)
    monkeypatch.setattr(render, "sdk_available", lambda: False)
    assert render.choose("auto") is None
    assert render.choose("model") is None
    from imagemirror.errors import ConfigError

    with pytest.raises(ConfigError, match="no `helm` binary"):
        render.choose("helm")
    with pytest.raises(ConfigError, match="pip install 'imagemirror\\[helm\\]'"):
        render.choose("sdk")
    monkeypatch.setattr(render, "helm_binary", lambda: "/opt/helm")
    assert isinstance(render.choose("auto"), render.HelmCli)


def test_check_without_effective_never_imports_the_sdk(tmp_path):
    (tmp_path / "values.yaml").write_text("image: nginx:1.27\n")
    code = (
        "import sys, imagemirror.cli as c\n"
        "try:\n    c.main(['check', '--registry', '123456789012.dkr.ecr.af-south-1.amazonaws.com', 'values.yaml'])\n"
        "except SystemExit:\n    pass\n"
        "print('helm_python' in sys.modules, 'imagemirror.charts.render' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip().splitlines()[-1] == "False False", out.stderr


def test_sdk_renderer_directly_on_a_real_chart():
    require_sdk()
    if not (CHARTS / "wordpress-27.0.0").is_dir():
        from conftest import skip_or_fail

        skip_or_fail(f"real charts not found at {CHARTS}")
    sdk = render.Sdk()
    try:
        manifests = sdk.render(
            CHARTS / "wordpress-27.0.0", [{}, {"image": {"tag": "6.8.3"}}], render.RenderOptions("blog", "web")
        )
    finally:
        sdk.release_done()
    images = {(i.container, i.image) for i in render.images_of(manifests)}
    assert ("wordpress", "docker.io/bitnami/wordpress:6.8.3") in images  # the later layer wins
    assert ("mariadb", "docker.io/bitnami/mariadb:12.0.2-debian-12-r0") in images
    with pytest.raises(render.RenderError, match="helm template failed"):
        sdk.render(CHARTS / "erpnext-8.0.75", [{}], render.RenderOptions("erp"))  # needs a storageClass


def test_a_disabled_subchart_in_one_release_does_not_leak_into_the_next():
    """Helm's render drops disabled subcharts from the loaded chart (processDependencyEnabled
    mutates it): each release of one chart gets its own load, so a release that disables
    mariadb leaves the next release of the same chart, in the same thread, with mariadb."""
    require_sdk()
    if not (CHARTS / "wordpress-27.0.0").is_dir():
        from conftest import skip_or_fail

        skip_or_fail(f"real charts not found at {CHARTS}")
    from imagemirror.charts.discover import ChartRef, Layer, Release
    from imagemirror.charts.fetch import Fetcher
    from imagemirror.charts.rendered import render_release

    fetcher = Fetcher(offline=True)
    ref = ChartRef(name="wordpress", path=CHARTS / "wordpress-27.0.0")
    model = fetcher.chart(ref)
    sdk = render.Sdk()

    def containers(values):
        release = Release("blog", ref, [Layer("inline", data=values)], "test")
        return {i.container for i in render_release(release, model, fetcher, sdk).images}

    with_memcached = containers({"memcached": {"enabled": True}})
    assert {"wordpress", "mariadb", "memcached"} <= with_memcached
    assert "mariadb" not in containers({"mariadb": {"enabled": False}})
    assert containers({"memcached": {"enabled": True}}) == with_memcached
    assert "mariadb" in containers({})


def test_releases_carry_what_helm_template_needs(tmp_path):
    """Release name, namespace, kube version and API versions as Argo CD, Flux and helmfile set them."""
    from imagemirror.charts.discover import clear_cache, index

    (tmp_path / ".git").mkdir()
    (tmp_path / "app.yaml").write_text("""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  destination: {namespace: shop}
  source:
    repoURL: https://charts.example.com
    chart: web
    targetRevision: 1.0.0
    helm: {releaseName: shop-web, kubeVersion: "1.31.0", apiVersions: [monitoring.coreos.com/v1]}
""")
    (tmp_path / "flux.yaml").write_text("""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: repo, namespace: flux-system}
spec: {url: https://charts.example.com}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: api, namespace: flux-system}
spec:
  targetNamespace: backend
  chart: {spec: {chart: api, version: 2.x, sourceRef: {kind: HelmRepository, name: repo}}}
""")
    (tmp_path / "helmfile.yaml").write_text("""kubeVersion: v1.30.2
apiVersions: [gateway.networking.k8s.io/v1]
repositories: [{name: ex, url: https://charts.example.com}]
releases:
  - {name: db, namespace: data, chart: ex/db, version: 3.0.0}
""")
    clear_cache()
    got = {r.name: (r.namespace, r.kube_version, r.api_versions) for r in index(tmp_path).releases}
    clear_cache()
    assert got == {
        "shop-web": ("shop", "1.31.0", ("monitoring.coreos.com/v1",)),
        "api": ("backend", "", ()),
        "db": ("data", "v1.30.2", ("gateway.networking.k8s.io/v1",)),
    }


def _fake_helm(folder, body: str):
    folder.mkdir(exist_ok=True)
    script = folder / "helm"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(0o755)
    return folder


def test_a_failing_or_garbled_helm_is_one_line_per_release_and_nothing_is_written(tmp_path):
    import shutil as sh

    from render_support import imagemirror

    root = tmp_path / "gitops"
    sh.copytree(REPO / "examples" / "gitops", root)
    (root / ".git").mkdir()
    before = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    failing = _fake_helm(
        tmp_path / "fail", "sys.stderr.write('Error: chart requires kubeVersion: >=1.99\\n'); sys.exit(1)"
    )
    out = imagemirror(
        "check", "--effective", "--offline", "--renderer", "helm", "environments/prod", cwd=root, path_prefix=failing
    )
    assert out.returncode == 3, out.stderr
    errors = [ln for ln in out.stdout.splitlines() if "IM100" in ln]
    assert len(errors) == 3 and all("helm template failed: Error: chart requires kubeVersion" in ln for ln in errors)
    assert "Traceback" not in out.stderr
    garbled = _fake_helm(tmp_path / "garbled", "print('---\\n# Source: x/templates/a.yaml\\nimage: [unclosed')")
    out = imagemirror(
        "rewrite", "--effective", "--offline", "--renderer", "helm", "environments/prod", cwd=root, path_prefix=garbled
    )
    assert out.returncode == 3, out.stderr
    assert "x/templates/a.yaml: rendered manifest is not YAML" in out.stderr and "Traceback" not in out.stderr
    assert {p: p.read_bytes() for p in root.rglob("*.yaml")} == before


def test_a_dependency_not_under_charts_is_fetched_into_a_temporary_copy(tmp_path):
    """What ``helm dependency build`` would do: the chart is rendered from a copy whose
    ``charts/`` holds the dependency the fetcher found (here vendored elsewhere in the repo)."""
    require_sdk()
    from imagemirror.charts.discover import ChartRef
    from imagemirror.charts.fetch import Fetcher

    app = tmp_path / "app"
    (app / "templates").mkdir(parents=True)
    (app / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n"
        "  - {name: lib, version: 0.1.x, repository: https://charts.example.com}\n"
    )
    (app / "templates" / "d.yaml").write_text(
        'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, image: "{{ .Values.image }}"}\n'
    )
    (app / "values.yaml").write_text("image: nginx:1.27\n")
    lib = tmp_path / "vendor" / "lib"
    (lib / "templates").mkdir(parents=True)
    (lib / "Chart.yaml").write_text("apiVersion: v2\nname: lib\nversion: 0.1.2\n")
    (lib / "templates" / "d.yaml").write_text(
        'kind: Pod\nmetadata: {name: q}\nspec:\n  containers:\n    - {name: b, image: "{{ .Values.image }}"}\n'
    )
    (lib / "values.yaml").write_text("image: redis:7\n")
    fetcher = Fetcher(offline=True, vendored=[tmp_path / "vendor"], cache=tmp_path / "cache")
    ref = ChartRef(name="app", path=app)
    got = render.materialize(ref, fetcher.chart(ref), fetcher)
    try:
        assert got.path != app and (got.path / "charts" / "lib" / "Chart.yaml").is_file()
        sdk = render.Sdk()
        images = {i.image for i in render.images_of(sdk.render(got.path, [], render.RenderOptions("x")))}
        sdk.release_done()
        assert images == {"nginx:1.27", "redis:7"}
    finally:
        got.cleanup()
    assert not got.path.exists() and not (app / "charts").exists()  # the user's chart is never touched


POD = """apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
    - name: main
      image: {{ .Values.image | quote }}
    - name: sidecar
      image: SIDECAR
"""


def _app_chart(folder, version: str, sidecar: str, values: str) -> None:
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: app\nversion: {version}\n")
    (folder / "values.yaml").write_text(values)
    (folder / "templates" / "pod.yaml").write_text(POD.replace("SIDECAR", sidecar))


def test_im007_names_a_newer_vendored_chart_version_that_exposes_a_key(tmp_path):
    """A literal image in the chart's template; version 1.1.0 of the chart, vendored here, sets
    that container's image from ``sidecar.image``: the hint names the version and the key.
    Without it the generic advice stays."""
    import json

    from render_support import imagemirror

    require_sdk()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(
        'registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\nexclude: ["vendor/**"]\n'
        'charts:\n  "values.yaml": vendor/app-1.0.0\n'
    )
    (tmp_path / "values.yaml").write_text("image: nginx:1.27\n")
    _app_chart(tmp_path / "vendor" / "app-1.0.0", "1.0.0", "busybox:1.36", "image: nginx:1.26\n")

    def im007():
        out = imagemirror(
            "check", "--effective", "--offline", "--renderer", "sdk", "--format", "json", ".", cwd=tmp_path
        )
        found = [f for f in json.loads(out.stdout)["findings"] if f["code"] == "IM007"]
        assert len(found) == 1, out.stdout + out.stderr
        return found[0]["message"]

    generic = im007()
    assert "take a chart version that exposes an image key" in generic and "1.1.0" not in generic
    _app_chart(
        tmp_path / "vendor" / "app-1.1.0",
        "1.1.0",
        "{{ .Values.sidecar.image | quote }}",
        "image: nginx:1.26\nsidecar:\n  image: busybox:1.36\n",
    )
    named = im007()
    assert "busybox:1.36 is written literally in chart app-1.0.0" in named
    assert "chart app 1.1.0 (vendored) sets it from values key sidecar.image" in named, named


def test_helm_plain_is_what_real_helm_prints_for_plain_scalars(tmp_path):
    """The walker's model of how Helm prints an unquoted tag (``1.10`` -> ``1.1``, ``yes`` ->
    ``true``, ``-0.`` -> ``-0``), checked against real Helm on 3,000 plain scalars at once:
    fixed traps plus random strings of number-like characters."""
    import random

    from imagemirror.walker import helm_plain

    helm = require_sdk()
    rng = random.Random(20261202)
    values = [
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "true",
        "1.10",
        "1e+06",
        "-0",
        "-0.",
        "0o17",
        "017",
        "0x1F",
        "1_000",
        "9223372036854775808",
        "18446744073709551616",
        "1.0e3",
        ".5",
        "+.5",
        "2024-01-01",
        "0b101",
        "1e400",
        ".inf",
        "-.Inf",
        ".nan",
        "1__2",
        "0.0000123",
    ]
    values += [
        "".join(rng.choice("0123456789+-._eExXoObB") for _ in range(rng.randint(1, 12)))
        for _ in range(3000 - len(values))
    ]
    kept = []
    for value in values:
        try:
            loaded = helm.values_from_yaml(f"v: {value}\n")
        except helm.HelmError:
            continue  # Helm refuses the file (``1e400``: JSON has no infinity)
        if isinstance(loaded, dict) and not isinstance(loaded.get("v"), (dict, list, type(None))):
            kept.append(value)
    chart = tmp_path / "scalars"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: scalars\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("".join(f"v{i}: {v}\n" for i, v in enumerate(kept)))
    (chart / "templates" / "out.yaml").write_text("".join(f"# {i}={{{{ .Values.v{i} }}}}\n" for i in range(len(kept))))
    try:
        out = helm.Chart.load(chart).render({}, name="r", namespace="ns")
    except helm.HelmError as exc:
        pytest.fail(f"the chart of plain scalars does not render: {exc}")
    printed = dict(line[2:].split("=", 1) for line in next(iter(out.values())).splitlines() if line.startswith("# "))
    mismatches = [
        (v, printed[str(i)], helm_plain(v)) for i, v in enumerate(kept) if printed[str(i)] != (helm_plain(v) or v)
    ]
    assert len(kept) > 1500 and not mismatches[:20], mismatches[:20]
