"""Finding the chart of a values file from Argo CD, Flux, helmfile, Chart.yaml and settings."""

import textwrap
from pathlib import Path

import pytest

from imagemirror.charts.discover import ChartRef, clear_cache, releases_for
from imagemirror.config import load_settings, Settings
from imagemirror.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_index():
    clear_cache()
    yield
    clear_cache()


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def settings_at(root: Path, text: str = "registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n") -> Settings:
    return load_settings(write(root, ".imagemirror.yaml", text))


def test_argocd_multi_source_values_ref_and_inline_values(tmp_path):
    s = settings_at(tmp_path)
    write(
        tmp_path,
        "apps/wordpress.yaml",
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: wordpress-prod}
        spec:
          sources:
            - repoURL: registry-1.docker.io/bitnamicharts
              chart: wordpress
              targetRevision: 23.x
              helm:
                releaseName: wp
                valueFiles:
                  - $values/environments/common/wordpress.yaml
                  - $values/environments/prod/wordpress.yaml
                values: |
                  image: {tag: "6.7"}
                valuesObject:
                  replicaCount: 2
                parameters:
                  - {name: image.tag, value: "6.8"}
                  - {name: mariadb.enabled, value: "false"}
            - repoURL: https://git.example/gitops.git
              targetRevision: main
              ref: values
        """,
    )
    prod = write(tmp_path, "environments/prod/wordpress.yaml", "image: {tag: x}\n")
    [rel] = releases_for(prod, s)
    assert rel.kind == "argocd" and rel.name == "wp"
    assert rel.chart == ChartRef(name="wordpress", repo="oci://registry-1.docker.io/bitnamicharts", version="23.x")
    assert [layer.label for layer in rel.layers] == [
        "environments/common/wordpress.yaml",
        "environments/prod/wordpress.yaml",
        # Argo CD renders valuesObject when it is set, and then not the values string
        "apps/wordpress.yaml (wordpress-prod: helm.valuesObject)",
        "apps/wordpress.yaml (wordpress-prod: helm.values, ignored)",
        "apps/wordpress.yaml (wordpress-prod: helm.parameters)",
    ]
    assert rel.layers[2].data == {"replicaCount": 2} and rel.layers[3].data == {}
    assert rel.layers[4].data == {"image": {"tag": "6.8"}, "mariadb": {"enabled": False}}
    assert releases_for(tmp_path / "environments/prod/other.yaml", s) == []


def test_argocd_applicationset_git_path_chart(tmp_path):
    s = settings_at(tmp_path)
    write(tmp_path, "charts/erpnext/Chart.yaml", "apiVersion: v2\nname: erpnext\nversion: 7.0.0\n")
    write(
        tmp_path,
        "apps/set.yaml",
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: ApplicationSet
        metadata: {name: erpnext}
        spec:
          generators: [{list: {elements: [{env: prod}]}}]
          template:
            metadata: {name: 'erpnext-{{env}}'}
            spec:
              source:
                repoURL: https://git.example/gitops.git
                path: charts/erpnext
                helm:
                  valueFiles: [../../environments/prod/erpnext.yaml, '../../environments/{{env}}/x.yaml']
        """,
    )
    values = write(tmp_path, "environments/prod/erpnext.yaml", "{}\n")
    [rel] = releases_for(values, s)
    assert rel.chart.path == (tmp_path / "charts/erpnext").resolve()
    assert [layer.path for layer in rel.layers] == [values.resolve()]


def test_flux_helmrelease_with_helmrepository_and_configmap_generator(tmp_path):
    s = settings_at(tmp_path)
    write(
        tmp_path,
        "infra/sources.yaml",
        """\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {name: rocketchat, namespace: flux-system}
        spec: {url: https://rocketchat.github.io/helm-charts}
        ---
        apiVersion: source.toolkit.fluxcd.io/v1beta2
        kind: OCIRepository
        metadata: {name: podinfo}
        spec:
          url: oci://ghcr.io/stefanprodan/charts/podinfo
          ref: {semver: ">=6.0.0"}
        """,
    )
    write(
        tmp_path,
        "apps/prod/release.yaml",
        """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: rocketchat, namespace: chat}
        spec:
          chart:
            spec:
              chart: rocketchat
              version: "^6.0"
              sourceRef: {kind: HelmRepository, name: rocketchat, namespace: flux-system}
          valuesFrom:
            - kind: ConfigMap
              name: rocketchat-values
          values:
            replicaCount: 1
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: podinfo}
        spec:
          chartRef: {kind: OCIRepository, name: podinfo}
          valuesFrom: [{kind: ConfigMap, name: podinfo-values, valuesKey: overrides.yaml}]
        """,
    )
    write(
        tmp_path,
        "apps/prod/kustomization.yaml",
        """\
        resources: [release.yaml]
        configMapGenerator:
          - name: rocketchat-values
            files: [values.yaml=rocketchat-values.yaml]
          - name: podinfo-values
            files: [overrides.yaml]
        """,
    )
    values = write(tmp_path, "apps/prod/rocketchat-values.yaml", "image: {tag: '6.9'}\n")
    [rel] = releases_for(values, s)
    assert rel.chart == ChartRef(name="rocketchat", repo="https://rocketchat.github.io/helm-charts", version="^6.0")
    assert [layer.label for layer in rel.layers] == [
        "apps/prod/rocketchat-values.yaml",
        "apps/prod/release.yaml (rocketchat: spec.values)",
    ]
    [pod] = releases_for(write(tmp_path, "apps/prod/overrides.yaml", "{}\n"), s)
    assert pod.chart == ChartRef(name="podinfo", repo="oci://ghcr.io/stefanprodan/charts", version=">=6.0.0")


