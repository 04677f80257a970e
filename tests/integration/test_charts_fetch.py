"""Fetching charts from a real classic chart repository (HTTP on 127.0.0.1) and a real OCI
registry (Debian's docker-registry), with Helm's media types, ranges, cache and offline mode."""

from __future__ import annotations

import base64
import json

import pytest

from charts import ChartRepo, ChartSpec, erpnext, mariadb, push_oci, wordpress
from conftest import require_binary
from imagemirror.charts.discover import ChartRef
from imagemirror.charts.fetch import Fetcher, FetchError
from imagemirror.charts.values import effective_values
from imagemirror.registry.auth import CredentialStore
from imagemirror.registry.client import RegistryClient
from registries import start_nginx, start_registry


def client() -> RegistryClient:
    """The registry layer's client as chart fetching gets it (Docker config read at first use)."""
    return RegistryClient(CredentialStore(), plain_http_loopback=True, deadline=120, retries=1, backoff=0.05)


@pytest.fixture
def chart_repo(tmp_path):
    repo = ChartRepo(tmp_path / "www")
    yield repo
    repo.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = require_binary("docker-registry", "/usr/bin/docker-registry")
    server = start_registry(tmp_path_factory.mktemp("oci"), "charts-registry", binary=binary)
    yield server
    server.stop()


def test_classic_repo_range_cache_and_offline(chart_repo, tmp_path):
    for version in ("23.0.0", "23.1.0", "23.1.5", "24.0.0"):
        chart_repo.add(wordpress(version))
    chart_repo.add(mariadb("20.0.0"), absolute_url=True)
    fetcher = Fetcher(cache=tmp_path / "cache", client=client())
    chart = fetcher.chart(ChartRef("wordpress", chart_repo.url, "~23.1"))
    assert (chart.name, chart.version) == ("wordpress", "23.1.5")
    assert chart_repo.requests == ["/charts/index.yaml", "/charts/archives/wordpress-23.1.5.tgz"]
    assert fetcher.chart(ChartRef("mariadb", chart_repo.url, "")).version == "20.0.0"
    # Offline: the cached index and archives answer; nothing is asked of the server.
    seen = len(chart_repo.requests)
    offline = Fetcher(cache=tmp_path / "cache", offline=True)
    assert offline.chart(ChartRef("wordpress", chart_repo.url, "^23")).version == "23.1.5"
    assert offline.chart(ChartRef("wordpress", chart_repo.url, "23.1.5")).version == "23.1.5"
    with pytest.raises(FetchError, match="neither vendored nor cached"):
        offline.chart(ChartRef("wordpress", chart_repo.url, "24.0.0"))
    assert len(chart_repo.requests) == seen


def test_classic_repo_errors(chart_repo, tmp_path):
    chart_repo.add(wordpress("23.0.0"))
    fetcher = Fetcher(cache=tmp_path / "cache", client=client())
    with pytest.raises(FetchError, match="no version of 'wordpress' satisfies '>=24'"):
        fetcher.chart(ChartRef("wordpress", chart_repo.url, ">=24"))
    with pytest.raises(FetchError, match="no chart named 'ghost'"):
        fetcher.chart(ChartRef("ghost", chart_repo.url, ""))
    (chart_repo.folder / "charts" / "archives" / "wordpress-23.0.0.tgz").write_bytes(b"tampered")
    with pytest.raises(FetchError, match="digest mismatch"):
        fetcher.chart(ChartRef("wordpress", chart_repo.url, "23.0.0"))
    with pytest.raises(FetchError, match=r"http://127\.0\.0\.1:\d+/nothing/index\.yaml: HTTP 404"):
        fetcher.chart(ChartRef("wordpress", chart_repo.url.replace("/charts", "/nothing"), ""))


def test_oci_exact_range_and_dependency_from_oci(registry, tmp_path):
    host = registry.url.split("://", 1)[1]
    for version in ("7.0.99", "7.0.100", "7.1.0+build.1"):
        push_oci(registry.url, "frappe/erpnext", erpnext(version))
    push_oci(registry.url, "bitnamicharts/mariadb", mariadb("20.2.0"))
    fetcher = Fetcher(cache=tmp_path / "cache", client=client())
    assert fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "7.0.x")).version == "7.0.100"
    assert fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "^7")).version == "7.1.0+build.1"
    assert fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "7.0.99")).version == "7.0.99"
    # A dependency that is not vendored is fetched from its repository, as `helm dep build` does.
    parent = ChartSpec(
        "site",
        values="mariadb: {auth: {database: site}}\n",
        dependencies=[{"name": "mariadb", "version": "20.x", "repository": f"oci://{host}/bitnamicharts"}],
    )
    chart = fetcher.chart(ChartRef(path=parent.write_dir(tmp_path / "site")))
    values = effective_values(chart, []).values
    assert values["mariadb"]["image"]["repository"] == "bitnami/mariadb"
    assert values["mariadb"]["auth"] == {"database": "site"}
    offline = Fetcher(cache=tmp_path / "cache", offline=True)
    assert offline.chart(ChartRef("erpnext", f"oci://{host}/frappe", "~7.0.0")).version == "7.0.100"
    with pytest.raises(FetchError, match="no tag satisfies '>=8'"):
        fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", ">=8"))
    with pytest.raises(FetchError, match="not found"):
        fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "6.0.0"))


