"""Pure parts of chart fetching: index.yaml blocks, Docker credentials, auth challenges."""

import base64
import json

from imagemirror.charts.fetch import _challenge, _index_entries, docker_credentials


def test_index_entries_reads_one_chart_block_of_a_helm_index():
    text = (
        "apiVersion: v1\nentries:\n"
        "  alpha:\n  - name: alpha\n    urls:\n    - alpha-1.0.0.tgz\n    version: 1.0.0\n"
        "  beta:\n  - name: beta\n    version: 2.0.0\n  - name: beta\n    version: 2.1.0\n"
        "generated: 2026-01-01T00:00:00Z\n"
    )
    assert [e["version"] for e in _index_entries(text, "beta", "index.yaml")["beta"]] == ["2.0.0", "2.1.0"]
    assert _index_entries(text, "alpha", "index.yaml")["alpha"][0]["urls"] == ["alpha-1.0.0.tgz"]
    assert "gamma" not in _index_entries(text, "gamma", "index.yaml")
    crlf = text.replace("\n", "\r\n")
    assert len(_index_entries(crlf, "beta", "index.yaml")["beta"]) == 2



def test_docker_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert docker_credentials("ghcr.io") is None  # no config at all
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"u:p").decode()},
        "ghcr.io": {"username": "bot", "password": "s3cret"},
        "https://registry.example": {"auth": base64.b64encode(b"x:y:z").decode()},
        "broken.example": {"auth": "%%%"},
    }, "credsStore": "desktop"}))
    assert docker_credentials("ghcr.io") == ("bot", "s3cret")
    assert docker_credentials("registry.example") == ("x", "y:z")
    assert docker_credentials("broken.example") is None
    assert docker_credentials("quay.io") is None


def test_challenge():
    scheme, params = _challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                'scope="repository:bitnamicharts/wordpress:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:bitnamicharts/wordpress:pull"}
    assert _challenge('Basic realm="x"') == ("basic", {"realm": "x"})
