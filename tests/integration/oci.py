"""Build small, real OCI images in Python and push them with the distribution API.

Layers are real gzip'ed tar archives (or plain tar for very large ones), the config is a
real OCI image config, manifests and indexes are OCI JSON documents: a container engine
(podman) pulls and unpacks them.  Pushing uses only the standard library (http.client),
monolithic uploads (POST then PUT ``?digest=``), streamed from memory or from a file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import ssl
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blob:
    """A blob in memory (``data``) or on disk (``path``)."""

    media_type: str
    digest: str
    size: int
    data: bytes | None = None
    path: Path | None = None

    def descriptor(self, **extra) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass
class Image:
    """One single-platform image: config + layers + manifest bytes."""

    config: Blob
    layers: list[Blob]
    manifest: bytes
    platform: dict = field(default_factory=lambda: {"os": "linux", "architecture": "amd64"})

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blobs)


@dataclass
class Index:
    images: list[Image]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> list[Blob]:
        return [b for image in self.images for b in image.blobs]


def _pseudo_random(seed: str, size: int) -> bytes:
    """Incompressible, deterministic bytes (so gzip does not shrink test layers to nothing)."""
    out = bytearray()
    counter = 0
    base = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += hashlib.sha512(base + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def layer(seed: str, size: int = 4096, name: str | None = None) -> tuple[Blob, str]:
    """A gzip'ed tar layer with one file of ``size`` incompressible bytes; returns (blob, diff_id)."""
    content = _pseudo_random(seed, size)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name or f"data/{hashlib.sha1(seed.encode()).hexdigest()[:12]}.bin")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    return Blob(OCI_LAYER_GZIP, sha256(gz), len(gz), data=gz), sha256(raw)


def big_tar_layer(path: Path, size: int, seed: str = "big") -> Blob:
    """An uncompressed tar layer of about ``size`` bytes written to ``path`` in 1 MiB steps."""
    chunk = _pseudo_random(seed, 1 << 20)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        header = tarfile.TarInfo("data/big.bin")
        header.size = size
        header.mode = 0o644
        block = header.tobuf(format=tarfile.PAX_FORMAT)
        written = 0

        def emit(data: bytes) -> None:
            out.write(data)
            digest.update(data)

        emit(block)
        while written < size:
            piece = chunk[: min(len(chunk), size - written)]
            # vary each MiB so the content is not one repeated block
            piece = written.to_bytes(8, "big") + piece[8:] if len(piece) > 8 else piece
            emit(piece)
            written += len(piece)
        pad = (-size) % 512
        emit(b"\0" * pad + b"\0" * 1024)
    total = path.stat().st_size
    return Blob(OCI_LAYER_TAR, "sha256:" + digest.hexdigest(), total, path=path)


def image(
    seed: str,
    layer_sizes: tuple[int, ...] = (4096,),
    os_name: str = "linux",
    arch: str = "amd64",
    extra_layers: list[tuple[Blob, str]] | None = None,
) -> Image:
    """A single-platform OCI image whose layers are made from ``seed``."""
    layers_ids = [layer(f"{seed}/{i}/{arch}", size) for i, size in enumerate(layer_sizes)]
    layers_ids += list(extra_layers or [])
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {"Cmd": ["/bin/true"], "Labels": {"imagemirror.test": seed}},
        "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers_ids]},
        "history": [{"created_by": f"imagemirror test layer {i}"} for i in range(len(layers_ids))],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_blob = Blob(OCI_CONFIG, sha256(config_bytes), len(config_bytes), data=config_bytes)
    layers = [blob for blob, _ in layers_ids]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }
    return Image(config_blob, layers, json.dumps(manifest, indent=2).encode(), {"os": os_name, "architecture": arch})


def index(seed: str, platforms=(("linux", "amd64"), ("linux", "arm64")), layer_sizes=(4096,)) -> Index:
    images = [image(seed, layer_sizes, os_name, arch) for os_name, arch in platforms]
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": img.digest, "size": len(img.manifest), "platform": img.platform}
            for img in images
        ],
    }
    return Index(images, json.dumps(doc, indent=2).encode())


