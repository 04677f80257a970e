"""Pure parts of the warm-up and its registry adapter: hints, challenge and Retry-After
parsing, cache evidence, redaction, docker config credentials, targets from the inventory,
platform matching and the summary formats."""

from __future__ import annotations

import base64
import email.utils
import io
import json
import subprocess
import sys

import pytest

from imagemirror.commands.warm import BarProgress, LineProgress, check_platform, format_json, format_text, human_bytes
from imagemirror.errors import ConfigError
from imagemirror.model import ImageRef
from imagemirror.reference import parse
from imagemirror.registry.auth import (
    CredentialError,
    Credentials,
    CredentialStore,
    ecr_host,
    from_docker_config,
    parse_challenge,
)
from imagemirror.registry.client import RegistryError, _describe, cache_evidence, parse_retry_after, redact
from imagemirror.warm import (
    PINNED_NOT_CACHED,
    ImageResult,
    Target,
    hint_for,
    platform_matches,
    targets_from_refs,
    targets_from_strings,
)

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


@pytest.mark.parametrize(
    "ref, error, expected",
    [
        pytest.param(
            f"{REG}/docker-hub/nginx:1.25",
            RegistryError("x", status=403),
            f"live under library/: use {REG}/docker-hub/library/nginx:1.25",
            id="library-403",
        ),
        pytest.param(
            f"{REG}/docker-hub/nginx:1.25",
            RegistryError("authentication failed (HTTP 401)", status=401, auth="rejected"),
            "library/",
            id="library-auth-failed",
        ),
        pytest.param(
            f"{REG}/docker-hub/nginx", RegistryError("x", status=404), "library/nginx:latest", id="library-untagged"
        ),
        pytest.param(f"{REG}/docker-hub/library/nginx:1", RegistryError("x", status=403), None, id="library-present"),
        pytest.param(
            f"{REG}/docker-hub/bitnami/redis:7.2.4",
            RegistryError("x", status=404, code="MANIFEST_UNKNOWN"),
            f"{REG}/docker-hub/bitnamilegacy/redis:7.2.4",
            id="bitnami",
        ),
        pytest.param(
            f"{REG}/quay/bitnami/redis:7.2.4",
            RegistryError("x", status=404, code="MANIFEST_UNKNOWN"),
            None,
            id="bitnami-not-on-docker-hub",
        ),
        pytest.param(
            f"{REG}/quay/team/app:1",
            RegistryError("x", status=401, auth="missing"),
            f"no credentials for {REG}",
            id="missing-credentials",
        ),
        pytest.param(
            f"{REG}/quay/team/app:1",
            RegistryError("x", status=401, auth="rejected"),
            "log in again",
            id="rejected-credentials",
        ),
        pytest.param(
            f"{REG}/quay/team/app:1",
            RegistryError("x", status=404, code="NAME_UNKNOWN"),
            "ecr:CreateRepository",
            id="name-unknown",
        ),
        pytest.param(
            f"{REG}/quay/team/app@sha256:{'a' * 64}", RegistryError("x", status=404), "pull by digest", id="digest-only"
        ),
        pytest.param(
            f"{REG}/quay/team/app:1", LookupError(f"x: {PINNED_NOT_CACHED}"), "pin the new digest", id="pinned-moved"
        ),
        pytest.param(f"{REG}/quay/team/app:1", RegistryError("x", status=500), None, id="no-hint"),
    ],
)
def test_hints(ref, error, expected):
    hint = hint_for(parse(ref), error)
    if expected is None:
        assert hint is None
    else:
        assert hint is not None and expected in hint


def test_hint_uses_the_configured_prefixes():
    ref = parse("cache.example.com/hub/nginx:1")
    assert hint_for(ref, RegistryError("x", status=403)) is None
    assert "cache.example.com/hub/library/nginx:1" in hint_for(
        ref, RegistryError("x", status=403), {"hub": "docker.io"}
    )


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/nginx:pull",
                },
            ),
        ),
        (
            'Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"',
            ("basic", {"realm": "https://123.dkr.ecr.us-east-1.amazonaws.com/", "service": "ecr.amazonaws.com"}),
        ),
        ("Basic", ("basic", {})),
        ('Bearer realm="a\\"b", error=invalid_token', ("bearer", {"realm": 'a"b', "error": "invalid_token"})),
    ],
)
def test_parse_challenge(header, expected):
    assert parse_challenge(header) == expected


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(999_000, usegmt=True), now=1_000_000) == 0.0