def test_oci_not_a_chart(registry, tmp_path):
    """An image manifest (not Helm's config media type) is refused with a clear message."""
    import hashlib
    import urllib.request

    host = registry.url.split("://", 1)[1]
    digest = push_oci(registry.url, "images/app", ChartSpec("app", "1.0.0"))
    req = urllib.request.Request(
        f"{registry.url}/v2/images/app/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    manifest = json.loads(urllib.request.urlopen(req).read())
    manifest["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json"
    body = json.dumps(manifest).encode()
    req = urllib.request.Request(
        f"{registry.url}/v2/images/app/manifests/2.0.0",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    urllib.request.urlopen(req).close()
    assert hashlib.sha256(body).hexdigest()
    with pytest.raises(FetchError, match="not a Helm chart"):
        Fetcher(cache=tmp_path / "cache", client=client()).chart(ChartRef("app", f"oci://{host}/images", "2.0.0"))


def test_oci_basic_auth_from_docker_config(registry, tmp_path, monkeypatch):
    nginx_bin = require_binary("nginx")
    require_binary("openssl")
    push_oci(registry.url, "erpnext", erpnext("7.0.100"))
    proxy = start_nginx(tmp_path, {"frappe": registry.url}, binary=nginx_bin, basic_auth=("helm", "s3cret-pw"))
    try:
        host = proxy.url.split("://", 1)[1]
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        (tmp_path / "docker").mkdir()
        fetcher = Fetcher(cache=tmp_path / "cache", client=client())
        with pytest.raises(FetchError, match="no credentials for"):
            fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "7.0.100"))
        (tmp_path / "docker" / "config.json").write_text(
            json.dumps({"auths": {host: {"auth": base64.b64encode(b"helm:wrong").decode()}}})
        )
        with pytest.raises(FetchError, match="authentication failed.*were rejected") as err:
            Fetcher(cache=tmp_path / "cache", client=client()).chart(
                ChartRef("erpnext", f"oci://{host}/frappe", "7.0.100")
            )
        assert "wrong" not in str(err.value)
        (tmp_path / "docker" / "config.json").write_text(
            json.dumps({"auths": {host: {"auth": base64.b64encode(b"helm:s3cret-pw").decode()}}})
        )
        chart = Fetcher(cache=tmp_path / "cache", client=client()).chart(
            ChartRef("erpnext", f"oci://{host}/frappe", "7.0.100")
        )
        assert chart.defaults["image"]["repository"] == "frappe/erpnext"
    finally:
        proxy.stop()


def test_oci_chart_pull_gets_credential_helpers_and_ecr_tokens(registry, tmp_path, monkeypatch):
    """The registry layer's credentials reach chart pulls: a ``docker-credential-*`` helper for
    a host, and an ECR host's token from the injected AWS token source."""
    nginx_bin = require_binary("nginx")
    require_binary("openssl")
    push_oci(registry.url, "erpnext", erpnext("7.0.100"))
    proxy = start_nginx(tmp_path, {"frappe": registry.url}, binary=nginx_bin, basic_auth=("helm", "s3cret-pw"))
    try:
        host = proxy.url.split("://", 1)[1]
        helper = tmp_path / "bin" / "docker-credential-imtest"
        helper.parent.mkdir()
        helper.write_text(
            '#!/bin/sh\nread host\nprintf \'{"ServerURL":"%s","Username":"helm","Secret":"s3cret-pw"}\' "$host"\n'
        )
        helper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{helper.parent}:{__import__('os').environ['PATH']}")
        store = CredentialStore({"credHelpers": {host: "imtest"}})
        fetcher = Fetcher(cache=tmp_path / "cache", client=RegistryClient(store, plain_http_loopback=True))
        assert fetcher.chart(ChartRef("erpnext", f"oci://{host}/frappe", "7.0.100")).version == "7.0.100"

        from imagemirror.registry.auth import Credentials

        ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        asked = []

        def token(name):
            asked.append(name)
            return Credentials("helm", "s3cret-pw", "ECR get_authorization_token")

        ecr_client = RegistryClient(CredentialStore({}, ecr=token), insecure=True, addresses={ecr: host})
        chart = Fetcher(cache=tmp_path / "cache-ecr", client=ecr_client).chart(
            ChartRef("erpnext", f"oci://{ecr}/frappe", "7.0.100")
        )
        assert chart.version == "7.0.100" and asked == [ecr]
    finally:
        proxy.stop()


class TokenFront:
    """A Bearer-token front for the real registry, written here because Debian's
    docker-registry only speaks token auth with a JWT-signing token service: ``/token`` checks
    Basic credentials and hands out a token; ``/v2/...`` wants that token and proxies to the
    registry, except blobs, which it redirects to a "storage" port that (like S3 behind Docker
    Hub) refuses any request carrying an Authorization header."""

    TOKEN = "tok-for-charts"

    def __init__(self, upstream: str, user: str, password: str):
        import http.server
        import threading
        import urllib.error
        import urllib.request

        front = self
        self.requests: list[tuple[str, str, str | None]] = []
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            role = "front"

            def log_message(self, *args):
                pass

            def reply(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def proxy(self):
                req = urllib.request.Request(
                    upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")}
                )
                try:
                    with urllib.request.urlopen(req) as resp:
                        keep = {k: v for k, v in resp.headers.items() if k in ("Content-Type", "Docker-Content-Digest")}
                        self.reply(resp.status, resp.read(), keep)
                except urllib.error.HTTPError as exc:
                    self.reply(exc.code, exc.read())

            def do_GET(self):  # noqa: N802
                auth = self.headers.get("Authorization")
                front.requests.append((self.role, self.path.split("?")[0], auth))
                if self.role == "storage":
                    if auth:
                        return self.reply(400, b"Only one auth mechanism allowed")
                    return self.proxy()
                if self.path.startswith("/token"):
                    if auth != expected:
                        return self.reply(401, b"{}")
                    return self.reply(200, json.dumps({"token": TokenFront.TOKEN}).encode())
                if auth != f"Bearer {TokenFront.TOKEN}":
                    name = self.path.split("/v2/", 1)[-1].rsplit("/", 2)[0]
                    challenge = f'Bearer realm="{front.url}/token",service="charts-test",scope="repository:{name}:pull"'
                    return self.reply(401, b"{}", {"WWW-Authenticate": challenge})
                if "/blobs/" in self.path:
                    return self.reply(307, b"", {"Location": f"{front.storage_url}{self.path}"})
                return self.proxy()

        class Storage(Handler):
            role = "storage"

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Storage)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.storage_url = f"http://127.0.0.1:{self.storage.server_address[1]}"
        for server in (self.server, self.storage):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self):
        for server in (self.server, self.storage):
            server.shutdown()
            server.server_close()


