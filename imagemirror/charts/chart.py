"""A Helm chart in memory: metadata, default values and subcharts, from a folder or a ``.tgz``.

Reads what Helm's loader reads for values purposes: ``Chart.yaml`` (``dependencies`` with
``alias``/``condition``/``tags``; ``requirements.yaml`` for apiVersion v1 charts), ``values.yaml``
and every subchart under ``charts/`` (folders or archives, recursively).  A dependency listed in
``Chart.yaml`` but not vendored under ``charts/`` is asked of ``resolve`` (the fetcher), as
``helm dependency build`` would fetch it.  No templates are rendered.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import FileError

# resolve(repository, name, version_constraint, base) -> (bytes of a .tgz | Path of a folder)
Resolver = Callable[[str, str, str, "Path | None"], "bytes | Path"]


MAX_MEMBER = 32 << 20
MAX_TOTAL = 256 << 20
#: every tar header counts (directories, links, PAX and GNU long-name headers included)
MAX_ENTRIES = 10_000


class ChartError(FileError):
    """A chart that cannot be read or whose dependency cannot be found."""


@dataclass
class Dependency:
    name: str
    version: str = ""
    repository: str = ""
    alias: str | None = None
    condition: str | None = None
    tags: tuple[str, ...] = ()
    chart: Chart | None = None

    @property
    def key(self) -> str:
        """The values key the subchart reads: its alias, else its name."""
        return self.alias or self.name


@dataclass
class Chart:
    name: str
    version: str
    defaults: dict
    dependencies: list[Dependency] = field(default_factory=list)
    source: str = ""
    api_version: str = "v2"

    def describe(self) -> str:
        return f"{self.name}-{self.version}"


def load_yaml(text: str, where: str, fast: bool = False) -> Any:
    """Plain data of a YAML text; ``fast`` tries libyaml first (large ``index.yaml`` files)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if fast:
        try:
            return YAML(typ="safe").load(text)
        except (YAMLError, ValueError, TypeError, AttributeError):
            pass  # the pure parser below reports the error with its position
    try:
        return YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ChartError(where, f"invalid YAML: {' '.join(str(exc.problem or exc).split())[:300]}",
                         mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except YAMLError as exc:
        raise ChartError(where, f"invalid YAML: {' '.join(str(exc).split())[:300]}") from None


def _files_from_dir(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and (rel in ("Chart.yaml", "values.yaml", "requirements.yaml") or rel.startswith("charts/")):
            out[rel] = path.read_bytes()
    return out


class _Bounded(io.RawIOBase):
    """The decompressed tar stream, read through a budget: no single read over ``MAX_MEMBER``
    (tarfile reads a PAX or GNU long-name header in one read: one of a gigabyte is refused
    before it is read) and no more than ``MAX_TOTAL`` bytes in all, headers and skipped data
    included.  Seeks go forward only (by reading), as tarfile's do when members are read in
    order."""

    def __init__(self, raw, where: str):
        self.raw = raw
        self.where = where
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _too_large(self) -> ChartError:
        return ChartError(self.where, "chart archive too large (a header or file over 32 MiB, or 256 MiB in all)")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_MEMBER or self.pos + size > MAX_TOTAL:
            raise self._too_large()
        data = self.raw.read(size)
        self.pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.pos + offset if whence == io.SEEK_CUR else None
        if target is None or target < self.pos:
            raise ChartError(self.where, "not a chart archive: members out of order")
        if target > MAX_TOTAL:
            raise self._too_large()
        while self.pos < target:
            if not self.read(min(1 << 20, target - self.pos)):
                break
        return self.pos


def _files_from_tgz(data: bytes, where: str) -> dict[str, bytes]:
    """The files of a chart archive that values need, read as a stream under limits that count
    every tar header and member (``MAX_ENTRIES``, ``MAX_MEMBER``, ``MAX_TOTAL``)."""
    import gzip

    out: dict[str, bytes] = {}
    total = 0
    entries = 0
    try:
        stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), where)
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            for member in tar:
                entries += 1
                if entries > MAX_ENTRIES:
                    raise ChartError(where, f"chart archive has more than {MAX_ENTRIES} entries")
                if not member.isfile():
                    continue
                total += member.size
                if member.size > MAX_MEMBER or total > MAX_TOTAL:
                    raise ChartError(where, "chart archive too large (a values file over 32 MiB, or 256 MiB in all)")
                parts = member.name.lstrip("./").split("/", 1)
                if len(parts) != 2:
                    continue
                rel = posixpath.normpath(parts[1])
                if rel.startswith(".."):
                    continue
                if rel in ("Chart.yaml", "values.yaml", "requirements.yaml") or rel.startswith("charts/"):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        out[rel] = extracted.read()
    except ChartError:
        raise
    except (tarfile.TarError, OSError, EOFError, RecursionError, ValueError) as exc:
        raise ChartError(where, f"not a chart archive: {' '.join(str(exc).split())[:200]}") from None
    return out