@pytest.mark.parametrize(
    "headers, redirect, expected",
    [
        ({"Cache-Control": "max-age=31536000", "Docker-Distribution-Api-Version": "registry/2.0"}, None, True),
        ({"Docker-Distribution-Api-Version": "registry/2.0"}, None, False),
        ({}, None, None),
        ({}, "https://prod-af-south-1-starport-layer-bucket.s3.af-south-1.amazonaws.com/x?sig", True),
        ({}, "https://production.cloudflare.docker.com/registry-v2/x", False),
    ],
)
def test_cache_evidence(headers, redirect, expected):
    assert cache_evidence(headers, redirect) is expected


def test_redact_hides_credentials_only():
    headers = {"Authorization": "Basic c2VjcmV0", "Accept": "x", "X-Registry-Auth": "e30="}
    assert redact(headers) == {"Authorization": "<redacted>", "Accept": "x", "X-Registry-Auth": "<redacted>"}


def test_credentials_repr_hides_the_secret():
    assert "hunter2" not in repr(Credentials("u", "hunter2", "docker config"))


def test_describe_paths():
    assert _describe("/v2/a/b/manifests/1.0") == "/a/b:1.0"
    assert _describe(f"/v2/a/manifests/sha256:{'1' * 64}") == f"/a@sha256:{'1' * 64}"
    assert _describe("/v2/a/blobs/sha256:ab") == "/a@sha256:ab"


@pytest.mark.parametrize(
    "host, expected",
    [
        (REG, ("123456789012", "af-south-1")),
        ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", ("123456789012", "us-east-1")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ("123456789012", "cn-north-1")),
        ("public.ecr.aws", None),
        ("12345.dkr.ecr.us-east-1.amazonaws.com", None),
    ],
)
def test_ecr_host(host, expected):
    assert ecr_host(host) == expected


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_docker_config_auths():
    config = {
        "auths": {
            "reg.example.com": {"auth": b64("u:p:with:colons")},
            "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
            "other.example.com": {"username": "a", "password": "b"},
            "tok.example.com": {"identitytoken": "refresh"},
        }
    }
    assert from_docker_config("reg.example.com", config) == Credentials("u", "p:with:colons", "docker config")
    assert from_docker_config("docker.io", config).username == "hub"
    assert from_docker_config("other.example.com", config).secret == "b"
    tok = from_docker_config("tok.example.com", config)
    assert tok.identity_token and tok.auth_config() == {"identitytoken": "refresh"}
    assert from_docker_config("nowhere.example.com", config) is None


def test_docker_config_bad_auth_is_an_error():
    with pytest.raises(CredentialError):
        from_docker_config("reg", {"auths": {"reg": {"auth": "%%%"}}})


def test_credential_helpers_are_asked_first():
    calls = []

    def runner(argv, input, capture_output, timeout):
        calls.append((argv, input))
        out = json.dumps({"ServerURL": input.decode(), "Username": "AWS", "Secret": "tok"}).encode()
        return subprocess.CompletedProcess(argv, 0, out, b"")

    config = {
        "credHelpers": {"reg.example.com": "ecr-login"},
        "auths": {"reg.example.com": {"auth": b64("x:y")}},
        "credsStore": "desktop",
    }
    assert from_docker_config("reg.example.com", config, runner).username == "AWS"
    assert from_docker_config("else.example.com", config, runner).secret == "tok"
    assert calls == [
        (["docker-credential-ecr-login", "get"], b"reg.example.com"),
        (["docker-credential-desktop", "get"], b"else.example.com"),
    ]


def test_credential_helper_not_found_is_none_and_failure_is_an_error():
    def missing(argv, input, capture_output, timeout):
        return subprocess.CompletedProcess(argv, 1, b"credentials not found in native keychain\n", b"")

    def broken(argv, input, capture_output, timeout):
        return subprocess.CompletedProcess(argv, 3, b"", b"boom")

    assert from_docker_config("h", {"credsStore": "x"}, missing) is None
    with pytest.raises(CredentialError, match="failed"):
        from_docker_config("h", {"credsStore": "x"}, broken)