def test_helmfile_releases(tmp_path):
    s = settings_at(tmp_path)
    write(
        tmp_path,
        "helmfile.yaml",
        """\
        repositories:
          - name: frappe
            url: https://helm.erpnext.com
          - name: bitnamicharts
            url: registry-1.docker.io/bitnamicharts
            oci: true
        releases:
          - name: erpnext
            chart: frappe/erpnext
            version: 7.0.x
            values: [envs/prod/erpnext.yaml, {image: {tag: v15}}]
          - name: wp
            chart: bitnamicharts/wordpress
            values: [envs/prod/wordpress.yaml]
          - name: local
            chart: ./charts/local
            values: ['envs/{{ .Environment.Name }}/local.yaml']
        """,
    )
    erp = write(tmp_path, "envs/prod/erpnext.yaml", "{}\n")
    [rel] = releases_for(erp, s)
    assert rel.chart == ChartRef(name="erpnext", repo="https://helm.erpnext.com", version="7.0.x")
    assert rel.layers[1].data == {"image": {"tag": "v15"}}
    [wp] = releases_for(write(tmp_path, "envs/prod/wordpress.yaml", "{}\n"), s)
    assert wp.chart.repo == "oci://registry-1.docker.io/bitnamicharts"


def test_umbrella_chart_and_own_defaults(tmp_path):
    s = settings_at(tmp_path)
    write(tmp_path, "umbrella/Chart.yaml", "apiVersion: v2\nname: umbrella\nversion: 0.1.0\n")
    own = write(tmp_path, "umbrella/values.yaml", "{}\n")
    prod = write(tmp_path, "umbrella/values-prod.yaml", "{}\n")
    [rel] = releases_for(own, s)
    assert rel.kind == "defaults" and rel.files() == [own.resolve()]
    [rel] = releases_for(prod, s)
    assert rel.kind == "umbrella" and rel.files() == [prod.resolve()]


def test_settings_charts_mapping(tmp_path):
    write(tmp_path, "vendor/erpnext-7.0.0.tgz", "not read here")
    s = settings_at(
        tmp_path,
        """\
        registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
        charts:
          "envs/*/erpnext.yaml": vendor/erpnext-7.0.0.tgz
          "envs/**/wp.yaml": {repo: "https://charts.example", chart: wordpress, version: "^23"}
          "envs/*/podinfo.yaml": oci://ghcr.io/stefanprodan/charts/podinfo:6.7.0
        """,
    )
    [rel] = releases_for(write(tmp_path, "envs/prod/erpnext.yaml", "{}\n"), s)
    assert rel.kind == "settings" and rel.chart.path == (tmp_path / "vendor/erpnext-7.0.0.tgz").resolve()
    [rel] = releases_for(write(tmp_path, "envs/a/b/wp.yaml", "{}\n"), s)
    assert rel.chart == ChartRef(name="wordpress", repo="https://charts.example", version="^23")
    [rel] = releases_for(write(tmp_path, "envs/a/podinfo.yaml", "{}\n"), s)
    assert rel.chart == ChartRef(name="podinfo", repo="oci://ghcr.io/stefanprodan/charts", version="6.7.0")


@pytest.mark.parametrize(
    "body,message",
    [
        (
            'charts:\n  "a/*.yaml": [x]\n',
            r"\.imagemirror\.yaml:2:3: chart for 'a/\*\.yaml' must be a string or a mapping",
        ),
        ('charts:\n  "a/*.yaml": {repo: charts.example, chart: x}\n', r":2:\d+: repo 'charts.example' needs a scheme"),
        ('charts:\n  "a/*.yaml": {chart: x, versoin: "1"}\n', r"unknown key 'versoin'"),
        ('charts:\n  "a/*.yaml": missing/chart\n', r"chart 'missing/chart' not found"),
    ],
)
def test_settings_charts_errors(tmp_path, body, message):
    s = settings_at(tmp_path, body)
    with pytest.raises(ConfigError, match=message):
        releases_for(write(tmp_path, "a/x.yaml", "{}\n"), s)