def load_chart(source: Path | bytes, where: str = "", resolve: Resolver | None = None,
               base: Path | None = None, *, local: bool = True) -> Chart:
    """Load a chart from a folder, a ``.tgz`` path or ``.tgz`` bytes.

    ``local=False`` (a chart fetched from the network): its ``file://`` dependencies, and
    those of every chart inside it, are refused instead of read from this machine's disk."""
    if isinstance(source, (bytes, bytearray)):
        return _from_files(_files_from_tgz(bytes(source), where), where, resolve, base, local)
    where = where or str(source)
    if source.is_dir():
        return _from_files(_files_from_dir(source), where, resolve, source, local)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ChartError(str(source), f"cannot read chart: {exc.strerror or exc}") from None
    return _from_files(_files_from_tgz(data, where), where, resolve, source.parent, local)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ChartError(where, f"not UTF-8: {exc}") from None


def _from_files(files: dict[str, bytes], where: str, resolve: Resolver | None, base: Path | None,
                local: bool = True) -> Chart:
    if "Chart.yaml" not in files:
        raise ChartError(where, "no Chart.yaml: not a Helm chart")
    meta = load_yaml(_decode(files["Chart.yaml"], where), f"{where}/Chart.yaml") or {}
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ChartError(f"{where}/Chart.yaml", "Chart.yaml has no name")
    defaults = {}
    if "values.yaml" in files:
        defaults = load_yaml(_decode(files["values.yaml"], where), f"{where}/values.yaml", fast=True) or {}
        if not isinstance(defaults, dict):
            raise ChartError(f"{where}/values.yaml", "values.yaml is not a mapping")
    raw_deps = meta.get("dependencies")
    if raw_deps is None and "requirements.yaml" in files:  # apiVersion v1
        req = load_yaml(_decode(files["requirements.yaml"], where), f"{where}/requirements.yaml") or {}
        raw_deps = req.get("dependencies") if isinstance(req, dict) else None
    deps = [_dependency(d, where) for d in (raw_deps or [])]
    # Subcharts vendored under charts/ (folders or archives, one level).
    vendored: list[Chart] = []
    subdirs: dict[str, dict[str, bytes]] = {}
    for rel, data in files.items():
        if not rel.startswith("charts/"):
            continue
        rest = rel[len("charts/"):]
        if "/" not in rest:
            if rest.endswith(".tgz"):
                vendored.append(_from_files(_files_from_tgz(data, f"{where}/{rel}"), f"{where}/{rel}", resolve, None,
                                            local))
            continue
        head, tail = rest.split("/", 1)
        subdirs.setdefault(head, {})[tail] = data
    for head, subfiles in sorted(subdirs.items()):
        if "Chart.yaml" in subfiles:
            sub_base = base / "charts" / head if base is not None and (base / "charts" / head).is_dir() else None
            vendored.append(_from_files(subfiles, f"{where}/charts/{head}", resolve, sub_base, local))
    chart = Chart(str(meta["name"]), str(meta.get("version", "")), defaults, [], where,
                  str(meta.get("apiVersion", "v2")))
    by_name = {c.name: c for c in vendored}
    listed = set()
    for dep in deps:
        sub = by_name.get(dep.name)
        if sub is None:
            sub = _fetch_dependency(dep, where, resolve, base, local)
        # Two aliases of one chart (redis-cache, redis-queue) share it: merging copies defaults.
        dep.chart = sub
        listed.add(dep.name)
        chart.dependencies.append(dep)
    for sub in vendored:  # vendored but not listed: Helm still renders it, always enabled
        if sub.name not in listed:
            chart.dependencies.append(Dependency(sub.name, sub.version, chart=sub))
    return chart


def _dependency(raw: Any, where: str) -> Dependency:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ChartError(f"{where}/Chart.yaml", "a dependency has no name")
    tags = raw.get("tags") or ()
    return Dependency(
        name=str(raw["name"]),
        version=str(raw.get("version") or ""),
        repository=str(raw.get("repository") or ""),
        alias=str(raw["alias"]) if raw.get("alias") else None,
        condition=str(raw["condition"]) if raw.get("condition") else None,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
    )


def _fetch_dependency(dep: Dependency, where: str, resolve: Resolver | None, base: Path | None,
                      local: bool = True) -> Chart:
    repo = dep.repository
    if repo.startswith("file://") and not local:
        raise ChartError(
            f"{where}/Chart.yaml",
            f"dependency {dep.name!r}: {repo!r} is a local path in a fetched chart; it is never read from "
            "this machine (vendor the dependency under the chart's charts/, or the chart in the repository)",
        )
    if repo.startswith("file://"):
        folder = Path(repo[len("file://"):])
        if not folder.is_absolute() and base is not None:
            folder = base / folder
        if not folder.exists():
            raise ChartError(f"{where}/Chart.yaml", f"dependency {dep.name!r}: {repo} not found")
        return load_chart(folder, resolve=resolve)
    if resolve is None or not repo:
        raise ChartError(
            f"{where}/Chart.yaml",
            f"dependency {dep.name!r} {dep.version} is not vendored under charts/"
            + ("" if repo else " and names no repository"),
        )
    got = resolve(repo, dep.name, dep.version, base)
    # a dependency that came over the network is as untrusted as any fetched chart
    return load_chart(got, where=f"{repo}/{dep.name}-{dep.version}", resolve=resolve,
                      local=local and isinstance(got, Path))