class Pusher:
    """Push blobs and manifests to a registry at ``base_url`` (http or https)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None = None, ca_file: str | None = None):
        parts = urllib.parse.urlsplit(base_url)
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.headers: dict[str, str] = {}
        if auth:
            import base64

            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.context = ssl.create_default_context(cafile=ca_file) if self.scheme == "https" else None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.netloc, timeout=60, context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.netloc, timeout=60)
        return self._conn

    def request(self, method: str, url: str, body=None, headers=None) -> tuple[int, dict, bytes]:
        conn = self._connection()
        all_headers = {**self.headers, **(headers or {})}
        try:
            conn.request(method, url, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            self._conn = None
            raise
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def push_blob(self, repo: str, blob: Blob) -> None:
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}")
        if status == 200:
            return
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
        if status != 202:
            raise RuntimeError(f"upload start for {repo}: {status} {body[:200]!r}")
        location = headers["location"]
        parts = urllib.parse.urlsplit(location)
        target = (
            parts.path + "?" + (parts.query + "&" if parts.query else "") + "digest=" + urllib.parse.quote(blob.digest)
        )
        put_headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
        if blob.data is not None:
            status, _, body = self.request("PUT", target, body=blob.data, headers=put_headers)
        else:
            with open(blob.path, "rb") as fh:  # type: ignore[arg-type]
                status, _, body = self.request("PUT", target, body=fh, headers=put_headers)
        if status != 201:
            raise RuntimeError(f"upload of {blob.digest} to {repo}: {status} {body[:200]!r}")

    def push_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str) -> None:
        status, _, body = self.request(
            "PUT", f"/v2/{repo}/manifests/{reference}", body=manifest, headers={"Content-Type": media_type}
        )
        if status != 201:
            raise RuntimeError(f"manifest {repo}:{reference}: {status} {body[:300]!r}")

    def push_image(self, repo: str, tag: str, img: Image) -> None:
        for blob in img.blobs:
            self.push_blob(repo, blob)
        self.push_manifest(repo, tag, img.manifest, OCI_MANIFEST)

    def push_index(self, repo: str, tag: str, idx: Index) -> None:
        for img in idx.images:
            for blob in img.blobs:
                self.push_blob(repo, blob)
            self.push_manifest(repo, img.digest, img.manifest, OCI_MANIFEST)
        self.push_manifest(repo, tag, idx.manifest, OCI_INDEX)


def pull_everything(base_url: str, repo: str, reference: str, ca_file: str | None = None, auth=None) -> int:
    """Pull a tag from a registry the plain way (manifest, index children, every blob, digests
    checked); return the bytes of blobs read.  Raise on any failure.  Used to prove a cache is
    warm while the upstream is down."""
    pusher = Pusher(base_url, auth=auth, ca_file=ca_file)
    accept = ", ".join(
        [
            OCI_INDEX,
            OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
    total = 0
    try:
        status, headers, body = pusher.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})
        if status != 200:
            raise AssertionError(f"{repo}:{reference}: manifest {status} {body[:200]!r}")
        docs = [json.loads(body)]
        if "manifests" in docs[0]:
            children = []
            for child in docs[0]["manifests"]:
                status, _, cbody = pusher.request(
                    "GET", f"/v2/{repo}/manifests/{child['digest']}", headers={"Accept": accept}
                )
                if status != 200 or sha256(cbody) != child["digest"]:
                    raise AssertionError(f"{repo}@{child['digest']}: {status}")
                children.append(json.loads(cbody))
            docs = children
        for doc in docs:
            for desc in [doc["config"], *doc["layers"]]:
                status, _, data = pusher.request("GET", f"/v2/{repo}/blobs/{desc['digest']}")
                if status != 200 or sha256(data) != desc["digest"]:
                    raise AssertionError(f"{repo} blob {desc['digest']}: {status}")
                total += len(data)
    finally:
        pusher.close()
    return total


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.write(os.urandom(size))
    return path
