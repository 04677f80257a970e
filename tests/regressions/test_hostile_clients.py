"""Issue 14, "extend the fault suite to drip-fed and oversized responses on every client": the
deadline is a wall clock through connect and the TLS handshake (registry client: ``warm`` and
chart fetching), and the AWS and Docker engine clients end in bounded time and memory with
one line against endpoints that drip, never stop, or answer too much.  Servers are ``hostile``
ones on 127.0.0.1.

The AWS tests failed before their fix (a drip-fed answer held ``ecr plan`` 62 s, until the
server gave up; 300 MiB answers peaked at 0.9-1.4 GiB).  The TLS handshake tests passed before
any change: CPython bounds a whole handshake by the socket's timeout, which the registry client
already caps at the time left before its deadline; they stay as guards of that."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from hostile import TlsDrip, self_signed  # noqa: E402

from imagemirror.charts.discover import ChartRef  # noqa: E402
from imagemirror.charts.fetch import Fetcher, FetchError  # noqa: E402
from imagemirror.registry.auth import CredentialStore  # noqa: E402
from imagemirror.registry.client import RegistryClient  # noqa: E402
from imagemirror.warm import targets_from_strings, warm_images  # noqa: E402

DEADLINE = 3.0
#: how far past its deadline a run may end (a loaded CI machine); far below ``DRIP_FOR``
SLACK = 12.0


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    pytest.importorskip("cryptography")
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=[0.5, None], ids=["drip", "silent"])
def tls_drip(request, cert):
    server = TlsDrip(*cert, every=request.param)
    yield server
    server.stop()


def tls_client(ca: Path, **kwargs) -> RegistryClient:
    # a connect timeout larger than the deadline: only the wall clock can end the handshake
    return RegistryClient(
        CredentialStore({}), ca_bundle=str(ca), connect_timeout=30, read_timeout=30, retries=5, **kwargs
    )


def test_warm_deadline_holds_through_a_drip_fed_tls_handshake(tls_drip, cert):
    c = tls_client(cert[0], deadline=DEADLINE, jobs=1)
    start = time.monotonic()
    try:
        results = warm_images(targets_from_strings([f"{tls_drip.host}/team/app:1.0"]), c, jobs=1, settle=0)
    finally:
        c.close()
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE + SLACK, f"the run took {elapsed:.1f}s against a {DEADLINE}s deadline"
    assert results[0].status == "failed" and "deadline exceeded" in results[0].error, results[0].error
    assert "\n" not in results[0].error


def test_chart_fetching_deadline_holds_through_a_drip_fed_tls_handshake(tls_drip, cert, tmp_path):
    c = tls_client(cert[0], deadline=DEADLINE, plain_http_loopback=False)
    start = time.monotonic()
    try:
        with pytest.raises(FetchError, match="deadline exceeded") as err:
            Fetcher(cache=tmp_path / "cache", client=c).chart(ChartRef("app", f"https://{tls_drip.host}/charts", "1.0"))
    finally:
        c.close()
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE + SLACK, f"the fetch took {elapsed:.1f}s against a {DEADLINE}s deadline"
    assert "\n" not in str(err.value)


# -- the AWS wrapper (botocore) against a hostile endpoint ---------------------------------------

SECRET_KEY = "very-secret-key-1234"
SESSION_TOKEN = "SESSION-TOKEN-abcdef-987654"


def _echo_then(answer):
    """An endpoint whose answer starts with the request it got (headers: the signature and the
    session token), then misbehaves as ``answer``."""

    def respond(server, conn, request):
        return answer(server, conn, request)

    return respond


AWS_ANSWERS = {
    "drip-headers": lambda s, c, r: s.drip_headers(c, 0.5),
    "drip-body": lambda s, c, r: s.drip_body(c, 0.5, "text/xml"),
    "silent": lambda s, c, r: s.hold(c),
    "endless": lambda s, c, r: s.endless(c, content_type="text/xml", piece=r),
    "oversize": lambda s, c, r: s.oversize(c, 300, content_type="text/xml"),
    "oversize-error": lambda s, c, r: s.oversize(c, 300, status="500 Internal Server Error", content_type="text/xml"),
}


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    import os

    from imagemirror.ecr import client as ecr_client

    for var in list(os.environ):
        if var.startswith(("AWS_", "IMAGEMIRROR_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setattr(ecr_client, "CALL_DEADLINE", DEADLINE)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text("registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("kind", sorted(AWS_ANSWERS))
@pytest.mark.parametrize("command", [["ecr", "plan"], ["ecr", "doctor"]])
def test_ecr_commands_against_a_hostile_endpoint(aws_env, kind, command):
    import tracemalloc

    from click.testing import CliRunner

    from hostile import HttpServer

    from imagemirror.cli import main

    server = HttpServer(_echo_then(AWS_ANSWERS[kind]))
    tracemalloc.start()
    start = time.monotonic()
    try:
        result = CliRunner().invoke(main, [*command, "--endpoint-url", server.url], catch_exceptions=False)
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.stop()
    err = result.stderr
    assert result.exit_code == 4, (result.exit_code, result.stdout, err)
    assert result.stdout == ""
    assert len(err.strip().splitlines()) == 1, err
    assert elapsed < DEADLINE + SLACK, f"{kind}: {elapsed:.1f}s against a {DEADLINE}s call deadline"
    assert peak < 128 << 20, f"{kind}: peak {peak / 2**20:.0f} MiB"
    for leak in (SECRET_KEY, SESSION_TOKEN, "Signature=", "Traceback", "X-Pad"):
        assert leak not in err, err
    assert "check --endpoint-url" in err, err


def test_the_aws_deadline_bounds_every_page_and_keeps_normal_answers(monkeypatch):
    """The bounded reading returns botocore's own answers unchanged (moto in process)."""
    moto = pytest.importorskip("moto")
    import os

    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    from imagemirror.ecr.client import AwsClient

    with moto.mock_aws():
        aws = AwsClient(region="eu-west-1", call_deadline=DEADLINE)
        for i in range(120):
            aws._call("ecr", "create_repository", repositoryName=f"team/app{i:03d}")
        names = [r["repositoryName"] for r in aws._pages("ecr", "describe_repositories", "repositories")]
        assert len(names) == 120 and aws.account_id()


def test_warm_deadline_bounds_the_ecr_token_fetch(aws_env, tmp_path, monkeypatch):
    """An ECR host's token comes from the AWS wrapper: with a drip-fed AWS endpoint, ``warm
    --deadline`` still ends at its deadline (not at the AWS call's own 60 s)."""
    from click.testing import CliRunner

    from hostile import HttpServer

    from imagemirror.cli import main
    from imagemirror.ecr import client as ecr_client

    monkeypatch.setattr(ecr_client, "CALL_DEADLINE", 60.0)
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    (tmp_path / "values.yaml").write_text(f"image: {host}/docker-hub/library/nginx:1.25\n")
    server = HttpServer(AWS_ANSWERS["drip-body"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    start = time.monotonic()
    try:
        result = CliRunner().invoke(main, ["warm", "values.yaml", "--deadline", str(DEADLINE)], catch_exceptions=False)
    finally:
        server.stop()
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE + SLACK, f"warm took {elapsed:.1f}s against --deadline {DEADLINE}"
    assert result.exit_code == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stdout.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1 and "deadline exceeded" in errors[0], result.stdout
    assert SECRET_KEY not in result.stdout + result.stderr and SESSION_TOKEN not in result.stdout + result.stderr
