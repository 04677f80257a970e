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


MAX_DEPTH = 100  # values nested deeper are refused (real charts stay under 20; Helm's JSON stops at 10,000)
MAX_DEPENDENCY_DEPTH = 32


class YamlNumber(float):
    """A plain scalar YAML (as Helm reads it) takes for a number: Helm keeps every number as a
    float64.  ``text`` is the scalar as written; ``str()`` gives it back (``version: 1.10``)."""

    def __new__(cls, value: float, text: str):
        self = super().__new__(cls, value)
        self.text = text
        return self

    def __str__(self) -> str:
        return self.text

    def __reduce__(self):
        return (YamlNumber, (float(self), self.text))


def load_yaml(text: str, where: str, fast: bool = False) -> Any:
    """Plain data of a one-document YAML text, read as Helm reads values.

    libyaml makes the events (the pure parser where libyaml refuses valid YAML), light nodes
    are built from them without recursion, and the plain data is made once per node: an
    alias is the same Python object as its anchor (an alias bomb costs its size, not its
    expansion), and nesting deeper than ``MAX_DEPTH`` is refused with its position.  Scalars
    resolve as Helm's YAML does: YAML 1.1 booleans (``yes``, ``on``), nulls, numbers
    (:class:`YamlNumber`), everything else (timestamps too) a string.  ``fast`` is accepted
    for callers that asked for libyaml (it is always used now)."""
    from ..walker import YAMLSyntaxError, compose_text

    try:
        docs = compose_text(text)[0]
    except YAMLSyntaxError as exc:
        raise ChartError(where, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    except RecursionError:
        raise ChartError(where, f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    if not docs:
        return None
    if len(docs) > 1:
        raise ChartError(where, "invalid YAML: expected a single document, found several")
    return plain(docs[0], where, text)


def same_data(a: Any, b: Any) -> bool:
    """``a == b`` for plain data, each pair of shared (aliased) containers compared once and
    without recursion: Python's ``==`` walks an alias bomb in its expansion."""
    seen: set[tuple[int, int]] = set()
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            if (id(x), id(y)) in seen:
                continue
            seen.add((id(x), id(y)))
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list) and isinstance(y, list):
            if (id(x), id(y)) in seen:
                continue
            seen.add((id(x), id(y)))
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif (
            isinstance(x, (dict, list))
            or isinstance(y, (dict, list))
            or type(x) is bool
            and type(y) is not bool
            or type(y) is bool
            and type(x) is not bool
            or x != y
        ):
            return False
    return True


def plain(root, where: str = "", text: str = "") -> Any:
    """Light nodes (:mod:`imagemirror.walker`) -> plain data, iteratively, each node once."""
    from ..walker import Mapping, Scalar, Sequence, helm_value

    made: dict[int, Any] = {}

    def scalar(node: Scalar) -> Any:
        value = node.value + node.tail
        if node.style != "":
            return value
        if node.is_null:
            return None
        number = helm_value(value)
        if number is None:
            return value
        if number is True or number is False:
            return number
        return YamlNumber(number, value)

    def position(node) -> tuple[int | None, int | None]:
        return node.line + 1, node.column + 1

    if root.__class__ is Scalar:
        return scalar(root)
    # (node, depth): containers are made empty first, then filled, so shared nodes are one object
    stack = [(root, 1)]
    made[id(root)] = {} if root.__class__ is Mapping else []
    while stack:
        node, depth = stack.pop()
        out = made[id(node)]
        if depth > MAX_DEPTH:
            raise ChartError(where, f"values nested more than {MAX_DEPTH} levels deep; not evaluated", *position(node))
        children = node.items() if node.__class__ is Mapping else [(None, item) for item in node.items]
        for key, child in children:
            if child.__class__ is Scalar:
                value = scalar(child)
            else:
                value = made.get(id(child))
                if value is None:
                    value = made[id(child)] = {} if child.__class__ is Mapping else []
                    stack.append((child, depth + 1))
            if node.__class__ is Sequence:
                out.append(value)
                continue
            if key.__class__ is not Scalar:
                raise ChartError(where, "a mapping key that is not a scalar", *position(key))
            name = scalar(key)
            name = str(name) if not isinstance(name, bool) else ("true" if name else "false")
            if name in out:
                raise ChartError(where, f"invalid YAML: duplicate key {name!r}", *position(key))
            out[name] = value
    return made[id(root)]


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


def load_chart(
    source: Path | bytes,
    where: str = "",
    resolve: Resolver | None = None,
    base: Path | None = None,
    chain: tuple = (),
    *,
    local: bool = True,
) -> Chart:
    """Load a chart from a folder, a ``.tgz`` path or ``.tgz`` bytes.

    ``chain``: the charts whose dependencies led here (``(name, version, where)``); a chart
    met again on its own chain is a dependency cycle, refused with the chain.  ``local=False``
    (a chart fetched from the network): its ``file://`` dependencies, and those of every chart
    inside it, are refused instead of read from this machine's disk."""
    if isinstance(source, (bytes, bytearray)):
        return _from_files(_files_from_tgz(bytes(source), where), where, resolve, base, chain, local)
    where = where or str(source)
    if source.is_dir():
        return _from_files(_files_from_dir(source), where, resolve, source, chain, local)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ChartError(str(source), f"cannot read chart: {exc.strerror or exc}") from None
    return _from_files(_files_from_tgz(data, where), where, resolve, source.parent, chain, local)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ChartError(where, f"not UTF-8: {exc}") from None


def _from_files(
    files: dict[str, bytes],
    where: str,
    resolve: Resolver | None,
    base: Path | None,
    chain: tuple = (),
    local: bool = True,
) -> Chart:
    if "Chart.yaml" not in files:
        raise ChartError(where, "no Chart.yaml: not a Helm chart")
    meta = load_yaml(_decode(files["Chart.yaml"], where), f"{where}/Chart.yaml") or {}
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ChartError(f"{where}/Chart.yaml", "Chart.yaml has no name")
    me = (str(meta["name"]), str(meta.get("version", "")))
    if any((name, version) == me for name, version, _ in chain):
        path = " -> ".join(f"{n} {v}" for n, v, _ in chain) + f" -> {me[0]} {me[1]}"
        raise ChartError(f"{chain[0][2]}/Chart.yaml", f"chart dependency cycle: {path}")
    if len(chain) >= MAX_DEPENDENCY_DEPTH:
        raise ChartError(
            f"{chain[0][2]}/Chart.yaml", f"chart dependencies nested more than {MAX_DEPENDENCY_DEPTH} deep"
        )
    chain = chain + (me + (where,),)
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
        rest = rel[len("charts/") :]
        if "/" not in rest:
            if rest.endswith(".tgz"):
                vendored.append(
                    _from_files(_files_from_tgz(data, f"{where}/{rel}"), f"{where}/{rel}", resolve, None, chain, local)
                )
            continue
        head, tail = rest.split("/", 1)
        subdirs.setdefault(head, {})[tail] = data
    for head, subfiles in sorted(subdirs.items()):
        if "Chart.yaml" in subfiles:
            sub_base = base / "charts" / head if base is not None and (base / "charts" / head).is_dir() else None
            vendored.append(_from_files(subfiles, f"{where}/charts/{head}", resolve, sub_base, chain, local))
    chart = Chart(
        str(meta["name"]), str(meta.get("version", "")), defaults, [], where, str(meta.get("apiVersion", "v2"))
    )
    by_name = {c.name: c for c in vendored}
    listed = set()
    for dep in deps:
        sub = by_name.get(dep.name)
        if sub is None:
            sub = _fetch_dependency(dep, where, resolve, base, chain, local)
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


def _fetch_dependency(
    dep: Dependency, where: str, resolve: Resolver | None, base: Path | None, chain: tuple = (), local: bool = True
) -> Chart:
    repo = dep.repository
    if repo.startswith("file://") and not local:
        raise ChartError(
            f"{where}/Chart.yaml",
            f"dependency {dep.name!r}: {repo!r} is a local path in a fetched chart; it is never read from "
            "this machine (vendor the dependency under the chart's charts/, or the chart in the repository)",
        )
    if repo.startswith("file://"):
        folder = Path(repo[len("file://") :])
        if not folder.is_absolute() and base is not None:
            folder = base / folder
        if not folder.exists():
            raise ChartError(f"{where}/Chart.yaml", f"dependency {dep.name!r}: {repo} not found")
        return load_chart(folder, resolve=resolve, chain=chain, local=local)
    if resolve is None or not repo:
        raise ChartError(
            f"{where}/Chart.yaml",
            f"dependency {dep.name!r} {dep.version} is not vendored under charts/"
            + ("" if repo else " and names no repository"),
        )
    got = resolve(repo, dep.name, dep.version, base)
    # a dependency that came over the network is as untrusted as any fetched chart
    return load_chart(
        got,
        where=f"{repo}/{dep.name}-{dep.version}",
        resolve=resolve,
        chain=chain,
        local=local and isinstance(got, Path),
    )
