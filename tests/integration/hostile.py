"""Hostile servers on 127.0.0.1 below the HTTP layer of ``faultregistry``: a TLS server that
drip-feeds its half of the handshake, and a raw HTTP server that answers any method with a
drip-fed, oversized or endless response (an AWS endpoint, a Docker engine).

Every server stops when asked, and no connection is held longer than ``DRIP_FOR`` seconds, so
a test against code that does not keep its deadline still ends.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable

from faultregistry import DRIP_FOR


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway self-signed certificate for ``host`` (``cryptography``): ``(cert, key)``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Server:
    """A threaded TCP server on 127.0.0.1; ``serve(conn)`` runs per connection."""

    def __init__(self):
        self.stopping = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.connections = 0
        #: seconds each connection was held, and whether the client hung up first
        self.held: list[tuple[float, bool]] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        start = time.monotonic()
        hung_up = False
        try:
            hung_up = bool(self.serve(conn))
        except OSError:
            hung_up = True
        finally:
            self.held.append((time.monotonic() - start, hung_up))
            conn.close()

    def serve(self, conn: socket.socket) -> bool:
        raise NotImplementedError

    def drip(self, conn: socket.socket, data: bytes, every: float) -> bool:
        """Send ``data`` one byte every ``every`` seconds; True when the client hung up."""
        end = time.monotonic() + DRIP_FOR
        for i in range(len(data)):
            if self.stopping.wait(every) or time.monotonic() > end:
                return False
            try:
                conn.sendall(data[i : i + 1])
            except OSError:
                return True
        return False

    def hold(self, conn: socket.socket) -> bool:
        """Send nothing until the client hangs up (True) or the server stops."""
        conn.settimeout(0.1)
        end = time.monotonic() + DRIP_FOR
        while not self.stopping.is_set() and time.monotonic() < end:
            try:
                if conn.recv(65536) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


class TlsDrip(_Server):
    """Accepts TCP, reads the ClientHello and answers it with a real TLS handshake (the given
    certificate) whose bytes are sent one every ``every`` seconds; ``every=None``: never answers."""

    def __init__(self, cert: Path, key: Path, every: float | None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.every = every
        super().__init__()

    def serve(self, conn: socket.socket) -> bool:
        if self.every is None:
            return self.hold(conn)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        conn.settimeout(DRIP_FOR)
        while True:
            try:
                tls.do_handshake()
                return False  # (never: the client gives up first)
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    return self.drip(conn, pending, self.every)
                data = conn.recv(65536)
                if not data:
                    return True
                incoming.write(data)


def read_request(conn: socket.socket) -> bytes:
    """One HTTP request (headers and a ``Content-Length`` body), or b"" at EOF."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class HttpServer(_Server):
    """Answers every request with ``respond(server, conn, request)``: None after a normal
    answer (the connection stays open), else whether the client hung up during a hostile one
    (the helpers below), which ends the connection."""

    def __init__(self, respond: Callable[[HttpServer, socket.socket, bytes], bool]):
        self.respond = respond
        self.requests: list[bytes] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def serve(self, conn: socket.socket) -> bool:
        while not self.stopping.is_set():
            request = read_request(conn)
            if not request:
                return False  # the client closed between requests: nothing hostile was cut
            self.requests.append(request)
            hung_up = self.respond(self, conn, request)
            if hung_up is not None:  # a hostile answer ends the connection
                return hung_up
        return False

    # -- answers ---------------------------------------------------------------------------

    def drip_headers(self, conn, every: float = 0.5) -> bool:
        return self.drip(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: a\r\n" * 500, every)

    def drip_body(self, conn, every: float = 0.5, content_type: str = "application/json") -> bool:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n".encode())
        return self.drip(conn, b"{" + b" " * 99999, every)

    def endless(
        self, conn, status: str = "200 OK", content_type: str = "application/json", piece=b"\0", most_mib: int = 1024
    ) -> bool:
        """A chunked body without end (until the client hangs up, the server stops, ``DRIP_FOR``
        seconds or ``most_mib`` MiB: a client that holds it all cannot take the machine down)."""
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = piece * ((1 << 16) // len(piece))
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        end = time.monotonic() + DRIP_FOR
        try:
            for _ in range((most_mib << 20) // len(chunk)):
                if self.stopping.is_set() or time.monotonic() > end:
                    break
                conn.sendall(frame)
        except OSError:
            return True
        return False

    def oversize(self, conn, mib: int, status: str = "200 OK", content_type: str = "application/json") -> bool:
        """``mib`` MiB of body, announced by ``Content-Length``."""
        size = mib << 20
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b" " * (1 << 20)
        try:
            for _ in range(mib):
                if self.stopping.is_set():
                    return False
                conn.sendall(chunk)
        except OSError:
            return True
        return False


def reply(conn, status: str, body: bytes, content_type: str = "application/json") -> None:
    conn.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
