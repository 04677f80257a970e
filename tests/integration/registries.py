"""Start real registry servers on 127.0.0.1 for the warm tests and the benchmark.

- Debian's ``docker-registry`` (the CNCF distribution registry) as an *upstream*,
- a second one in pull-through proxy mode (``proxy: remoteurl:``) as the *cache*,
- nginx (Debian ``nginx-light``) in front, routing ECR-shaped paths
  ``/v2/<prefix>/<path>/...`` to one proxy per prefix, optionally with TLS (a self-signed CA
  made with openssl) and HTTP Basic auth (an ``$apr1$`` htpasswd made with ``openssl passwd``:
  distribution's own htpasswd auth needs bcrypt, which no Debian CLI here makes; nginx accepts
  apr1, and Basic is what ECR speaks),
- podman's Docker-compatible API service (``podman system service``, vfs storage) as a real
  Docker Engine.

Everything binds to loopback, lives under a temporary folder and is stopped by ``stop()``.
These are plain functions (usable from ``bench/``); tests wrap them in fixtures.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def find_binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen | None
    log: Path
    extra: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def stop(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.extra.get("short"):
            shutil.rmtree(self.extra["short"], ignore_errors=True)

    def logs(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def wait_ready(server: Server, path: str = "/v2/", ca_file: str | None = None, timeout: float = 20.0) -> None:
    """Poll until the server answers HTTP at all (any status), or raise with its log."""
    scheme, netloc = server.url.split("://", 1)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.logs()}")
        try:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    netloc, timeout=2, context=ssl.create_default_context(cafile=ca_file)
                )
            else:
                conn = http.client.HTTPConnection(netloc, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} not ready at {server.url}: {last}\n{server.logs()}")


def _spawn(name: str, argv: list[str], workdir: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    log = workdir / f"{name}.log"
    fh = open(log, "ab")
    proc = subprocess.Popen(
        argv,
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    fh.close()
    return proc, log


def start_registry(
    workdir: Path,
    name: str,
    *,
    binary: str = "docker-registry",
    proxy_remote: str | None = None,
    port: int | None = None,
    storage: Path | None = None,
) -> Server:
    """A distribution registry on 127.0.0.1 (a pull-through proxy when ``proxy_remote``)."""
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    storage = storage or home / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "  cache:",
        "    blobdescriptor: inmemory",
        "http:",
        f"  addr: {LOOPBACK}:{port}",
        "  secret: imagemirror-test-secret",
    ]
    if proxy_remote:
        lines += ["proxy:", f"  remoteurl: {proxy_remote}"]
    config = home / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    proc, log = _spawn(name, [binary, "serve", str(config)], home)
    server = Server(name, f"http://{LOOPBACK}:{port}", proc, log, {"storage": storage, "config": config, "port": port})
    try:
        wait_ready(server)
    except Exception:
        server.stop()
        raise
    return server


def restart(server: Server, workdir: Path, binary: str = "docker-registry") -> Server:
    """Start a stopped registry again on the same port and storage."""
    home = Path(server.extra["config"]).parent
    proc, log = _spawn(server.name, [binary, "serve", str(server.extra["config"])], home)
    again = Server(server.name, server.url, proc, log, server.extra)
    wait_ready(again)
    return again


@dataclass
class CA:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_ca(workdir: Path, openssl: str = "openssl") -> CA:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    d = workdir / "tls"
    d.mkdir(parents=True, exist_ok=True)
    run = lambda *args: subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=imagemirror test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return CA(d / "ca.crt", d / "server.crt", d / "server.key")


def apr1_htpasswd(path: Path, user: str, password: str, openssl: str = "openssl") -> Path:
    """An nginx htpasswd file; the password goes to openssl on stdin, never in argv."""
    out = subprocess.run(
        [openssl, "passwd", "-apr1", "-stdin"], input=password.encode(), check=True, capture_output=True
    )
    path.write_text(f"{user}:{out.stdout.decode().strip()}\n")
    return path


def start_nginx(
    workdir: Path,
    routes: dict[str, str],
    *,
    binary: str = "nginx",
    tls: CA | None = None,
    basic_auth: tuple[str, str] | None = None,
    name: str = "nginx",
) -> Server:
    """nginx on 127.0.0.1 routing ``/v2/<prefix>/<rest>`` to ``<upstream>/v2/<rest>``.

    ``routes`` maps an ECR-style repository prefix (``docker-hub``) to a registry base URL.
    ``/v2/`` itself answers 200 (or 401 with a Basic challenge when ``basic_auth``).
    """
    home = workdir / name
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if basic_auth:
        htpasswd = apr1_htpasswd(home / "htpasswd", *basic_auth)
        auth = f'auth_basic "imagemirror-test"; auth_basic_user_file {htpasswd};'
    listen = f"listen {LOOPBACK}:{port}" + (" ssl" if tls else "") + ";"
    ssl_lines = f"ssl_certificate {tls.server_cert}; ssl_certificate_key {tls.server_key};" if tls else ""
    locations = []
    for prefix, upstream in sorted(routes.items(), key=lambda kv: -len(kv[0])):
        locations.append(f"location ~ ^/v2/{prefix}/(.*)$ {{ proxy_pass {upstream}/v2/$1$is_args$args; }}")
    conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {home}/tmp/body;
  proxy_temp_path {home}/tmp/proxy;
  fastcgi_temp_path {home}/tmp/fastcgi;
  uwsgi_temp_path {home}/tmp/uwsgi;
  scgi_temp_path {home}/tmp/scgi;
  server {{
    {listen}
    {ssl_lines}
    {auth}
    client_max_body_size 0;
    proxy_buffering off;
    proxy_request_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_read_timeout 300s;
    location = /v2/ {{
      # a static file, not `return`: `return` would answer before auth_basic runs
      root {home}/www;
      default_type application/json;
      add_header Docker-Distribution-Api-Version registry/2.0 always;
      try_files /v2.json =404;
    }}
    {chr(10).join(locations)}
    location / {{
      default_type application/json;
      return 404 '{{"errors":[{{"code":"NAME_UNKNOWN","message":"no pull through cache rule for this prefix"}}]}}';
    }}
  }}
}}
"""
    (home / "www").mkdir(exist_ok=True)
    (home / "www" / "v2.json").write_text("{}")
    conf_path = home / "nginx.conf"
    conf_path.write_text(conf)
    proc, log = _spawn(name, [binary, "-e", str(home / "error.log"), "-p", str(home), "-c", str(conf_path)], home)
    scheme = "https" if tls else "http"
    server = Server(name, f"{scheme}://{LOOPBACK}:{port}", proc, home / "error.log", {"port": port})
    try:
        wait_ready(server, ca_file=str(tls.ca_cert) if tls else None)
    except Exception:
        server.stop()
        raise
    return server


