"""Build real Helm chart artefacts in tests: folders, ``.tgz`` archives, a classic chart
repository (``index.yaml`` + archives) served over HTTP on 127.0.0.1, and pushes to an OCI
registry with Helm's media types.

The archives have Helm's layout (``<name>/Chart.yaml``, ``<name>/values.yaml``,
``<name>/templates/...``, ``<name>/charts/<sub>.tgz`` or ``<name>/charts/<sub>/``).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import textwrap
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: main
          image: {{ .Values.image.repository }}:{{ .Values.image.tag }}
"""


@dataclass
class ChartSpec:
    """A chart to build: ``values`` is the literal values.yaml text (dedented)."""

    name: str
    version: str = "1.0.0"
    values: str = ""
    dependencies: list[dict] = field(default_factory=list)
    subcharts: list[ChartSpec] = field(default_factory=list)
    packed_subcharts: bool = True
    api_version: str = "v2"
    app_version: str = "1.0"

    def files(self) -> dict[str, bytes]:
        meta = [
            f"apiVersion: {self.api_version}",
            f"name: {self.name}",
            f"version: {self.version}",
            f'appVersion: "{self.app_version}"',
            "type: application",
        ]
        if self.dependencies:
            meta.append("dependencies:")
            for dep in self.dependencies:
                first = True
                for key, value in dep.items():
                    meta.append(("  - " if first else "    ") + f"{key}: {json.dumps(value)}")
                    first = False
        out = {
            "Chart.yaml": ("\n".join(meta) + "\n").encode(),
            "values.yaml": textwrap.dedent(self.values).encode(),
            "templates/deployment.yaml": DEPLOYMENT.encode(),
        }
        for sub in self.subcharts:
            if self.packed_subcharts:
                out[f"charts/{sub.name}-{sub.version}.tgz"] = sub.tgz()
            else:
                for rel, data in sub.files().items():
                    out[f"charts/{sub.name}/{rel}"] = data
        return out

    def tgz(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for rel, data in sorted(self.files().items()):
                info = tarfile.TarInfo(f"{self.name}/{rel}")
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def write_dir(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for rel, data in self.files().items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root

    def write_tgz(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}-{self.version}.tgz"
        path.write_bytes(self.tgz())
        return path


# Charts shaped like the real ones (image maps as their values.yaml carry them).
def mariadb(version: str = "20.0.0") -> ChartSpec:
    return ChartSpec(
        "mariadb",
        version,
        """\
        global:
          imageRegistry: ""
        image:
          registry: docker.io
          repository: bitnami/mariadb
          tag: 11.4.3-debian-12-r0
        metrics:
          enabled: false
          image:
            registry: docker.io
            repository: bitnami/mysqld-exporter
            tag: 0.15.1-debian-12-r0
        """,
    )


def wordpress(
    version: str = "23.1.0",
    packed: bool = True,
    security: bool = False,
    mariadb_repo: str = "oci://registry-1.docker.io/bitnamicharts",
    vendored: bool = True,
) -> ChartSpec:
    """bitnami/wordpress: mariadb (enabled) and memcached (disabled) subcharts.

    ``security`` adds ``global.security.allowInsecureImages: false`` (newer bitnami charts);
    ``vendored=False`` leaves mariadb out of ``charts/`` so it is fetched from ``mariadb_repo``.
    """
    security_block = "          security:\n            allowInsecureImages: false\n" if security else ""
    return ChartSpec(
        "wordpress",
        version,
        """\
        global:
          imageRegistry: ""
"""
        + security_block
        + """\
        image:
          registry: docker.io
          repository: bitnami/wordpress
          tag: 6.6.2-debian-12-r0
        volumePermissions:
          enabled: false
          image:
            registry: docker.io
            repository: bitnami/os-shell
            tag: 12-debian-12-r30
        metrics:
          image:
            registry: docker.io
            repository: bitnami/apache-exporter
            tag: 1.0.8-debian-12-r0
        mariadb:
          enabled: true
        memcached:
          enabled: false
        """,
        dependencies=[
            {"name": "mariadb", "version": "20.x.x", "repository": mariadb_repo, "condition": "mariadb.enabled"},
            {
                "name": "memcached",
                "version": "7.x.x",
                "repository": "oci://registry-1.docker.io/bitnamicharts",
                "condition": "memcached.enabled",
            },
        ],
        subcharts=([mariadb()] if vendored else [])
        + [
            ChartSpec(
                "memcached",
                "7.4.0",
                """\
            image:
              registry: docker.io
              repository: bitnami/memcached
              tag: 1.6.31
            """,
            )
        ],
        packed_subcharts=packed,
    )


def erpnext(version: str = "7.0.100") -> ChartSpec:
    """frappe/erpnext: ``image`` is repository:tag with no registry key; aliased redis twice."""
    redis = ChartSpec(
        "redis",
        "17.15.2",
        """\
        image:
          registry: docker.io
          repository: bitnami/redis
          tag: 7.0.12
        """,
    )
    return ChartSpec(
        "erpnext",
        version,
        """\
        image:
          repository: frappe/erpnext
          tag: v15.38.0
          pullPolicy: IfNotPresent
        jobs:
          configure:
            fixVolumeImage: alpine/kubectl:1.35.0
        nginx:
          image:
            repository: frappe/erpnext
            tag: v15.38.0
        redis-cache:
          enabled: true
        redis-queue:
          enabled: false
        """,
        dependencies=[
            {
                "name": "redis",
                "alias": "redis-cache",
                "version": "17.15.2",
                "repository": "https://charts.bitnami.com/bitnami",
                "condition": "redis-cache.enabled",
            },
            {
                "name": "redis",
                "alias": "redis-queue",
                "version": "17.15.2",
                "repository": "https://charts.bitnami.com/bitnami",
                "condition": "redis-queue.enabled",
            },
        ],
        subcharts=[redis],
    )


# -- a classic chart repository over HTTP -------------------------------------------------------


class ChartRepo:
    """``index.yaml`` + archives, served by a thread on 127.0.0.1; ``url`` is the repo URL."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entries: dict[str, list[dict]] = {}
        self.requests: list[str] = []
        folder_ = folder
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder_), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/charts"
        (folder / "charts").mkdir(exist_ok=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, spec: ChartSpec, absolute_url: bool = False) -> None:
        data = spec.tgz()
        name = f"{spec.name}-{spec.version}.tgz"
        (self.folder / "charts" / "archives").mkdir(exist_ok=True)
        (self.folder / "charts" / "archives" / name).write_bytes(data)
        url = f"{self.url}/archives/{name}" if absolute_url else f"archives/{name}"
        self.entries.setdefault(spec.name, []).append(
            {
                "apiVersion": spec.api_version,
                "name": spec.name,
                "version": spec.version,
                "appVersion": spec.app_version,
                "digest": hashlib.sha256(data).hexdigest(),
                "urls": [url],
            }
        )
        index = {"apiVersion": "v1", "entries": self.entries, "generated": "2026-01-01T00:00:00Z"}
        # The layout `helm repo index` writes (go-yaml: list items at their key's indentation).
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        with open(self.folder / "charts" / "index.yaml", "w") as fh:
            yaml.dump(index, fh)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- an OCI registry push with Helm's media types -------------------------------------------------

CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def push_oci(base_url: str, repository: str, spec: ChartSpec, headers: dict | None = None) -> str:
    """Push ``spec`` as ``helm push`` does: config + one chart layer, tag = version (``+`` -> ``_``).

    ``base_url`` is ``http://127.0.0.1:PORT``; returns the manifest digest.
    """
    headers = dict(headers or {})
    data = spec.tgz()
    config = json.dumps({"name": spec.name, "version": spec.version, "apiVersion": spec.api_version}).encode()

    def blob(content: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        req = urllib.request.Request(f"{base_url}/v2/{repository}/blobs/uploads/", method="POST", headers=headers)
        with urllib.request.urlopen(req) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = base_url + location
        sep = "&" if "?" in location else "?"
        req = urllib.request.Request(
            f"{location}{sep}digest={digest}",
            data=content,
            method="PUT",
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(req).close()
        return digest

    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "config": {"mediaType": CONFIG_MEDIA, "digest": blob(config), "size": len(config)},
        "layers": [{"mediaType": CHART_MEDIA, "digest": blob(data), "size": len(data)}],
        "annotations": {"org.opencontainers.image.title": spec.name, "org.opencontainers.image.version": spec.version},
    }
    body = json.dumps(manifest).encode()
    tag = spec.version.replace("+", "_")
    req = urllib.request.Request(
        f"{base_url}/v2/{repository}/manifests/{tag}",
        data=body,
        method="PUT",
        headers={**headers, "Content-Type": MANIFEST_MEDIA},
    )
    urllib.request.urlopen(req).close()
    return "sha256:" + hashlib.sha256(body).hexdigest()