def test_credential_store_routes_ecr_hosts_to_the_token_source():
    asked = []

    def ecr(host):
        asked.append(host)
        return Credentials("AWS", "token", "ECR")

    store = CredentialStore({"auths": {}}, ecr=ecr)
    assert store.get(REG).username == "AWS"
    assert store.get(REG).username == "AWS"  # cached
    assert store.get("reg.example.com") is None
    assert asked == [REG]


def ref_record(written, status, target=None, line=1, suppressed=False):
    return ImageRef("values.yaml", line, 3, "image", written, written, status, target, suppressed=suppressed)


def test_targets_from_inventory_records():
    records = [
        ref_record(f"{REG}/docker-hub/library/nginx:1.25", "mirrored", line=1),
        ref_record("nginx:1.25", "unmirrored", f"{REG}/docker-hub/library/nginx:1.25", line=2),
        ref_record("quay.io/a/b:1", "unmirrored", f"{REG}/quay/a/b:1", line=3),
        ref_record("gcr.io/x/y:1", "no-rule", line=4),
        ref_record("{{ .Values.image }}", "templated", line=5),
        ref_record("ghcr.io/o/i:1", "unmirrored", f"{REG}/github/o/i:1", line=6, suppressed=True),
        ref_record(f"{REG}/Bad/Name", "mirrored", line=7),
    ]
    targets, problems = targets_from_refs(records)
    assert [t.name for t in targets] == [f"{REG}/docker-hub/library/nginx:1.25", f"{REG}/quay/a/b:1"]
    assert targets[0].sources == ("values.yaml:1:3", "values.yaml:2:3")
    assert len(problems) == 1 and problems[0].startswith("values.yaml:7:3:")


def test_targets_from_strings_dedupes():
    targets = targets_from_strings(["r.example.com/a/b", "r.example.com/a/b:latest"])
    assert [t.name for t in targets] == ["r.example.com/a/b:latest"]


@pytest.mark.parametrize(
    "platform, wanted, expected",
    [
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64", True),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64/v8", True),
        ({"os": "linux", "architecture": "arm", "variant": "v7"}, "linux/arm/v6", False),
        ({"os": "linux", "architecture": "amd64"}, "linux/arm64", False),
        ({"os": "unknown", "architecture": "unknown"}, "all", True),
        (None, "linux/amd64", False),
    ],
)
def test_platform_matches(platform, wanted, expected):
    assert platform_matches(platform, wanted) is expected


@pytest.mark.parametrize("value", ["all", "linux/amd64", "linux/arm/v7", "windows/amd64"])
def test_platform_option_ok(value):
    assert check_platform(value) == value


@pytest.mark.parametrize("value", ["", "linux", "Linux/AMD64", "linux/amd64/v8/x", "any"])
def test_platform_option_rejected(value):
    with pytest.raises(ConfigError):
        check_platform(value)


def results():
    ok = ImageResult(
        "r/a:1",
        "ok",
        bytes=3 << 20,
        seconds=1.25,
        blobs=3,
        fetched_blobs=3,
        platforms=["linux/amd64"],
        sources=("v.yaml:1:3",),
    )
    bad = ImageResult(
        "r/nginx:1",
        "failed",
        error="r/nginx:1: HTTP 403 denied",
        hint="use library/",
        sources=tuple(f"v.yaml:{i}:1" for i in range(5)),
    )
    return [ok, bad]


def test_format_text():
    text = format_text(results(), 2.0)
    assert "ok     fetched           3.0 MiB     1.2s  r/a:1  [linux/amd64]" in text
    assert "    error: r/nginx:1: HTTP 403 denied\n    hint: use library/\n" in text
    assert "    from: ... and 2 more" in text
    assert text.endswith("2 images, 1 warmed, 1 failed, 3.0 MiB in 2.0s\n")


def test_format_json():
    doc = json.loads(format_json(results(), 2.0))
    assert doc["summary"] == {"images": 2, "ok": 1, "failed": 1, "bytes": 3 << 20, "seconds": 2.0}
    assert doc["images"][0]["cache"] == "fetched" and "error" not in doc["images"][0]
    assert doc["images"][1]["hint"] == "use library/"