def test_oci_bearer_token_and_blob_redirect_without_credentials(registry, tmp_path, monkeypatch):
    push_oci(registry.url, "charts/erpnext", erpnext("7.0.100"))
    front = TokenFront(registry.url, "helm", "t0ken-pw")
    try:
        host = front.url.split("://", 1)[1]
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "config.json").write_text(
            json.dumps({"auths": {host: {"username": "helm", "password": "t0ken-pw"}}})
        )
        chart = Fetcher(cache=tmp_path / "cache", client=client()).chart(
            ChartRef("erpnext", f"oci://{host}/charts", "~7.0")
        )
        assert chart.version == "7.0.100"
        roles = [(role, path.split("/")[-2] if "/v2/" in path else path) for role, path, _ in front.requests]
        assert ("front", "/token") in roles and ("storage", "blobs") in roles
        assert all(auth is None for role, _, auth in front.requests if role == "storage")
        (tmp_path / "docker" / "config.json").write_text(
            json.dumps({"auths": {host: {"username": "helm", "password": "nope"}}})
        )
        with pytest.raises(FetchError, match=r"authentication failed at the token service \(HTTP 401\)") as err:
            Fetcher(cache=tmp_path / "other", client=client()).chart(
                ChartRef("erpnext", f"oci://{host}/charts", "7.0.100")
            )
        assert "nope" not in str(err.value)
    finally:
        front.close()


@pytest.mark.parametrize("kind", ["503", "reset", "truncate"])
def test_chart_pulls_are_retried_like_registry_requests(tmp_path, kind):
    """Transient failures of a classic repository (a 503, a reset, an archive cut short) are
    retried by the registry layer, as for warm."""
    import hashlib

    from faultregistry import FaultRegistry

    server = FaultRegistry()
    try:
        data = wordpress("23.1.0").tgz()
        server.files["/charts/wordpress-23.1.0.tgz"] = data
        server.files["/charts/index.yaml"] = json.dumps(
            {
                "apiVersion": "v1",
                "entries": {
                    "wordpress": [
                        {
                            "name": "wordpress",
                            "version": "23.1.0",
                            "urls": ["wordpress-23.1.0.tgz"],
                            "digest": hashlib.sha256(data).hexdigest(),
                        }
                    ]
                },
            }
        ).encode()
        target = "/charts/wordpress-23.1.0.tgz" if kind == "truncate" else "/charts/index.yaml"
        server.fault(target, kind, times=2)
        fetcher = Fetcher(
            cache=tmp_path / "cache",
            client=RegistryClient(
                CredentialStore({}), plain_http_loopback=True, retries=3, backoff=0.01, sleep=lambda s: None
            ),
        )
        chart = fetcher.chart(ChartRef("wordpress", f"{server.url}/charts", "23.1.0"))
        assert chart.version == "23.1.0"
        assert len([p for m, p, _ in server.requests if p == target]) == 3
    finally:
        server.stop()
