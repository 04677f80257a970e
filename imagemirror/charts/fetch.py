"""Get a chart's archive: vendored in the repository, from the local cache, a classic chart
repository (``index.yaml`` + ``.tgz``) or an OCI registry (Helm's media types).  No ``helm``.

Chart knowledge only; the network is the injected registry client
(``registry.client.RegistryClient``: credentials from the Docker config and its helpers, ECR
tokens, retries, size caps, one overall deadline, only http(s)):

- Classic repositories: ``<repo>/index.yaml``; the version is the exact string when listed,
  else the highest that satisfies the Helm range (:mod:`.constraints`); the archive URL may be
  relative to the repository, and must be ``http(s)``; its ``digest`` is checked.
- OCI: ``oci://host/path`` + chart name; a range is resolved against the tag list (``+`` is
  ``_`` in tags); the manifest's layer of type ``application/vnd.cncf.helm.chart.content.v1.tar+gzip``
  is the archive.  Plain HTTP only for loopback hosts (the client's ``plain_http_loopback``).
- The cache is ``$IMAGEMIRROR_CACHE_DIR`` or ``$XDG_CACHE_HOME/imagemirror/charts``
  (``~/.cache/...``).  Offline mode reads only vendored charts and the cache.
- A fetched chart is never allowed to read this machine's files: its ``file://``
  dependencies are refused (:func:`.chart.load_chart` ``local=False``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import quote, urljoin, urlsplit

from ..errors import ServiceError
from .chart import Chart, ChartError, _files_from_tgz, load_chart, load_yaml
from .constraints import InvalidVersion, best_match
from .discover import ChartRef

CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LEGACY_CHART_MEDIA = "application/tar+gzip"
CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
#: response caps: a repository's index.yaml (Artifact Hub's largest are tens of MiB) and a
#: chart archive (Helm's own default limit for a chart is 100 MiB)
MAX_INDEX_BYTES = 128 << 20
MAX_ARCHIVE_BYTES = 100 << 20
_EXACT = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?\Z")


class FetchError(ServiceError):
    """A chart that could not be fetched (network, registry, repository or offline miss)."""


class ChartClient(Protocol):
    """What chart fetching needs of the registry layer (``registry.client.RegistryClient``)."""

    def get(self, url: str, *, limit: int, what: str | None = None, accept: str | None = None) -> bytes: ...
    def get_tags(self, host: str, repo: str) -> list[str]: ...
    def get_manifest(self, host: str, repo: str, reference: str, accept: str = ...) -> Any: ...
    def get_blob_bytes(self, host: str, repo: str, digest: str, limit: int) -> bytes: ...


def cache_dir() -> Path:
    explicit = os.environ.get("IMAGEMIRROR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagemirror" / "charts"


def _safe_url(url: str) -> str:
    """A URL fit for a message: no user info, query or fragment (a bad port kept as text)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":" + parts.netloc.rpartition(":")[2][:20]
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Fetcher:
    """Charts by reference, from vendored copies, the cache, or the network (unless offline)."""

    cache: Path = field(default_factory=cache_dir)
    offline: bool = False
    #: the registry client (injected), or a factory called once, at the first network fetch
    client: ChartClient | None = None
    connect: Callable[[], ChartClient] | None = None
    vendored: list[Path] = field(default_factory=list)
    progress: object = None  # callable(str) for stderr progress, or None
    _loaded: dict = field(default_factory=dict)
    _indexes: dict = field(default_factory=dict)  # repo -> index.yaml text, once per run
    _vendored_index: dict | None = None

    # ----------------------------------------------------------------- public

    def chart(self, ref: ChartRef) -> Chart:
        key = (ref.repo, ref.name, ref.version, str(ref.path))
        if key not in self._loaded:
            if ref.path is not None:
                self._loaded[key] = load_chart(ref.path, resolve=self._resolve)
            else:
                data, where = self.archive(ref.repo, ref.name, ref.version)
                # only a chart from this repository may name file:// dependencies
                self._loaded[key] = load_chart(data, where=where, resolve=self._resolve, local=isinstance(data, Path))
        return self._loaded[key]

    def archive(self, repo: str, name: str, version: str) -> tuple[bytes | Path, str]:
        """The archive (bytes, or a vendored folder/archive path) and a label for messages."""
        vendored = self._vendored(name, version)
        if vendored is not None:
            return vendored, str(vendored)
        if repo.startswith("oci://"):
            return self._oci(repo, name, version)
        if repo.startswith(("http://", "https://")):
            return self._classic(repo, name, version)
        raise FetchError(f"chart {name!r}: unsupported repository {repo!r} (use https:// or oci://)")

    def _resolve(self, repo: str, name: str, version: str, base: Path | None):
        """A dependency of a chart (``Chart.yaml`` ``repository``), as ``helm dep build`` gets it."""
        data, _ = self.archive(repo.rstrip("/"), name, version)
        return data

    # ----------------------------------------------------------------- vendored

    def _vendored(self, name: str, version: str) -> Path | None:
        if self._vendored_index is None:
            self._vendored_index = {}
            for root in self.vendored:
                for path in _chart_candidates(root):
                    meta = _meta_of(path)
                    if meta is not None:
                        self._vendored_index.setdefault(meta[0], []).append((meta[1], path))
        found = self._vendored_index.get(name) or []
        pick = _pick([v for v, _ in found], version)
        if not pick:
            return None
        copies = [p for v, p in found if v == pick]
        if len(copies) > 1 and len({_fingerprint(p) for p in copies}) > 1:
            # two different charts claim this name and version: never pick one silently
            raise ChartError(
                str(copies[0]),
                f"chart {name} {pick}: {len(copies)} different copies in the repository "
                f"({', '.join(str(p) for p in copies)}); say which one with `charts:` in .imagemirror.yaml "
                "or remove the others",
            )
        return copies[0]

    # ----------------------------------------------------------------- cache

    def _cached(self, repo: str, name: str, version: str) -> tuple[bytes, str] | None:
        folder = self.cache / "archives" / _key(repo)
        if _EXACT.match(version) and (folder / f"{name}-{version}.tgz").is_file():
            path = folder / f"{name}-{version}.tgz"
            return path.read_bytes(), f"{repo}/{name}-{version} (cached)"
        if not self.offline or not folder.is_dir():
            return None
        versions = [p.name[len(name) + 1 : -4] for p in folder.glob(f"{name}-*.tgz")]
        pick = _pick(versions, version)
        if pick is None:
            return None
        return (folder / f"{name}-{pick}.tgz").read_bytes(), f"{repo}/{name}-{pick} (cached)"

    def _store(self, repo: str, name: str, version: str, data: bytes) -> None:
        folder = self.cache / "archives" / _key(repo)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}-{version}.tgz.{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, folder / f"{name}-{version}.tgz")
        except OSError:
            pass  # a read-only cache only costs a download next time

    def _offline_miss(self, repo: str, name: str, version: str):
        return FetchError(
            f"chart {repo}/{name}{'@' + version if version else ''} is neither vendored nor cached, and "
            "--offline forbids fetching it (run once online, or vendor the chart)"
        )

    def _client(self) -> ChartClient:
        if self.client is None:
            if self.connect is None:
                raise FetchError(
                    "charts cannot be fetched here: no registry client was given (use --offline or vendor the chart)"
                )
            self.client = self.connect()
        return self.client

    def _get(self, url: str, limit: int, what: str) -> bytes:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise FetchError(f"{what}: refusing {_safe_url(url)!r}: only http(s) URLs are fetched")
        self._say(f"fetching {_safe_url(url)}")
        try:
            return self._client().get(url, limit=limit, what=_safe_url(url))
        except ServiceError as exc:
            raise FetchError(str(exc)) from None

    def _say(self, message: str) -> None:
        if callable(self.progress):
            self.progress(message)

    # ----------------------------------------------------------------- classic

    def _classic(self, repo: str, name: str, version: str) -> tuple[bytes, str]:
        cached = self._cached(repo, name, version)
        if cached is not None:
            return cached
        index_path = self.cache / "repos" / _key(repo) / "index.yaml"
        if repo in self._indexes:
            text = self._indexes[repo]
        elif self.offline:
            if not index_path.is_file():
                raise self._offline_miss(repo, name, version)
            text = index_path.read_text(encoding="utf-8")
        else:
            url = repo.rstrip("/") + "/index.yaml"
            text = self._get(url, MAX_INDEX_BYTES, f"{repo}/index.yaml").decode("utf-8", "replace")
            try:
                index_path.parent.mkdir(parents=True, exist_ok=True)
                index_path.write_text(text, encoding="utf-8")
            except OSError:
                pass
        self._indexes[repo] = text
        entries = _index_entries(text, name, f"{repo}/index.yaml")
        if not isinstance(entries, dict) or name not in entries:
            raise FetchError(f"{repo}: no chart named {name!r} in index.yaml")
        listed = [e for e in entries[name] or [] if isinstance(e, dict) and e.get("version")]
        pick = _pick([str(e["version"]) for e in listed], version)
        if pick is None:
            raise FetchError(f"{repo}: no version of {name!r} satisfies {version or '*'!r}")
        cached = self._cached(repo, name, pick)
        if cached is not None:
            return cached
        if self.offline:
            raise self._offline_miss(repo, name, pick)
        entry = next(e for e in listed if str(e["version"]) == pick)
        urls = entry.get("urls") or []
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls:
            raise FetchError(f"{repo}: {name} {pick} has no download URL")
        try:
            url = urljoin(repo.rstrip("/") + "/", str(urls[0]))
            urlsplit(url)
        except ValueError:
            raise FetchError(f"{repo}/index.yaml: {name} {pick}: not a valid URL {str(urls[0])[:100]!r}") from None
        body = self._get(url, MAX_ARCHIVE_BYTES, f"{repo}/index.yaml: {name} {pick}")
        digest = entry.get("digest")
        if digest and hashlib.sha256(body).hexdigest() != str(digest).removeprefix("sha256:"):
            raise FetchError(f"{_safe_url(url)}: digest mismatch (index.yaml says {digest})")
        self._store(repo, name, pick, body)
        return body, f"{repo}/{name}-{pick}"

    # ----------------------------------------------------------------- OCI

    def _oci(self, repo: str, name: str, version: str) -> tuple[bytes, str]:
        cached = self._cached(repo, name, version)
        if cached is not None:
            return cached
        if self.offline:
            raise self._offline_miss(repo, name, version)
        host, _, path = repo[len("oci://") :].partition("/")
        repository = f"{path}/{name}".strip("/")
        try:
            return self._oci_pull(repo, host, repository, name, version)
        except ServiceError as exc:
            if isinstance(exc, FetchError):
                raise
            if getattr(exc, "status", None) == 404:
                raise FetchError(f"{repo}/{name}{':' + version if version else ''}: not found ({exc})") from None
            raise FetchError(str(exc)) from None

    def _oci_pull(self, repo: str, host: str, repository: str, name: str, version: str) -> tuple[bytes, str]:
        client = self._client()
        pick = version
        if not _EXACT.match(version):
            tags = client.get_tags(host, repository)
            best = _pick([t.replace("_", "+") for t in tags], version)
            if best is None:
                raise FetchError(f"{repo}/{name}: no tag satisfies {version or '*'!r}")
            pick = best
            cached = self._cached(repo, name, pick)
            if cached is not None:
                return cached
        tag = pick.replace("+", "_")
        self._say(f"fetching {repo}/{name}:{tag}")
        manifest = client.get_manifest(host, repository, quote(tag), accept=MANIFEST_ACCEPT)
        if getattr(manifest, "is_index", False):
            raise FetchError(f"{repo}/{name}:{tag}: not a Helm chart (an image index)")
        doc = manifest.doc
        layers = [
            l
            for l in doc.get("layers") or []
            if isinstance(l, dict) and l.get("mediaType") in (CHART_MEDIA, LEGACY_CHART_MEDIA)
        ]
        config = (doc.get("config") or {}).get("mediaType")
        if not layers or config not in (CONFIG_MEDIA, None):
            raise FetchError(f"{repo}/{name}:{tag}: not a Helm chart (config {config!r})")
        digest = str(layers[0].get("digest"))
        size = layers[0].get("size")
        if isinstance(size, int) and size > MAX_ARCHIVE_BYTES:
            raise FetchError(
                f"{repo}/{name}:{tag}: chart layer of {size} bytes is over the {MAX_ARCHIVE_BYTES >> 20} MiB limit"
            )
        data = client.get_blob_bytes(host, repository, digest, MAX_ARCHIVE_BYTES)
        self._store(repo, name, pick, data)
        return data, f"{repo}/{name}:{tag}"


