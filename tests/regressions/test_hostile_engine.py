"""Issue 14, ``warm --engine docker``: ``--deadline`` is a wall clock of the whole run, even
while the engine pulls from a registry that drip-feeds a blob (a real Docker Engine API:
Debian's podman, ``podman system service``), and the engine client is bounded in size and
time against an engine that answers too much (a hostile ``DOCKER_HOST`` on 127.0.0.1).  Each
test failed before its fix."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from conftest import REPO, require_binary  # noqa: E402
from faultregistry import DRIP_FOR, FaultRegistry  # noqa: E402
from hostile import HttpServer, reply  # noqa: E402

DEADLINE = 5.0
#: how far past its deadline a run may end (podman start-up, a loaded CI machine)
SLACK = 15.0
assert DEADLINE + SLACK < DRIP_FOR


def run_cli(args, env, cwd, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", "warm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=timeout,
    )


def repo_for(tmp_path: Path, host: str, image: str) -> Path:
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "values.yaml").write_text(f"image: {host}/docker-hub/{image}\n")
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {host}\n")
    (tmp_path / "docker-config").mkdir()
    return folder


def one_line_failure(done, image: str) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("error:")]
    assert len(lines) == 1, done.stdout
    assert image in done.stdout
    return lines[0]


@pytest.mark.integration
def test_engine_pull_of_a_drip_fed_blob_ends_at_the_deadline(tmp_path):
    from registries import start_podman

    podman = require_binary("podman")
    reg = FaultRegistry()
    server = None
    try:
        layer = os.urandom(50_000)
        reg.add_image("docker-hub/library/drip", "1.0", [layer])
        reg.fault("/blobs/sha256:" + hashlib.sha256(layer).hexdigest(), "drip", times=None, value=0.5)
        server = start_podman(tmp_path, [reg.host], binary=podman)
        folder = repo_for(tmp_path, reg.host, "library/drip:1.0")
        env = {"DOCKER_HOST": server.url, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        start = time.monotonic()
        done = run_cli([str(folder), "--engine", "docker", "--deadline", str(DEADLINE)], env, tmp_path)
        elapsed = time.monotonic() - start
        assert elapsed < DEADLINE + SLACK, f"warm took {elapsed:.1f}s against --deadline {DEADLINE}"
        assert done.returncode == 1, done.stdout + done.stderr
        line = one_line_failure(done, f"{reg.host}/docker-hub/library/drip:1.0")
        assert "deadline exceeded" in line, line
    finally:
        if server is not None:
            server.stop()
        reg.stop()


# -- a hostile engine (DOCKER_HOST=tcp://127.0.0.1:port) ------------------------------------------


def engine(pull, inspect=None):
    """A fake Docker Engine API: ping and version answer; ``/images/create`` is ``pull``,
    ``/images/<name>/json`` is ``inspect`` (default: not found)."""

    def respond(server, conn, request):
        line = request.split(b"\r\n", 1)[0].decode()
        path = line.split()[1].split("?")[0]
        if "/_ping" in line:
            return reply(conn, "200 OK", b"OK", "text/plain")
        if path.endswith("/version"):
            return reply(conn, "200 OK", json.dumps({"ApiVersion": "1.41", "Version": "hostile"}).encode())
        if "/images/create" in line:
            return pull(server, conn)
        if inspect is not None and "/images/" in path and path.endswith("/json"):
            return inspect(server, conn)
        return reply(conn, "404 Not Found", b'{"message": "no such image"}')

    return HttpServer(respond)


def pulled(server, conn):
    """A pull that works: two progress events, chunked as an engine streams them."""
    events = [b'{"status": "Pulling from team/app"}\r\n', b'{"status": "Downloaded newer image"}\r\n']
    body = b"".join(f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in events) + b"0\r\n\r\n"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body)


PULLS = {
    # an error page that never ends
    "endless-error": lambda s, c: s.endless(c, status="500 Internal Server Error", content_type="text/plain"),
    # 64 MiB of error message
    "huge-error": lambda s, c: s.oversize(c, 64, status="500 Internal Server Error"),
    # a progress stream that is one JSON value without end
    "endless-json": lambda s, c: s.endless(c, piece=b'{"status": "' + b"x" * 100),
    # progress events, forever
    "endless-events": lambda s, c: s.endless(c, piece=b'{"status": "Downloading", "id": "abc"}\r\n'),
    # the status line, one byte every 0.5 s
    "drip-headers": lambda s, c: s.drip_headers(c, 0.5),
    # an endless stream: one byte every 0.5 s
    "drip-body": lambda s, c: s.drip_body(c, 0.5),
}


INSPECTS = {
    # the pull works; inspecting the image answers 64 MiB
    "huge-inspect": lambda s, c: s.oversize(c, 64),
    # the pull works; inspecting the image answers one byte every 0.5 s
    "drip-inspect": lambda s, c: s.drip_body(c, 0.5),
}


@pytest.mark.parametrize("kind", sorted(PULLS) + sorted(INSPECTS))
def test_hostile_engine_answers_are_bounded(tmp_path, kind):
    server = engine(PULLS[kind]) if kind in PULLS else engine(pulled, INSPECTS[kind])
    try:
        folder = repo_for(tmp_path, "127.0.0.1:5999", "library/app:1.0")
        env = {"DOCKER_HOST": f"tcp://{server.host}", "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        start = time.monotonic()
        done = run_cli(
            [str(folder), "--engine", "docker", "--deadline", str(DEADLINE)], env, tmp_path, timeout=DRIP_FOR + 30
        )
        elapsed = time.monotonic() - start
        assert elapsed < DEADLINE + SLACK, f"warm took {elapsed:.1f}s against --deadline {DEADLINE}"
        assert done.returncode == 1, done.stdout + done.stderr
        one_line_failure(done, "127.0.0.1:5999/docker-hub/library/app:1.0")
        assert len(done.stdout) < 4000, done.stdout[:4000]
        if kind in ("huge-error", "endless-error", "endless-json", "huge-inspect"):
            # the answer was not read to its end: the client hung up on it
            for _ in range(50):
                if server.held:
                    break
                time.sleep(0.1)
            assert any(hung_up for _, hung_up in server.held), server.held
    finally:
        server.stop()
