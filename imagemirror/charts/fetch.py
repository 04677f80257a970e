"""Get a chart's archive: vendored in the repository, from the local cache, a classic chart
repository (``index.yaml`` + ``.tgz``) or an OCI registry (Helm's media types).  No ``helm``.

- Classic repositories: ``<repo>/index.yaml``; the version is the exact string when listed,
  else the highest that satisfies the Helm range (:mod:`.constraints`); the archive URL may be
  relative to the repository; its ``digest`` is checked.
- OCI: ``oci://host/path`` + chart name; a range is resolved against the tag list (``+`` is
  ``_`` in tags); the manifest's layer of type ``application/vnd.cncf.helm.chart.content.v1.tar+gzip``
  is the archive.  Bearer or Basic auth from ``~/.docker/config.json`` (``$DOCKER_CONFIG``);
  plain HTTP only for loopback hosts.
- The cache is ``$IMAGEMIRROR_CACHE_DIR`` or ``$XDG_CACHE_HOME/imagemirror/charts``
  (``~/.cache/...``).  Offline mode reads only vendored charts and the cache.

All network access goes through :class:`HttpClient` (standard library, imported lazily).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from ..errors import ServiceError
from .chart import Chart, ChartError, load_chart, load_yaml
from .constraints import InvalidVersion, best_match
from .discover import ChartRef

CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LEGACY_CHART_MEDIA = "application/tar+gzip"
CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
_EXACT = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?\Z")


class FetchError(ServiceError):
    """A chart that could not be fetched (network, registry, repository or offline miss)."""


def cache_dir() -> Path:
    explicit = os.environ.get("IMAGEMIRROR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagemirror" / "charts"


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes


class HttpClient:
    """The one network edge: GET with headers, no exception for HTTP status codes."""

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout

    def _open(self):
        import urllib.request
        from urllib.parse import urlsplit as split

        if getattr(self, "_opener", None) is None:
            class Redirects(urllib.request.HTTPRedirectHandler):
                """Follow redirects, but never carry credentials to another host (blob storage)."""

                def redirect_request(self, req, fp, code, msg, headers, newurl):
                    new = super().redirect_request(req, fp, code, msg, headers, newurl)
                    if new is not None and split(newurl).netloc != split(req.full_url).netloc:
                        new.headers.pop("Authorization", None)
                        new.unredirected_hdrs.pop("Authorization", None)
                    return new

            self._opener = urllib.request.build_opener(Redirects())
        return self._opener

    def get(self, url: str, headers: dict | None = None) -> Response:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, headers=headers or {}, method="GET")
        try:
            with self._open().open(req, timeout=self.timeout) as resp:
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, body)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchError(f"{_safe_url(url)}: {reason}") from None


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def docker_credentials(host: str) -> tuple[str, str] | None:
    """``(user, secret)`` for ``host`` from the Docker client config, if any."""
    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    auths = config.get("auths") or {}
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, sep, secret = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if user and sep:
                return user, secret
            continue
        if entry.get("username") and entry.get("password"):
            return str(entry["username"]), str(entry["password"])
        if entry.get("identitytoken"):
            return "<token>", str(entry["identitytoken"])
    return None


def _challenge(header: str) -> tuple[str, dict]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


@dataclass
class Fetcher:
    """Charts by reference, from vendored copies, the cache, or the network (unless offline)."""

    cache: Path = field(default_factory=cache_dir)
    offline: bool = False
    http: HttpClient | None = None
    vendored: list[Path] = field(default_factory=list)
    progress: object = None  # callable(str) for stderr progress, or None
    _tokens: dict = field(default_factory=dict)
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
                self._loaded[key] = load_chart(data, where=where, resolve=self._resolve)
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
                str(copies[0]), f"chart {name} {pick}: {len(copies)} different copies in the repository "
                f"({', '.join(str(p) for p in copies)}); say which one with `charts:` in .imagemirror.yaml "
                "or remove the others")
        return copies[0]

    # ----------------------------------------------------------------- cache

    def _cached(self, repo: str, name: str, version: str) -> tuple[bytes, str] | None:
        folder = self.cache / "archives" / _key(repo)
        if _EXACT.match(version) and (folder / f"{name}-{version}.tgz").is_file():
            path = folder / f"{name}-{version}.tgz"
            return path.read_bytes(), f"{repo}/{name}-{version} (cached)"
        if not self.offline or not folder.is_dir():
            return None
        versions = [p.name[len(name) + 1:-4] for p in folder.glob(f"{name}-*.tgz")]
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

    def _http(self) -> HttpClient:
        if self.http is None:
            self.http = HttpClient()
        return self.http

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
            self._say(f"fetching {_safe_url(url)}")
            resp = self._http().get(url)
            if resp.status != 200:
                raise FetchError(f"{_safe_url(url)}: HTTP {resp.status}")
            text = resp.body.decode("utf-8", "replace")
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
        if not urls:
            raise FetchError(f"{repo}: {name} {pick} has no download URL")
        url = urljoin(repo.rstrip("/") + "/", str(urls[0]))
        self._say(f"fetching {_safe_url(url)}")
        resp = self._http().get(url)
        if resp.status != 200:
            raise FetchError(f"{_safe_url(url)}: HTTP {resp.status}")
        digest = entry.get("digest")
        if digest and hashlib.sha256(resp.body).hexdigest() != str(digest).removeprefix("sha256:"):
            raise FetchError(f"{_safe_url(url)}: digest mismatch (index.yaml says {digest})")
        self._store(repo, name, pick, resp.body)
        return resp.body, f"{repo}/{name}-{pick}"

    # ----------------------------------------------------------------- OCI

    def _oci(self, repo: str, name: str, version: str) -> tuple[bytes, str]:
        cached = self._cached(repo, name, version)
        if cached is not None:
            return cached
        if self.offline:
            raise self._offline_miss(repo, name, version)
        host, _, path = repo[len("oci://"):].partition("/")
        repository = f"{path}/{name}".strip("/")
        base = f"{'http' if host.split(':')[0] in LOOPBACK or host.startswith('[::1]') else 'https'}://{host}"
        if _EXACT.match(version):
            pick = version
        else:
            resp = self._registry_get(base, host, repository, f"/v2/{repository}/tags/list")
            if resp.status != 200:
                raise FetchError(f"{repo}/{name}: listing tags: HTTP {resp.status}")
            try:
                tags = json.loads(resp.body).get("tags") or []
            except ValueError:
                raise FetchError(f"{repo}/{name}: listing tags: not JSON") from None
            pick = _pick([t.replace("_", "+") for t in tags], version)
            if pick is None:
                raise FetchError(f"{repo}/{name}: no tag satisfies {version or '*'!r}")
            cached = self._cached(repo, name, pick)
            if cached is not None:
                return cached
        tag = pick.replace("+", "_")
        self._say(f"fetching {repo}/{name}:{tag}")
        resp = self._registry_get(base, host, repository, f"/v2/{repository}/manifests/{quote(tag)}",
                                  {"Accept": MANIFEST_ACCEPT})
        if resp.status == 404:
            raise FetchError(f"{repo}/{name}:{tag}: not found")
        if resp.status != 200:
            raise FetchError(f"{repo}/{name}:{tag}: manifest: HTTP {resp.status}")
        try:
            manifest = json.loads(resp.body)
        except ValueError:
            raise FetchError(f"{repo}/{name}:{tag}: manifest is not JSON") from None
        layers = [l for l in manifest.get("layers") or [] if l.get("mediaType") in (CHART_MEDIA, LEGACY_CHART_MEDIA)]
        config = (manifest.get("config") or {}).get("mediaType")
        if not layers or config not in (CONFIG_MEDIA, None):
            raise FetchError(f"{repo}/{name}:{tag}: not a Helm chart (config {config!r})")
        digest = str(layers[0].get("digest"))
        resp = self._registry_get(base, host, repository, f"/v2/{repository}/blobs/{digest}")
        if resp.status != 200:
            raise FetchError(f"{repo}/{name}:{tag}: chart layer: HTTP {resp.status}")
        if "sha256:" + hashlib.sha256(resp.body).hexdigest() != digest:
            raise FetchError(f"{repo}/{name}:{tag}: chart layer digest mismatch")
        self._store(repo, name, pick, resp.body)
        return resp.body, f"{repo}/{name}:{tag}"

    def _registry_get(self, base: str, host: str, repository: str, path: str, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        token = self._tokens.get((host, repository))
        if token:
            headers["Authorization"] = token
        resp = self._http().get(base + path, headers)
        if resp.status != 401:
            return resp
        scheme, params = _challenge(resp.headers.get("www-authenticate", ""))
        creds = docker_credentials(host)
        if scheme == "basic":
            if creds is None:
                raise FetchError(f"{host}: authentication required and no credentials in the Docker config")
            auth = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        elif scheme == "bearer" and params.get("realm"):
            query = []
            if params.get("service"):
                query.append("service=" + quote(params["service"]))
            query.append("scope=" + quote(params.get("scope") or f"repository:{repository}:pull"))
            token_headers = {}
            if creds is not None:
                token_headers["Authorization"] = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            realm = params["realm"]
            got = self._http().get(realm + ("&" if "?" in realm else "?") + "&".join(query), token_headers)
            if got.status != 200:
                raise FetchError(f"{host}: token service answered HTTP {got.status}")
            try:
                body = json.loads(got.body)
            except ValueError:
                raise FetchError(f"{host}: token service answered no JSON") from None
            value = body.get("token") or body.get("access_token")
            if not value:
                raise FetchError(f"{host}: token service gave no token")
            auth = f"Bearer {value}"
        else:
            raise FetchError(f"{host}: unsupported authentication challenge {scheme!r}")
        self._tokens[(host, repository)] = auth
        headers["Authorization"] = auth
        resp = self._http().get(base + path, headers)
        if resp.status == 401:
            raise FetchError(f"{host}: credentials refused (HTTP 401)")
        return resp


def _index_entries(text: str, name: str, where: str) -> dict | None:
    """``entries`` of an ``index.yaml``, parsing only ``name``'s block when the file has the
    layout ``helm repo index`` writes (big repositories' indexes are tens of megabytes)."""
    if not text.lstrip().startswith("{"):
        found = re.search(rf"^entries:[ \t]*\r?\n(?:.*\r?\n)*?(  {re.escape(name)}:[ \t]*\r?\n)", text, re.M)
        if found is not None:
            start = found.start(1)
            end = re.compile(r"^(?:  [^\s-]|[^\s-])", re.M).search(text, found.end(1))
            block = text[start:end.start() if end else len(text)]
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
            import tarfile

            with tarfile.open(path, "r:gz") as tar:
                member = next((m for m in tar if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                if member is None:
                    return None
                meta = load_yaml(tar.extractfile(member).read().decode("utf-8-sig"), str(path))
    except Exception:  # noqa: BLE001 -- anything unreadable is simply not a vendored chart
        return None
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return str(meta["name"]), str(meta.get("version") or "")
