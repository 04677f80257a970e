"""Issue 14, "extend the fault suite to drip-fed and oversized responses on every client": the
deadline is a wall clock through connect and the TLS handshake (registry client: ``warm`` and
chart fetching), and the AWS and Docker engine clients end in bounded time and memory with
one line against endpoints that drip, never stop, or answer too much.  Each test failed before
its fix.  Servers are ``hostile`` ones on 127.0.0.1."""

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
