import pytest

from imagemirror.reference import InvalidReference, Reference, parse

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("nginx", Reference("docker.io", "library/nginx"), id="official-implicit"),
        pytest.param("nginx:1.25", Reference("docker.io", "library/nginx", "1.25"), id="official-tag"),
        pytest.param("bitnami/mongodb:7", Reference("docker.io", "bitnami/mongodb", "7"), id="hub-namespace"),
        pytest.param("docker.io/nginx", Reference("docker.io", "library/nginx"), id="hub-explicit-official"),
        pytest.param("index.docker.io/bitnami/x", Reference("docker.io", "bitnami/x"), id="index-docker-io"),
        pytest.param("registry-1.docker.io/library/redis", Reference("docker.io", "library/redis"), id="registry-1"),
        pytest.param("registry.hub.docker.com/foo", Reference("docker.io", "library/foo"), id="hub-web-host"),
        pytest.param("docker.io.evil.com/x", Reference("docker.io.evil.com", "x"), id="look-alike-not-hub"),
        pytest.param("evil.com/docker.io/x", Reference("evil.com", "docker.io/x"), id="hub-in-path-not-hub"),
        pytest.param("localhost/foo", Reference("localhost", "foo"), id="localhost"),
        pytest.param("localhost:5000/a/b:c", Reference("localhost:5000", "a/b", "c"), id="port"),
        pytest.param(
            "quay.io/prometheus/node-exporter:v1.8.2",
            Reference("quay.io", "prometheus/node-exporter", "v1.8.2"),
            id="quay",
        ),
        pytest.param(f"ghcr.io/a/b@{D}", Reference("ghcr.io", "a/b", None, D), id="digest"),
        pytest.param(f"ghcr.io/a/b:v1@{D}", Reference("ghcr.io", "a/b", "v1", D), id="tag-and-digest"),
        pytest.param(
            "registry.k8s.io/ingress-nginx/controller:v1.15.1",
            Reference("registry.k8s.io", "ingress-nginx/controller", "v1.15.1"),
            id="k8s",
        ),
        pytest.param(
            "a__b/c--d/e.f_g:tag_1.2-x", Reference("docker.io", "a__b/c--d/e.f_g", "tag_1.2-x"), id="separators"
        ),
        pytest.param("[::1]:5000/x", Reference("[::1]:5000", "x"), id="ipv6"),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("Nginx", "lower case"),
        ("quay.io/Prometheus/x", "lower case"),
        ("docker.io/Bitnami/x", "lower case"),
        ("nginx:", "invalid tag"),
        ("nginx:-x", "invalid tag"),
        ("nginx@sha256:abc", "invalid digest"),
        ("nginx@sha256:" + "A" * 64, "64 lower-case hex"),
        ("a//b", "empty path component"),
        ("a/b/", "empty path component"),
        ("nginx 1", "not allowed"),
        ("nginx\n", "not allowed"),
        ("ngi#nx", "not allowed"),
        ("{{ .Values.x }}", "not allowed"),
        ("a/-b", "invalid path component"),
        ("-host.com/x", "invalid registry host"),
        ("a/" + "b" * 300, "longer than"),
    ],
)
def test_invalid(text, reason):
    with pytest.raises(InvalidReference, match=reason):
        parse(text)


def test_formats():
    ref = parse("nginx:1.25")
    assert str(ref) == "docker.io/library/nginx:1.25"
    assert ref.familiar() == "nginx:1.25"
    assert parse("bitnami/x").qualified() == "docker.io/bitnami/x:latest"
    assert parse(f"quay.io/a@{D}").qualified() == f"quay.io/a@{D}"
