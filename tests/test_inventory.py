"""Shapes: which image references the walker finds, and how each is classified."""

import textwrap

import pytest

from imagemirror.config import Settings
from imagemirror.inventory import scan_text

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = Settings(registry=REG, aliases={"registry.rocket.chat": "docker.io"})


def refs(text):
    result = scan_text(textwrap.dedent(text), "values.yaml", SETTINGS)
    assert result.error is None, result.error
    return [(r.path, r.written, r.status) for r in result.refs]


SHAPES = [
    pytest.param(
        """
        image:
          registry: docker.io
          repository: bitnami/wordpress
          tag: 6.8.2
          digest: ""
        """,
        [("image", "docker.io/bitnami/wordpress:6.8.2", "unmirrored")],
        id="bitnami-map",
    ),
    pytest.param(
        """
        image:
          repository: quay.io/minio/minio
          tag: RELEASE.2024
        mcImage:
          repository: quay.io/minio/mc
          tag: RELEASE.2025
        """,
        [
            ("image", "quay.io/minio/minio:RELEASE.2024", "unmirrored"),
            ("mcImage", "quay.io/minio/mc:RELEASE.2025", "unmirrored"),
        ],
        id="repository-with-host-and-non-image-key",
    ),
    pytest.param(
        """
        csi:
          registrar:
            repository: registry.k8s.io/sig-storage/csi-node-driver-registrar
            tag: v2.13.0
        """,
        [("csi.registrar", "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0", "unmirrored")],
        id="csi-sidecar-map",
    ),
    pytest.param(
        """
        global:
          image:
            registry: registry.k8s.io
        controller:
          image:
            image: ingress-nginx/controller
            tag: "v1.15.1"
            digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
        """,
        [("controller.image", "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:" + "0" * 64, "unmirrored")],
        id="ingress-nginx-registry-image",
    ),
    pytest.param(
        """
        exporter:
          image:
            registry: docker.io
            image: oliver006/redis_exporter
            version: v1.2
        """,
        [("exporter.image", "docker.io/oliver006/redis_exporter:v1.2", "unmirrored")],
        id="registry-image-version",
    ),
    pytest.param(
        """
        federation:
          image:
            repository: quay.io/matrix
            image: synapse
            version: v1
        """,
        [("federation.image", "quay.io/matrix/synapse:v1", "unmirrored")],
        id="repository-namespace-image-name",
    ),
    pytest.param(
        """
        imageRegistry: quay.io
        imageNamespace: jetstack
        image:
          name: cert-manager-controller
          repository: ""
        webhook:
          image:
            name: cert-manager-webhook
        """,
        [
            ("image", "quay.io/jetstack/cert-manager-controller", "unmirrored"),
            ("webhook.image", "quay.io/jetstack/cert-manager-webhook", "unmirrored"),
        ],
        id="cert-manager-name-with-registry-above",
    ),
    pytest.param(
        """
        defaultImageRegistry: quay.io
        defaultImageRepository: strimzi
        image:
          registry: ""
          repository: ""
          name: operator
          tag: 0.47.0
        """,
        [("image", "quay.io/strimzi/operator:0.47.0", "unmirrored")],
        id="strimzi-name-with-registry-above",
    ),
    pytest.param(
        """
        image:
          repository: docker.io/library/busybox
          tag: "1.36@sha256:1111111111111111111111111111111111111111111111111111111111111111"
        """,
        [("image", "docker.io/library/busybox:1.36@sha256:" + "1" * 64, "unmirrored")],
        id="tag-with-digest",
    ),
    pytest.param(
        """
        image:
          registry: quay.io
          repository: prometheus/prometheus
          tag: v3
          sha: "2222222222222222222222222222222222222222222222222222222222222222"
        """,
        [("image", "quay.io/prometheus/prometheus:v3@sha256:" + "2" * 64, "unmirrored")],
        id="sha-key",
    ),
    pytest.param(
        """
        containers:
          - name: app
            image: nginx:1.25
          - name: side
            image: "ghcr.io/a/b:v1"
        initContainers:
          - name: init
            image: busybox
        """,
        [
            ("containers[0].image", "nginx:1.25", "unmirrored"),
            ("containers[1].image", "ghcr.io/a/b:v1", "unmirrored"),
            ("initContainers[0].image", "busybox", "unmirrored"),
        ],
        id="container-lists",
    ),
    pytest.param(
        """
        mongodb:
          image:
            registry: docker.io
            repository: bitnamilegacy/mongodb
          metrics:
            image:
              registry: docker.io
              repository: bitnamilegacy/mongodb-exporter
        """,
        [
            ("mongodb.image", "docker.io/bitnamilegacy/mongodb", "unmirrored"),
            ("mongodb.metrics.image", "docker.io/bitnamilegacy/mongodb-exporter", "unmirrored"),
        ],
        id="subchart-sections",
    ),
    pytest.param(
        """
        images:
          airflow:
            repository: ~
            tag: ~
          statsd:
            repository: quay.io/prometheus/statsd-exporter
            tag: v0.28.0
        """,
        [("images.statsd", "quay.io/prometheus/statsd-exporter:v0.28.0", "unmirrored")],
        id="images-map-with-nulls",
    ),
    pytest.param(
        """
        upgradeJob:
          image:
            busybox:
              registry: docker.io
              repository: busybox
              tag: "1.37"
            kubectl:
              registry: registry.k8s.io
              repository: kubectl
        """,
        [
            ("upgradeJob.image.busybox", "docker.io/busybox:1.37", "unmirrored"),
            ("upgradeJob.image.kubectl", "registry.k8s.io/kubectl", "unmirrored"),
        ],
        id="two-named-images-under-image",
    ),
    pytest.param(
        """
        global:
          imageRegistry: docker.io
        image:
          repository: bitnami/wordpress
          tag: "6"
        """,
        [("image", "docker.io/bitnami/wordpress:6", "unmirrored")],
        id="global-image-registry",
    ),
    pytest.param(
        """
        base: &img
          registry: docker.io
          repository: bitnami/redis
        image: *img
        other:
          image:
            <<: *img
            tag: "7"
        """,
        [("base", "docker.io/bitnami/redis", "unmirrored"), ("other.image", "docker.io/bitnami/redis:7", "unmirrored")],
        id="anchor-alias-merge",
    ),
    pytest.param(
        """
        init: {image: "quay.io/a/b:1", other: 2}
        flow: {registry: docker.io, repository: bitnami/x, tag: "1"}
        """,
        [("init.image", "quay.io/a/b:1", "unmirrored"), ("flow", "docker.io/bitnami/x:1", "unmirrored")],
        id="flow-mappings",
    ),
    pytest.param(
        """
        image:
          repository: bitnami/os-shell
          tag: "12"
        nats:
          image: proxyv2
        """,
        [("image", "bitnami/os-shell:12", "ambiguous"), ("nats.image", "proxyv2", "ambiguous")],
        id="ambiguous-without-registry",
    ),
    pytest.param(
        """
        image:
          repository: "{{ .Values.global.repo }}/app"
          tag: "1"
        sidecar:
          image: "{{ .Values.sidecarImage }}"
        """,
        [
            ("image", "{{ .Values.global.repo }}/app:1", "templated"),
            ("sidecar.image", "{{ .Values.sidecarImage }}", "templated"),
        ],
        id="templated",
    ),
    pytest.param(
        """
        registry: txt
        txtOwnerId: x
        image:
          repository: registry.k8s.io/external-dns/external-dns
          tag:
        harbor:
          registry:
            registry:
              image:
                repository: goharbor/registry-photon
                tag: v2
        metricsGenerator:
          registry:
            external_labels: {}
        """,
        [
            ("image", "registry.k8s.io/external-dns/external-dns", "unmirrored"),
            ("harbor.registry.registry.image", "goharbor/registry-photon:v2", "ambiguous"),
        ],
        id="look-alike-registry-keys",
    ),
    pytest.param(
        """
        config: |
          image: nginx:1.25
        # image: nginx:1.24
        toolbox:
          image: #quay.io/ceph/ceph:v20
        empty:
          image: ""
        """,
        [],
        id="not-images",
    ),
    pytest.param(
        """
        a:
          image: Nginx:1
        b:
          image: gcr.io/distroless/static:nonroot
        c:
          image: 123456789012.dkr.ecr.af-south-1.amazonaws.com/docker-hub/library/nginx:1
        d:
          image: docker.io.evil.com/nginx:1
        """,
        [
            ("a.image", "Nginx:1", "invalid"),
            ("b.image", "gcr.io/distroless/static:nonroot", "no-rule"),
            ("c.image", f"{REG}/docker-hub/library/nginx:1", "mirrored"),
            ("d.image", "docker.io.evil.com/nginx:1", "no-rule"),
        ],
        id="statuses",
    ),
    pytest.param(
        """
        ---
        image: nginx:1
        ---
        image: redis:7
        """,
        [("image", "nginx:1", "unmirrored"), ("image", "redis:7", "unmirrored")],
        id="documents",
    ),
]


@pytest.mark.parametrize("text, expected", SHAPES)
def test_shapes(text, expected):
    assert refs(text) == expected


def test_json_record_fields():
    result = scan_text("x:\n  image: bitnami/nginx\n", "env/values.yaml", SETTINGS)
    (ref,) = result.refs
    assert ref.to_json() == {
        "file": "env/values.yaml",
        "line": 2,
        "column": 10,
        "path": "x.image",
        "written": "bitnami/nginx",
        "upstream": "docker.io/bitnami/nginx:latest",
        "status": "unmirrored",
        "target": f"{REG}/docker-hub/bitnami/nginx",
        "source": "values",
    }


def test_alias_bomb_walks_each_node_once():
    lines = ["a0: &a0 [image: nginx]"]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]")
    result = scan_text("\n".join(lines) + "\n", "bomb.yaml", SETTINGS)
    assert [r.path for r in result.refs] == ["a0[0].image"]


def test_invalid_yaml_has_position():
    result = scan_text("a: [1, 2\nb: c\n", "bad.yaml", SETTINGS)
    assert result.error is not None
    assert str(result.error).startswith("bad.yaml:")
    assert result.error.line is not None