_ENTRIES = re.compile(r"^entries:[ \t]*\r?$", re.M)
_TOP_LEVEL = re.compile(r"^[^\s#-]", re.M)
_BLOCK_END = re.compile(r"^(?:  [^\s-]|[^\s-])", re.M)


def _entry_block(text: str, name: str) -> str | None:
    """``name``'s block under ``entries:`` in the layout ``helm repo index`` writes, found by
    anchored, linear searches (no backtracking across lines); None when the layout differs."""
    entries = _ENTRIES.search(text)
    if entries is None:
        return None
    found = re.compile(rf"^  {re.escape(name)}:[ \t]*\r?$", re.M).search(text, entries.end())
    if found is None or _TOP_LEVEL.search(text, entries.end(), found.start()):
        return None  # not listed, or not inside entries: -- the full parse decides
    end = _BLOCK_END.search(text, found.end())
    return text[found.start() : end.start() if end else len(text)]


def _index_entries(text: str, name: str, where: str) -> dict | None:
    """``entries`` of an ``index.yaml``, parsing only ``name``'s block when the file has the
    layout ``helm repo index`` writes (big repositories' indexes are tens of megabytes)."""
    if not text.lstrip().startswith("{"):
        block = _entry_block(text, name)
        if block is not None:
            try:
                data = load_yaml("entries:\n" + block, where, fast=True)
                if isinstance(data, dict) and isinstance(data.get("entries"), dict) and name in data["entries"]:
                    return data["entries"]
            except ChartError:
                pass
    index = load_yaml(text, where, fast=True)
    return index.get("entries") if isinstance(index, dict) else None


