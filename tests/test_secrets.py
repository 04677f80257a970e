"""Secrets: canary credentials pushed through ``warm`` (and its debug logging and error paths)
must never appear in stdout, stderr, log records or exception text; HTTP logging redacts
``Authorization``.

``ecr apply``/``plan``/``doctor``/``destroy`` with canary Docker Hub tokens (environment,
``--credentials-stdin``, ``--debug``) are covered in
``tests/integration/test_ecr.py::test_a_secret_value_never_reaches_output_or_logs``; this
file adds the warm path, the settings/stdin error paths, and a hostile registry.

The registry here is a small HTTP server on 127.0.0.1 written for this test: it speaks the
distribution API's token flow (``/v2/`` challenge, Basic-auth ``/token``, Bearer manifests)
and, like some misconfigured proxies, *echoes the credentials it received* in its error
bodies -- the worst case for an error path that quotes the server.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CANARY_USER = "canary-user-3f9a"
CANARY_PASS = "dckr_pat_CANARY-PASS-8c1e5b2a"
CANARY_BEARER = "CANARY-BEARER-eyJhbGciOi-41d7"
CANARY_ECR = "CANARY-ECR-TOKEN-0b6e9f"
CANARIES = (CANARY_PASS, CANARY_BEARER, CANARY_ECR, base64.b64encode(f"{CANARY_USER}:{CANARY_PASS}".encode()).decode())


class EchoingRegistry(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, accept: bool, status: int, echo: bool = True):
        self.accept = accept  # accept the canary credentials at /token
        self.status = status  # what manifests answer
        self.echo = echo  # quote the request's credentials in error bodies
        self.seen_auth: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: EchoingRegistry

    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, status: int, body: dict | str, headers: dict | None = None):
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        self.server.seen_auth.append(auth)
        echo = f"request had Authorization: {auth}" if self.server.echo else "no such thing here"
        if self.path.startswith("/token"):
            good = "Basic " + base64.b64encode(f"{CANARY_USER}:{CANARY_PASS}".encode()).decode()
            if self.server.accept and auth == good:
                return self._send(200, {"token": CANARY_BEARER, "access_token": CANARY_BEARER, "expires_in": 300})
            return self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": echo}]})
        if auth != f"Bearer {CANARY_BEARER}":
            realm = f"http://{self.server.host}/token"
            return self._send(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": echo}]},
                {"WWW-Authenticate": f'Bearer realm="{realm}",service="echo",scope="repository:x:pull"'},
            )
        if self.path == "/v2/":
            return self._send(200, {})
        # a manifest (or anything else): the configured failure, echoing the credentials
        body = {"errors": [{"code": "MANIFEST_UNKNOWN" if self.server.status == 404 else "UNKNOWN", "message": echo}]}
        if self.server.status == 599:  # not JSON: an HTML error page quoting the request
            return self._send(500, f"<html><body><pre>{echo}</pre></body></html>", {"Content-Type": "text/html"})
        return self._send(self.server.status, body, {"Content-Type": "application/json"})


@pytest.fixture
def registry(request):
    srv = EchoingRegistry(**request.param)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def project(tmp_path: Path, host: str) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {host}\n")
    (tmp_path / "values.yaml").write_text(
        f"image: {host}/docker-hub/library/nginx:1.25\nsidecar:\n  image: quay.io/prometheus/node-exporter:v1.8.0\n"
    )
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"{CANARY_USER}:{CANARY_PASS}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return tmp_path


def assert_no_canary(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{where} leaks {canary[:12]}...:\n{text[-3000:]}"


# A registry or proxy that echoes the request's Authorization header back in its error text:
# the client masks every credential it holds, and anything shaped like one, in server text.
CASES = [
    pytest.param(dict(accept=True, status=404, echo=False), id="token-ok-manifest-404"),
    pytest.param(dict(accept=True, status=500, echo=False), id="token-ok-manifest-500"),
    pytest.param(dict(accept=False, status=404, echo=True), id="token-rejected-401-echo"),
    pytest.param(dict(accept=True, status=404, echo=True), id="token-ok-manifest-404-echo"),
    pytest.param(dict(accept=True, status=400, echo=True), id="token-ok-manifest-400-echo"),
    pytest.param(dict(accept=True, status=599, echo=True), id="token-ok-html-500-echo"),
]


@pytest.mark.parametrize("registry", CASES, indirect=True)
def test_warm_never_prints_credentials_even_when_the_registry_echoes_them(registry, tmp_path):
    root = project(tmp_path, registry.host)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DOCKER_CONFIG": str(root / "docker"),
        "AWS_ACCESS_KEY_ID": "AKIA" + CANARY_ECR,
        "AWS_SECRET_ACCESS_KEY": CANARY_ECR,
    }
    for fmt in ("text", "json"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "imagemirror",
                "warm",
                ".",
                "--insecure",
                "--jobs",
                "2",
                "--deadline",
                "8",
                "--format",
                fmt,
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 1, proc.stderr  # the images failed, clearly
        assert "Traceback" not in proc.stderr
        assert_no_canary(proc.stdout + proc.stderr, f"warm --format {fmt}")
    # the credentials did reach the server (the test exercised the auth path)
    assert any(a.startswith("Basic ") for a in registry.seen_auth)
    if registry.accept:
        assert f"Bearer {CANARY_BEARER}" in registry.seen_auth


@pytest.mark.parametrize(
    "registry",
    [
        pytest.param(dict(accept=True, status=404, echo=False), id="plain"),
        pytest.param(dict(accept=True, status=404, echo=True), id="echo"),
    ],
    indirect=True,
)
def test_warm_debug_logging_redacts_authorization(registry, tmp_path, monkeypatch, caplog, capsys):
    """In-process, every logger at DEBUG: header logging shows ``<redacted>``, never a value;
    exception text of every failure is clean too."""
    from imagemirror.commands.warm import warm
    from imagemirror.registry.client import redact

    root = project(tmp_path, registry.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(root / "docker"))
    monkeypatch.chdir(root)
    caplog.set_level(logging.DEBUG)
    code = warm([Path(".")], insecure=True, jobs=2, deadline=8)
    out, err = capsys.readouterr()
    assert code == 1
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert_no_canary(out + err + logged, "warm (debug logs)")
    assert "<redacted>" in logged and "authorization" in logged.lower(), "header logging did not run"
    assert redact({"Authorization": "Bearer x", "accept": "y"}) == {"Authorization": "<redacted>", "accept": "y"}


def test_docker_config_errors_do_not_quote_the_secret(tmp_path):
    """A malformed docker config: the error names the file or the host, never the value it
    could not use."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text("registry: 127.0.0.1:9\n")
    (tmp_path / "values.yaml").write_text("image: 127.0.0.1:9/docker-hub/library/nginx:1.25\n")
    docker = tmp_path / "docker"
    docker.mkdir()
    # not valid base64 / not user:password / not JSON at all
    for config in (
        json.dumps({"auths": {"127.0.0.1:9": {"auth": CANARY_PASS + "!!"}}}),
        json.dumps({"auths": {"127.0.0.1:9": {"auth": base64.b64encode(CANARY_PASS.encode()).decode()}}}),
        '{"auths": {"127.0.0.1:9": {"auth": "' + CANARY_PASS + '"',
        json.dumps({"auths": {"127.0.0.1:9": {"identitytoken": CANARY_BEARER}}, "credsStore": CANARY_PASS}),
    ):
        (docker / "config.json").write_text(config)
        proc = subprocess.run(
            [sys.executable, "-m", "imagemirror", "warm", ".", "--insecure", "--deadline", "3"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), "DOCKER_CONFIG": str(docker)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode in (1, 2, 4), proc.stderr
        assert "Traceback" not in proc.stderr
        assert_no_canary(proc.stdout + proc.stderr, f"warm with docker config {config[:40]}")


def test_ecr_apply_credential_input_errors_do_not_quote_the_secret(moto_server, tmp_path):
    """``ecr apply --credentials-stdin`` with malformed input, against moto on 127.0.0.1: the
    error names the option and the expected shape, never the value."""
    moto_server.reset()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(
        "registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\necr:\n  region: eu-west-1\n"
        "  credentials:\n    docker.io: {username_env: HUB_USER, token_env: HUB_TOKEN}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for var in ("HUB_USER", "HUB_TOKEN"):
        env.pop(var, None)
    for stdin in (
        '{"docker.io": {"username": "u", "accessToken": ' + CANARY_PASS + "}}",  # not JSON
        json.dumps({"docker.io": {"username": CANARY_PASS, "accessToken": 5}}),  # wrong type
        json.dumps({"docker.io": {"username": "", "accessToken": CANARY_PASS}}),  # empty user
        json.dumps({"docker.io": [CANARY_PASS]}),
        json.dumps([CANARY_PASS]),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "imagemirror", "ecr", "apply", "--debug", "--credentials-stdin"],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 2, proc.stderr  # a usage error, raised before anything is created
        assert "--credentials-stdin" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert_no_canary(proc.stdout + proc.stderr, f"ecr apply with stdin {stdin[:30]}")
    assert moto_server.client("secretsmanager").list_secrets()["SecretList"] == []


def test_credentials_are_never_taken_from_argv():
    """No command has an option that takes a secret on the command line."""
    from click import Option

    from imagemirror.cli import main

    def walk(cmd, path=()):
        for param in cmd.params:
            if isinstance(param, Option) and not param.is_flag:
                for name in param.opts:
                    lowered = name.lower()
                    assert not any(w in lowered for w in ("token", "password", "secret", "passwd", "auth")), (
                        path,
                        name,
                    )
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, path + (name,))

    walk(main)
