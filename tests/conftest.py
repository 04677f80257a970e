"""Shared test helpers.

Integration tests need real binaries (docker-registry, nginx, podman, pre-commit, git) or
servers.  Where one is absent they skip with the reason -- unless
IMAGEMIRROR_REQUIRE_INTEGRATION=1 (set by .ci/run), where the skip becomes a failure so CI
always runs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
REQUIRE_INTEGRATION = os.environ.get("IMAGEMIRROR_REQUIRE_INTEGRATION") == "1"

# Hypothesis budgets (tests/test_properties.py): small by default, large in CI
# (HYPOTHESIS_PROFILE=ci, set by .ci/run).  No deadline: speed is for bench/, not tests.
# CI derandomizes (a gate gives the same answer for the same tree); local runs stay random,
# which is where new counterexamples are found.
try:
    from hypothesis import HealthCheck, settings as _hsettings

    _hsettings.register_profile("default", max_examples=60, deadline=None)
    _hsettings.register_profile(
        "ci",
        max_examples=int(os.environ.get("IMAGEMIRROR_CI_EXAMPLES", "1800")),
        deadline=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    _hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
except ImportError:  # pragma: no cover - hypothesis is in the [test] extra
    pass


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` -- or fail when CI requires every integration test to run."""
    if REQUIRE_INTEGRATION:
        pytest.fail(f"required by IMAGEMIRROR_REQUIRE_INTEGRATION=1 but unavailable: {reason}")
    pytest.skip(reason)


def require_binary(name: str, *alternatives: str) -> str:
    """Path of the first binary found among ``name`` and ``alternatives``, or skip/fail."""
    for candidate in (name, *alternatives):
        found = shutil.which(candidate) or (
            candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None
        )
        if found:
            return found
    skip_or_fail(f"binary {name!r} not found (install it with .ci/install-system)")
    raise AssertionError("unreachable")


@pytest.fixture
def corpus_dir() -> Path:
    """The shared real-world corpus, read in place (never copied into the repo)."""
    if not (CORPUS / "SOURCES.tsv").is_file():
        skip_or_fail(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def moto_server():
    """moto as a real server on 127.0.0.1 with the test-side ECR extension
    (``tests/integration/moto_ecr_ext.py``): one for the whole run, reset by each user."""
    try:
        from integration.moto_ecr_ext import Server
    except ImportError as exc:  # moto[server] (flask, werkzeug) not installed
        skip_or_fail(f"moto[server] is not installed (pip install -e '.[test]'): {exc}")
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A reset moto and an environment that reaches nothing else: test credentials, the
    endpoint, no AWS config or credentials files, no AWS_*/IMAGEMIRROR_* of the caller's."""
    moto_server.reset()
    for var in list(os.environ):
        if var.startswith(("AWS_", "IMAGEMIRROR_")) or var in ("HUB_USER", "HUB_TOKEN"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return moto_server