def _pick(versions: list[str], constraint: str) -> str | None:
    try:
        return best_match(constraint, versions)
    except InvalidVersion as exc:
        raise FetchError(f"version {constraint!r}: {exc}") from None


VENDOR_FOLDERS = frozenset({"charts", "vendor"})


def _chart_candidates(root: Path):
    """Vendored charts: folders with a ``Chart.yaml`` and ``.tgz`` archives inside a folder named
    ``charts`` or ``vendor`` (at any depth).  A chart elsewhere (``docs/samples/web/``) is not a
    vendored copy of a repository's chart, whatever its name; name it with ``charts:``."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "node_modules", "templates") and not d.startswith("."))
        here = Path(folder)
        # the folders above ``here`` (the root's own name included: a root given as ``vendor/``)
        above = (root.name, *here.relative_to(root).parts[:-1]) if here != root else ()
        vendor = any(part in VENDOR_FOLDERS for part in above) or here.name in VENDOR_FOLDERS
        if "Chart.yaml" in files:
            if vendor and here.name not in VENDOR_FOLDERS:
                yield here
            dirs[:] = []  # subcharts are found through their parent
            continue
        if vendor:
            for name in sorted(files):
                if name.endswith(".tgz"):
                    yield here / name


def _fingerprint(path: Path) -> bytes:
    """What tells two copies of a chart apart: its archive, or its Chart.yaml and values.yaml."""
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            for name in ("Chart.yaml", "values.yaml"):
                file = path / name
                digest.update(file.read_bytes() if file.is_file() else b"-")
        else:
            digest.update(path.read_bytes())
    except OSError:
        digest.update(str(path).encode())
    return digest.digest()


def _meta_of(path: Path) -> tuple[str, str] | None:
    try:
        if path.is_dir():
            meta = load_yaml((path / "Chart.yaml").read_text(encoding="utf-8-sig"), str(path / "Chart.yaml"))
        else:
            files = _files_from_tgz(path.read_bytes(), str(path))  # under the archive limits
            if "Chart.yaml" not in files:
                return None
            meta = load_yaml(files["Chart.yaml"].decode("utf-8-sig"), str(path))
    except Exception:  # noqa: BLE001 -- anything unreadable is simply not a vendored chart
        return None
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return str(meta["name"]), str(meta.get("version") or "")
