"""Issue 14, "chart fetching trusts the network" and the warm/registry items: each test here
failed before its fix.  Servers are ``faultregistry.FaultRegistry`` on 127.0.0.1; every
drip-feeding fault stops by itself after ``DRIP_FOR`` seconds, so no loop is unbounded even
against code that does not keep its deadline.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from charts import ChartSpec
from faultregistry import DRIP_FOR, FaultRegistry

from imagemirror.charts import fetch as fetch_module
from imagemirror.charts.chart import ChartError, load_chart
from imagemirror.charts.discover import ChartRef
from imagemirror.charts.fetch import Fetcher, FetchError
from imagemirror.registry.auth import CredentialStore
from imagemirror.registry.client import RegistryClient
from imagemirror.warm import targets_from_strings, warm_images

DEADLINE = 3.0
#: how far past its deadline a run may end (a loaded CI machine); far below ``DRIP_FOR``
SLACK = 12.0
assert DEADLINE + SLACK < DRIP_FOR


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def reg():
    server = FaultRegistry()
    yield server
    server.stop()


def client(**kwargs) -> RegistryClient:
    kwargs.setdefault("credentials", CredentialStore({}))
    kwargs.setdefault("sleep", lambda s: None)
    return RegistryClient(insecure=True, **kwargs)


def chart_client(**kwargs) -> RegistryClient:
    kwargs.setdefault("credentials", CredentialStore({}))
    return RegistryClient(plain_http_loopback=True, retries=1, backoff=0.01, **kwargs)


# -- warm: the deadline is a wall clock ------------------------------------------------------


@pytest.mark.parametrize("kind", ["drip", "drip-headers"])
def test_warm_deadline_holds_against_a_drip_fed_manifest(reg, kind):
    reg.add_image("team/app", "1.0", [b"layer" * 100])
    reg.fault("/manifests/1.0", kind, times=None, value=0.5)  # one byte every 0.5 s
    start = time.monotonic()
    results = warm_images(
        targets_from_strings([f"{reg.host}/team/app:1.0"]), client(deadline=DEADLINE, read_timeout=30), jobs=1
    )
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE + SLACK, f"the run took {elapsed:.1f}s against a {DEADLINE}s deadline"
    assert results[0].status == "failed" and "deadline exceeded" in results[0].error, results[0].error


def test_warm_deadline_holds_against_a_drip_fed_blob(reg):
    layer = b"x" * 4000
    reg.add_image("team/app", "1.0", [layer])
    reg.fault("/blobs/" + digest_of(layer), "drip", times=None, value=0.2)
    start = time.monotonic()
    results = warm_images(
        targets_from_strings([f"{reg.host}/team/app:1.0"]), client(deadline=DEADLINE, read_timeout=30), jobs=2, settle=0
    )
    assert time.monotonic() - start < DEADLINE + SLACK
    assert results[0].status == "failed" and "deadline exceeded" in results[0].error, results[0].error


# -- warm: a blob larger than its descriptor fails at once -----------------------------------


@pytest.mark.parametrize("announced", [True, False])
def test_blob_larger_than_its_descriptor_fails_at_once(reg, announced):
    layer = b"y" * 10_000
    reg.add_image("team/app", "1.0", [layer])
    reg.fault("/blobs/" + digest_of(layer), "oversize", times=None, value=1, extra="" if announced else "unannounced")
    results = warm_images(targets_from_strings([f"{reg.host}/team/app:1.0"]), client(retries=5), jobs=1, settle=0)
    error = results[0].error or ""
    assert results[0].status == "failed"
    assert "10000 bytes its descriptor gives" in error or "more than the 10000" in error, error
    assert "digest mismatch" not in error
    gets = [p for m, p, _ in reg.requests if m == "GET" and digest_of(layer) in p]
    assert len(gets) == 1, f"downloaded {len(gets)} times"


# -- warm: an index's children are streamed ------------------------------------------------------


def test_index_children_are_not_all_held_in_memory(reg):
    """30 child manifests of 1 MiB each (padded annotations), one shared layer: the warm-up
    must hold about one child at a time, not all 30."""
    layer = b"z" * 1000
    children = []
    pad = "p" * (1 << 20)
    for i in range(30):
        digest = reg.add_image("team/wide", f"c{i}", [layer])
        media, body = reg.manifests[("team/wide", digest)]
        doc = json.loads(body)
        doc["annotations"] = {"pad": pad, "i": str(i)}
        body = json.dumps(doc).encode()
        digest = digest_of(body)
        reg.manifests[("team/wide", digest)] = (media, body)
        children.append((digest, {"os": "linux", "architecture": f"arch{i}"}))
    reg.add_index("team/wide", "1.0", children)
    c = client()
    tracemalloc.start()
    try:
        results = warm_images(targets_from_strings([f"{reg.host}/team/wide:1.0"]), c, jobs=1, settle=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert results[0].ok, results[0].error
    assert len(results[0].platforms) == 30
    assert peak < 10 << 20, f"peak {peak / 2**20:.1f} MiB for 30 x 1 MiB children"


# -- credentials never cross a scheme or port change --------------------------------------------


class FakeResponse:
    def __init__(self, status, headers=None, body=b""):
        self.status = status
        self.headers = headers or {}
        self._body = body

    def stream(self, n):
        if self._body:
            yield self._body

    def drain_conn(self):
        pass

    def release_conn(self):
        pass

    def close(self):
        pass


@pytest.mark.parametrize(
    "location",
    [
        "http://registry.example/v2/team/app/manifests/1.0",  # https -> http, same host
        "https://registry.example:8443/v2/team/app/manifests/1.0",  # another port
    ],
)
def test_credentials_dropped_on_scheme_or_port_change(location):
    from imagemirror.registry.auth import Credentials

    store = CredentialStore({}, static={"registry.example": Credentials("robot", "s3cret-pass", "test")})
    c = RegistryClient(store, retries=0)
    c._challenges["registry.example"] = ("basic", {})
    sent = []

    def send(method, url, headers, *, stream, body=None, **kwargs):
        sent.append((url, headers.get("Authorization")))
        if len(sent) == 1:
            return FakeResponse(307, {"Location": location})
        return FakeResponse(200, {"Content-Type": "application/json"}, b"{}")

    c._send = send
    c._drain = lambda resp: None
    c._call("GET", "registry.example", "/v2/team/app/manifests/1.0", "team/app")
    assert sent[0][1] is not None and sent[0][0].startswith("https://registry.example/")
    assert sent[1] == (location, None), "credentials were sent after the redirect"


def test_same_origin_with_explicit_default_port_keeps_credentials():
    from imagemirror.registry.auth import Credentials

    store = CredentialStore({}, static={"registry.example": Credentials("robot", "s3cret-pass", "test")})
    c = RegistryClient(store, retries=0)
    c._challenges["registry.example"] = ("basic", {})
    sent = []

    def send(method, url, headers, *, stream, body=None, **kwargs):
        sent.append((url, headers.get("Authorization")))
        if len(sent) == 1:
            return FakeResponse(307, {"Location": "https://registry.example:443/v2/x"})
        return FakeResponse(200, {}, b"{}")

    c._send = send
    c._drain = lambda resp: None
    c._call("GET", "registry.example", "/v2/team/app/manifests/1.0", "team/app")
    assert sent[1][1] is not None


# -- the Docker engine's errors are scrubbed ------------------------------------------------------


def test_docker_engine_errors_never_print_the_password():
    from docker.errors import APIError, DockerException

    from imagemirror.registry.auth import Credentials
    from imagemirror.registry.engine import DockerEngine

    secret = "hunter2-engine-secret"
    store = CredentialStore({}, static={"reg.example": Credentials("robot", secret, "test")})

    class Api:
        def __init__(self, raise_):
            self.raise_ = raise_

        def pull(self, name, **kwargs):
            auth = kwargs["auth_config"]
            if self.raise_ == "event":
                return iter([{"error": f"Get https://reg.example/v2/: unauthorized: {auth['password']} rejected"}])
            if self.raise_ == "api":
                raise APIError("500 Server Error", explanation=f"login with {json.dumps(auth)} failed")
            raise DockerException(f"pull failed with password={auth['password']}")

    for kind in ("event", "api", "other"):
        engine = DockerEngine(store, client=type("C", (), {"api": Api(kind)})())
        with pytest.raises(Exception) as err:
            engine.pull("reg.example", "team/app", "1.0", None)
        assert secret not in str(err.value), (kind, str(err.value))


# -- only http(s), everywhere -----------------------------------------------------------------


def test_registry_redirect_to_a_file_url_is_refused(reg):
    reg.add_image("team/app", "1.0", [b"l" * 10])
    reg.fault("/manifests/1.0", "redirect", times=None, extra="file:///etc/hostname")
    results = warm_images(targets_from_strings([f"{reg.host}/team/app:1.0"]), client(), jobs=1)
    assert results[0].status == "failed"
    assert "only http and https" in results[0].error, results[0].error


def oci_chart(reg: FaultRegistry, repo: str, spec: ChartSpec) -> bytes:
    data = spec.tgz()
    config = json.dumps({"name": spec.name, "version": spec.version}).encode()
    reg.blobs[digest_of(config)] = config
    reg.blobs[digest_of(data)] = data
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.cncf.helm.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                "digest": digest_of(data),
                "size": len(data),
            }
        ],
    }
    body = json.dumps(doc).encode()
    reg.manifests[(repo, spec.version)] = (doc["mediaType"], body)
    return data


def test_chart_token_realm_on_the_local_disk_is_refused(reg, tmp_path):
    token = tmp_path / "token.json"
    token.write_text('{"token": "from-the-local-disk"}')
    oci_chart(reg, "charts/app", ChartSpec("app", "1.0.0"))
    reg.fault("/v2/charts/app/manifests/", "challenge", times=None, extra=f'Bearer realm="file://{token}",service="x"')
    with pytest.raises(FetchError, match="only http and https"):
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(
            ChartRef("app", f"oci://{reg.host}/charts", "1.0.0")
        )


def classic_repo(reg: FaultRegistry, entries: dict) -> str:
    reg.files["/charts/index.yaml"] = json.dumps({"apiVersion": "v1", "entries": entries}).encode()
    return f"{reg.url}/charts"


@pytest.mark.parametrize("scheme", ["file", "ftp"])
def test_chart_index_urls_other_than_http_are_refused(reg, tmp_path, scheme):
    local = tmp_path / "local-1.0.0.tgz"
    local.write_bytes(ChartSpec("local", "1.0.0").tgz())
    url = f"file://{local}" if scheme == "file" else "ftp://127.0.0.1:1/local-1.0.0.tgz"
    repo = classic_repo(reg, {"local": [{"name": "local", "version": "1.0.0", "urls": [url]}]})
    with pytest.raises(FetchError, match=r"only http\(s\) URLs are fetched") as err:
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(ChartRef("local", repo, "1.0.0"))
    assert "\n" not in str(err.value)


# -- every chart response capped, one deadline ---------------------------------------------------


def test_endless_index_yaml_is_capped(reg, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_INDEX_BYTES", 1 << 20, raising=False)
    classic_repo(reg, {})
    reg.fault("/charts/index.yaml", "endless", times=None, value=0.05)  # 50 MiB, then it stops
    with pytest.raises(FetchError, match="larger than 1 MiB"):
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(ChartRef("app", f"{reg.url}/charts", ""))


def test_oversized_chart_archive_is_capped(reg, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_ARCHIVE_BYTES", 1 << 20, raising=False)
    data = ChartSpec("app", "1.0.0").tgz()
    reg.files["/charts/app-1.0.0.tgz"] = data
    repo = classic_repo(reg, {"app": [{"name": "app", "version": "1.0.0", "urls": ["app-1.0.0.tgz"]}]})
    reg.fault("/charts/app-1.0.0.tgz", "oversize", times=None, value=4)
    with pytest.raises(FetchError, match="larger than 1 MiB"):
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(ChartRef("app", repo, "1.0.0"))


def test_endless_oci_token_and_chart_layer_are_capped(reg, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_ARCHIVE_BYTES", 1 << 20, raising=False)
    data = oci_chart(reg, "charts/app", ChartSpec("app", "1.0.0"))
    reg.fault("/blobs/" + digest_of(data), "endless", times=None, value=0.05)
    with pytest.raises(FetchError, match="larger than 1 MiB"):
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(
            ChartRef("app", f"oci://{reg.host}/charts", "1.0.0")
        )
    bearer = FaultRegistry(bearer=("", ""))
    try:
        oci_chart(bearer, "charts/app", ChartSpec("app", "1.0.0"))
        bearer.fault("/token", "endless", times=None, value=0.05)
        with pytest.raises(FetchError, match="token response larger than 1 MiB"):
            Fetcher(cache=tmp_path / "cache2", client=chart_client()).chart(
                ChartRef("app", f"oci://{bearer.host}/charts", "1.0.0")
            )
    finally:
        bearer.stop()


@pytest.mark.parametrize("kind", ["drip", "drip-headers"])
def test_chart_fetching_ends_at_its_deadline_against_a_drip_fed_index(reg, tmp_path, kind):
    classic_repo(reg, {"app": [{"name": "app", "version": "1.0.0", "urls": ["app-1.0.0.tgz"]}]})
    reg.fault("/charts/index.yaml", kind, times=None, value=0.5)
    start = time.monotonic()
    with pytest.raises(FetchError, match="deadline exceeded"):
        Fetcher(cache=tmp_path / "cache", client=chart_client(deadline=DEADLINE, read_timeout=30)).chart(
            ChartRef("app", f"{reg.url}/charts", "1.0.0")
        )
    assert time.monotonic() - start < DEADLINE + SLACK


def test_effective_chart_pulls_get_the_registry_layer(tmp_path):
    """``--effective``'s network: the registry client (ECR tokens, helpers, one deadline),
    injected by the command layer; charts/ itself never builds one."""
    from imagemirror.commands.clients import FETCH_DEADLINE
    from imagemirror.cli import _source
    from imagemirror.config import Settings

    source = _source(True, False)
    fetcher = source.fetcher(Settings(), tmp_path)
    made = fetcher._client()
    try:
        assert isinstance(made, RegistryClient)
        assert made.plain_http_loopback and made.remaining() is not None and made.remaining() <= FETCH_DEADLINE
        assert made.credentials._ecr.__name__ == "token"  # ecr_token_source over the AWS wrapper
    finally:
        made.close()


# -- chart archives: every header and member counts ------------------------------------------------


def _header(name: str, size: int, typ: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode = size, typ, 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _member(name: str, data: bytes) -> bytes:
    return _header(name, len(data), tarfile.REGTYPE) + data + b"\0" * (-len(data) % 512)


def pax_bomb(mib: int) -> bytes:
    """A small archive whose PAX header claims ``mib`` MiB (written by hand: tarfile would take
    minutes), before a real chart."""
    size = mib << 20
    head = f"{size} comment=".encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        gz.write(_header("././@PaxHeader", size, tarfile.XHDTYPE) + head)
        left = size - len(head) - 1
        chunk = b"x" * (1 << 20)
        while left > 0:
            gz.write(chunk[:left])
            left -= len(chunk)
        gz.write(b"\n" + b"\0" * (-size % 512))
        gz.write(_member("app/Chart.yaml", b"name: app\nversion: 1.0.0\n") + b"\0" * 1024)
    return buf.getvalue()


def dir_bomb(n: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        gz.write(_member("app/Chart.yaml", b"name: app\nversion: 1.0.0\n"))
        for i in range(n):
            gz.write(_header(f"app/d{i}/", 0, tarfile.DIRTYPE))
        gz.write(b"\0" * 1024)
    return buf.getvalue()


def test_a_huge_pax_header_is_refused_before_it_is_read():
    with pytest.raises(ChartError, match="too large"):
        load_chart(pax_bomb(64), where="bomb.tgz")


def test_directory_entries_count_against_the_archive_limit():
    with pytest.raises(ChartError, match="more than 10000 entries"):
        load_chart(dir_bomb(12_000), where="dirs.tgz")


# -- a fetched chart never reads the local disk ----------------------------------------------------


def test_file_dependency_of_a_fetched_chart_is_not_read(reg, tmp_path):
    local = ChartSpec("secret", "1.0.0", values="image: {repository: from/the-local-disk}\n").write_dir(
        tmp_path / "secret"
    )
    spec = ChartSpec(
        "app", "1.0.0", dependencies=[{"name": "secret", "version": "1.0.0", "repository": f"file://{local}"}]
    )
    reg.files["/charts/app-1.0.0.tgz"] = spec.tgz()
    repo = classic_repo(reg, {"app": [{"name": "app", "version": "1.0.0", "urls": ["app-1.0.0.tgz"]}]})
    with pytest.raises(ChartError, match="never read from this machine") as err:
        Fetcher(cache=tmp_path / "cache", client=chart_client()).chart(ChartRef("app", repo, "1.0.0"))
    assert "\n" not in str(err.value)


def test_file_dependency_of_a_chart_in_the_repository_still_works(tmp_path):
    ChartSpec("lib", "1.0.0", values="image: {repository: team/lib}\n").write_dir(tmp_path / "lib")
    app = ChartSpec(
        "app", "1.0.0", dependencies=[{"name": "lib", "version": "1.0.0", "repository": "file://../lib"}]
    ).write_dir(tmp_path / "app")
    chart = Fetcher(cache=tmp_path / "cache", offline=True).chart(ChartRef(path=app))
    assert chart.dependencies[0].chart.defaults["image"]["repository"] == "team/lib"


# -- index.yaml: no backtracking regex ------------------------------------------------------------


def test_index_block_search_terminates_on_a_hostile_index():
    """A CRLF index whose entries never name the chart made the old lazy regex backtrack in
    2**lines steps (22 lines: 0.8 s; 40 lines: days).  Run in a subprocess, so the old code
    is stopped rather than waited for."""
    text = "apiVersion: v1\r\nentries:\r\n" + "  - x\r\n" * 40
    code = (
        "import sys; from imagemirror.charts.fetch import _index_entries\n"
        "try:\n    _index_entries(sys.stdin.read(), 'ghost', 'index.yaml')\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    try:
        subprocess.run([sys.executable, "-c", code], input=text, text=True, capture_output=True, timeout=60, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the index.yaml block search did not finish in 60 s")


def test_invalid_yaml_in_a_chart_archive_is_one_line():
    """Found by tests/test_chart_archive_properties.py: ruamel's message for a NUL in
    ``Chart.yaml`` spans two lines ("... not allowed\\n  in "<unicode string>", position 0")."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        gz.write(_member("app/Chart.yaml", b"\0name: app\n") + b"\0" * 1024)
    with pytest.raises(ChartError, match="invalid YAML") as err:
        load_chart(buf.getvalue(), where="nul.tgz")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("url", ["http://[::1/app.tgz", "http://127.0.0.1:99999/app.tgz"])
def test_an_invalid_url_in_an_index_is_one_line_and_not_retried(reg, tmp_path, url):
    repo = classic_repo(reg, {"app": [{"name": "app", "version": "1.0.0", "urls": [url]}]})
    sleeps = []
    fetcher = Fetcher(cache=tmp_path / "cache", client=chart_client(sleep=sleeps.append))
    with pytest.raises(FetchError, match="not a valid URL") as err:
        fetcher.chart(ChartRef("app", repo, "1.0.0"))
    assert "\n" not in str(err.value) and sleeps == []