def start_podman(workdir: Path, insecure_registries: list[str], binary: str = "podman") -> Server:
    """podman's Docker-compatible API on a unix socket, vfs storage under ``workdir``.

    Returns a Server whose ``url`` is the ``DOCKER_HOST`` value (``unix://...``)."""
    import tempfile

    home = workdir / "podman"
    (home / "root").mkdir(parents=True, exist_ok=True)
    # podman wants a runroot under 50 characters, and a unix socket path is limited too
    short = Path(tempfile.mkdtemp(prefix="impod-", dir="/tmp"))
    runroot = short / "run"
    runroot.mkdir()
    registries = home / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n"
        + "".join(f'[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in insecure_registries)
    )
    storage = home / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "vfs"\nrunroot = "{runroot}"\ngraphroot = "{home / "root"}"\n')
    containers_conf = home / "containers.conf"
    containers_conf.write_text(
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'events_logfile_path = "{home / "events.log"}"\n'
    )
    sock = short / "podman.sock"
    env = {
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "CONTAINERS_STORAGE_CONF": str(storage),
        "CONTAINERS_CONF": str(containers_conf),
        "XDG_RUNTIME_DIR": str(runroot),
        "TMPDIR": str(home),
    }
    proc, log = _spawn(
        "podman",
        [
            binary,
            "--root",
            str(home / "root"),
            "--runroot",
            str(runroot),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "system",
            "service",
            "--time=0",
            f"unix://{sock}",
        ],
        home,
        env,
    )
    server = Server("podman", f"unix://{sock}", proc, log, {"home": home, "env": env, "short": short})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"podman exited with {proc.returncode}:\n{server.logs()}")
        if sock.exists():
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                    s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1."):
                        return server
            except OSError:
                pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"podman socket not ready:\n{server.logs()}")


# -- pytest fixtures (import them into a test module) --------------------------------------


@dataclass
class Stack:
    """Two upstreams (``docker-hub``, ``quay``), a pull-through proxy for each, nginx in front."""

    workdir: Path
    upstreams: dict[str, Server]
    proxies: dict[str, Server]
    front: Server
    servers: list[Server]

    @property
    def registry(self) -> str:
        return self.front.host

    def pusher(self, prefix: str):
        import oci

        return oci.Pusher(self.upstreams[prefix].url)

    def stop_upstreams(self) -> None:
        for server in self.upstreams.values():
            server.stop()

    def add_front(self, **kwargs) -> Server:
        """Another nginx on the same proxies (TLS, auth)."""
        server = start_nginx(
            self.workdir, {p: s.url for p, s in self.proxies.items()}, binary=self.front.extra["binary"], **kwargs
        )
        server.extra["binary"] = self.front.extra["binary"]
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def start_stack(workdir: Path, registry_binary: str, nginx_binary: str, prefixes=("docker-hub", "quay")) -> Stack:
    servers: list[Server] = []
    try:
        upstreams, proxies = {}, {}
        for prefix in prefixes:
            upstreams[prefix] = start_registry(workdir, f"upstream-{prefix}", binary=registry_binary)
            servers.append(upstreams[prefix])
            proxies[prefix] = start_registry(
                workdir, f"proxy-{prefix}", binary=registry_binary, proxy_remote=upstreams[prefix].url
            )
            servers.append(proxies[prefix])
        front = start_nginx(workdir, {p: s.url for p, s in proxies.items()}, binary=nginx_binary)
        front.extra["binary"] = nginx_binary
        servers.append(front)
    except Exception:
        for server in reversed(servers):
            server.stop()
        raise
    return Stack(workdir, upstreams, proxies, front, servers)


try:
    import pytest
except ImportError:  # pragma: no cover - bench without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def stack(tmp_path):
        from conftest import require_binary

        registry_binary = require_binary("docker-registry", "/usr/bin/docker-registry")
        nginx_binary = require_binary("nginx", "/usr/sbin/nginx")
        require_binary("openssl")
        the_stack = start_stack(tmp_path, registry_binary, nginx_binary)
        yield the_stack
        the_stack.stop()