@pytest.mark.parametrize(
    "cached, fetched, label", [(2, 0, "cached-already"), (0, 2, "fetched"), (1, 1, "partly-cached"), (0, 0, "unknown")]
)
def test_cache_label(cached, fetched, label):
    assert ImageResult("x", "ok", cached_blobs=cached, fetched_blobs=fetched).cache == label


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 << 20, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_bar_progress_draws_on_one_line(monkeypatch):
    stream = FakeTTY()
    monkeypatch.setattr(sys, "stderr", stream)  # the bar writes through imagemirror.output
    now = [0.0]
    bar = BarProgress(2, clock=lambda: now[0])
    a, b = Target(parse("r.example.com/a:1")), Target(parse("r.example.com/b:1"))
    bar.start(a)
    bar.start(b)
    now[0] = 1.0
    bar.advance(a, 2048)
    bar.advance(a, 2048)  # within 0.1 s: not redrawn
    out = stream.getvalue()
    assert "\n" not in out and out.count("\r\x1b[2K") == 3
    assert "0/2 images, 2.0 KiB  r.example.com/a:1 2.0 KiB (+1)" in out
    bar.finish(ImageResult("r.example.com/a:1", "failed"))
    bar.finish(ImageResult("r.example.com/b:1", "ok"))
    out = stream.getvalue()
    assert "failed r.example.com/a:1\n" in out
    assert "[" + "#" * 24 + "] 2/2 images, 1 failed, 4.0 KiB" in out
    assert out.endswith("\r\x1b[2K")


def test_line_progress_one_line_per_image(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    lines = LineProgress(2)
    lines.finish(ImageResult("r/a:1", "ok", bytes=2048, seconds=0.5))
    assert stream.getvalue() == "warm [1/2] ok     r/a:1 (2.0 KiB, 0.5s)\n"


@pytest.mark.parametrize("tty, kind", [(True, "BarProgress"), (False, "LineProgress")])
def test_run_warm_draws_a_bar_only_on_a_terminal(monkeypatch, tty, kind):
    """The bar (escape sequences, redrawn in place) only when stderr is a terminal; a log gets
    one plain line per image, and the summary goes to stdout either way."""
    from imagemirror.commands import warm as warm_command

    err = FakeTTY() if tty else io.StringIO()
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    seen = []

    def fake_warm(targets, client, *, progress, **kw):
        seen.append(type(progress).__name__)
        results = []
        for t in targets:
            progress.start(t)
            progress.advance(t, 10)
            result = ImageResult(t.name, "ok", bytes=10)
            progress.finish(result)
            results.append(result)
        return results

    monkeypatch.setattr(warm_command, "warm_images", fake_warm)
    targets = [Target(parse("r.example.com/a:1"))]
    warm_command.run_warm(targets, client=object())
    assert seen == [kind]
    assert ("\x1b[2K" in err.getvalue()) is tty
    if not tty:
        assert err.getvalue() == "warm [1/1] ok     r.example.com/a:1 (10 B, 0.0s)\n"
    assert "\n1 images, 1 warmed, 0 failed, 10 B in " in out.getvalue()


def test_an_ignore_comment_keeps_an_image_out_of_warm(tmp_path):
    """``# imagemirror: ignore`` (no codes) marks the reference suppressed, and warm skips it;
    an ignore that names check codes only does not."""
    from imagemirror.config import Settings
    from imagemirror.inventory import scan

    values = tmp_path / "values.yaml"
    values.write_text(
        "a:\n  image: ghcr.io/o/a:1  # imagemirror: ignore\n"
        "b:\n  image: ghcr.io/o/b:1  # imagemirror: ignore[IM001]\n"
        "c:\n  image: ghcr.io/o/c:1\n"
    )
    results = scan([values], Settings(registry=REG)).results  # the scan applies the comments
    assert [r.suppressed for r in results[0].refs] == [True, False, False]
    targets, _ = targets_from_refs(results[0].refs)
    assert sorted(str(t.ref) for t in targets) == [f"{REG}/github/o/b:1", f"{REG}/github/o/c:1"]
