"""Which chart renders a values file, found from what GitOps repositories contain.

Sources, in the order they are read (each yields :class:`Release` records):

- Argo CD ``Application`` / ``ApplicationSet`` (``spec.template.spec``): ``spec.source`` or
  ``spec.sources``; a Helm repository chart (``repoURL`` + ``chart`` + ``targetRevision``; a
  ``repoURL`` without a scheme is an OCI registry, as Argo CD writes it), or a chart folder in
  this repository (``path``); ``helm.valueFiles`` relative to the chart folder or
  ``$<ref>/...`` of a ``ref:`` source (taken to be this repository); inline ``helm.values``
  then ``helm.valuesObject`` on top.
- Flux ``HelmRelease``: ``spec.chart.spec`` (``chart``, ``version``, ``sourceRef`` to a
  ``HelmRepository``, ``GitRepository`` path) or ``spec.chartRef`` (``OCIRepository``);
  ``valuesFrom`` ConfigMaps made by a kustomize ``configMapGenerator`` from files of this
  repository, then ``spec.values``.
- ``helmfile.yaml`` (and ``helmfile.d/*.yaml``) releases: ``repositories`` by name, ``chart``
  as ``repo/name``, ``oci://...`` or a local path, ``version``, ``values`` files and inline maps.
- A ``Chart.yaml`` beside the values file: an umbrella chart (its ``values.yaml`` is the
  chart's own defaults; another file beside it is an overlay of that chart).
- The ``charts:`` section of ``.imagemirror.yaml``: glob of values files -> chart reference,
  used when nothing above names the file.

Templated fields (``{{ ... }}`` of ApplicationSet generators, helmfile templates) are skipped.
Pure but for reading files; the index of one repository root is cached for the run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..sources.params import set_path
from .values import SetInt, SetValues
from ..files import glob_regex

YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "templates", ".venv", "__pycache__"})
_KINDS = re.compile(
    rb"^kind:\s*[\"']?(Application|ApplicationSet|HelmRelease|HelmRepository|OCIRepository|"
    rb"GitRepository|Kustomization)\b",
    re.M,
)


@dataclass(frozen=True)
class ChartRef:
    """Where a chart comes from: a repository (``https://``/``oci://``) + name, or a local path."""

    name: str = ""
    repo: str = ""  # https://charts.example/stable | oci://host/path (without the chart name)
    version: str = ""  # an exact version, a Helm range, or "" (the newest release)
    path: Path | None = None  # a chart folder or .tgz

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        where = f"{self.repo.rstrip('/')}/{self.name}"
        return f"{where}@{self.version}" if self.version else where


@dataclass
class Layer:
    """One values layer of a release: a file of the repository, or inline values."""

    label: str
    path: Path | None = None
    data: Any = None
    #: inline values: where the release's manifest writes them, as the scan's paths say it
    #: (``spec.source.helm.values``, ``spec.values``, ``helmCharts[0].valuesInline``)
    site: str = ""


@dataclass
class Release:
    name: str
    chart: ChartRef
    layers: list[Layer] = field(default_factory=list)
    origin: str = ""  # where the release is declared (file, or file:line)
    kind: str = ""  # argocd | flux | helmfile | umbrella | defaults | settings
    namespace: str = ""  # what ``helm template --namespace`` gets ("" = default)
    kube_version: str = ""  # ``--kube-version`` where the source sets it
    api_versions: tuple[str, ...] = ()  # ``--api-versions``

    def files(self) -> list[Path]:
        return [layer.path for layer in self.layers if layer.path is not None]


def repo_root(start: Path, settings: Settings | None = None) -> Path:
    """The folder whose manifests are searched: the settings file's folder, else the git root."""
    if settings is not None and settings.path is not None:
        return settings.path.resolve().parent
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _load_all(path: Path) -> list:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    for pure in (False, True):  # libyaml first; the pure parser where it refuses valid YAML
        try:
            return [d for d in YAML(typ="safe", pure=pure).load_all(text) if d is not None]
        except (YAMLError, ValueError, TypeError, AttributeError, RecursionError):
            continue  # (a manifest nested too deep for the parser is not a release)
    return []


def _load_one(path: Path) -> Any:
    docs = _load_all(path)
    return docs[0] if docs else None


def _walk(root: Path):
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(YAML_SUFFIXES):
                yield Path(folder) / name


@dataclass
class Index:
    root: Path
    releases: list[Release] = field(default_factory=list)
    helm_repos: dict[tuple[str, str], dict] = field(default_factory=dict)  # (ns?, name) -> spec
    oci_repos: dict[str, dict] = field(default_factory=dict)
    git_repos: set[str] = field(default_factory=set)
    configmaps: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)  # name -> [(key, file)]
    flux: list[tuple[Path, dict]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_INDEXES: dict[Path, Index] = {}


def index(root: Path) -> Index:
    """Every release declared under ``root`` (cached per root for the run)."""
    root = root.resolve()
    if root in _INDEXES:
        return _INDEXES[root]
    idx = Index(root)
    for path in _walk(root):
        name = path.name
        if name.startswith("helmfile") or path.parent.name == "helmfile.d":
            for doc in _load_all(path):
                _helmfile(idx, path, doc)
            continue
        if name in ("kustomization.yaml", "kustomization.yml"):
            doc = _load_one(path)
            if isinstance(doc, dict):
                _kustomization(idx, path, doc)
            continue
        try:
            with open(path, "rb") as fh:
                head = fh.read(1 << 20)
        except OSError:
            continue
        if not _KINDS.search(head):
            continue
        for doc in _load_all(path):
            if not isinstance(doc, dict):
                continue
            kind = doc.get("kind")
            if kind in ("Application", "ApplicationSet"):
                _argocd(idx, path, doc)
            elif kind == "HelmRelease":
                idx.flux.append((path, doc))
            elif kind == "HelmRepository":
                idx.helm_repos[(_meta(doc, "namespace"), _meta(doc, "name"))] = doc.get("spec") or {}
            elif kind == "OCIRepository":
                idx.oci_repos[_meta(doc, "name")] = doc.get("spec") or {}
    for path, doc in idx.flux:
        _helmrelease(idx, path, doc)
    _INDEXES[root] = idx
    return idx


def clear_cache() -> None:
    _INDEXES.clear()


def _plain_str(value: Any) -> str:
    """A plain string field ("" when absent or templated)."""
    return "" if value is None or isinstance(value, (dict, list)) or _templated(value) else str(value)


def _meta(doc: dict, key: str) -> str:
    meta = doc.get("metadata") or {}
    return str(meta.get(key) or "") if isinstance(meta, dict) else ""


def _rel(idx: Index, path: Path) -> str:
    try:
        return path.relative_to(idx.root).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- --set


def set_values(params: Any, tool: str = "argocd") -> dict:
    """``--set``-style ``[{name: a.b, value: v, forceString: bool}]`` (Argo CD ``helm.parameters``,
    helmfile ``set``) as values, applied as ``helm --set`` applies them (:class:`SetValues`):
    dots separate keys (``\\.`` is a literal dot), ``[i]`` indexes a list (``sidecars[0].image``),
    ``{a,b}`` is a list; values are typed as Helm's ``strvals`` types them.

    ``tool="argocd"``: as Argo CD's repo server runs ``helm template`` (util/helm/cmd.go): one
    ``--set name=value`` per parameter, ``--set-string`` for ``forceString: true``, every ``--set``
    before every ``--set-string`` (Helm applies them in that order), one value per name (Argo CD
    keeps them in a map: the last one wins), and the value's commas escaped (``\\,``) unless it
    is a ``{...}`` list or the comma is already escaped; Helm then reads the value as its
    ``strvals`` does (a backslash escapes the next character).  The flags are kept on the
    result (``SetValues.flags``) so that the ``helm`` binary gets exactly them.  Any other tool:
    the values as written, typed (the ``helm`` binary then gets them merged, see
    :class:`~imagemirror.charts.render.HelmCli`)."""
    items = []
    for item in params or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        items.append(item)
    if tool != "argocd":
        ops = []
        for item in items:
            path = set_path(item["name"])
            if path is None:
                continue
            value = item.get("value")
            if isinstance(value, str):
                value = _set_value(value, bool(item.get("forceString")))
            ops.append((path, value))
        return SetValues(ops)
    plain: dict[str, str] = {}
    strings: dict[str, str] = {}
    for item in items:
        value = item.get("value")
        value = "" if value is None else value if isinstance(value, str) else _go_string(value)
        (strings if item.get("forceString") is True else plain)[item["name"]] = value
    ops, flags = [], []
    for flag, table in (("--set", plain), ("--set-string", strings)):
        for name, value in table.items():
            cleaned = clean_set_parameter(value)
            path = set_path(name)
            parsed = strvals_value(cleaned, flag == "--set-string")
            flags.append((flag, f"{name}={cleaned}"))
            if path is None or parsed is None:
                continue  # Helm refuses it (Argo CD's render fails) or reads more than one key
            ops.append((path, parsed[0]))
    return SetValues(ops, flags)


def _go_string(value: Any) -> str:
    """A non-string YAML ``value:`` as Argo CD reads it into its string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def clean_set_parameter(value: str) -> str:
    """Argo CD's ``cleanSetParameters``: a ``{...}`` list as is, else every comma not preceded
    by a backslash escaped."""
    if value.startswith("{") and value.endswith("}"):
        return value
    out = []
    prev = ""
    for ch in value:
        out.append("\\," if ch == "," and prev != "\\" else ch)
        prev = ch
    return "".join(out)


def strvals_value(text: str, string_mode: bool) -> tuple[Any] | None:
    """What Helm's ``strvals`` sets for ``key=<text>`` (``--set``; ``--set-string`` when
    ``string_mode``), as a 1-tuple; None when Helm refuses it or reads more than this one key
    (an unescaped comma ending the value early).  A backslash takes the next character
    literally (a trailing one is dropped); ``{a,b}`` is a list; an empty value is ``""``."""

    def until(i: int, stops: str) -> tuple[str, int, str]:
        out = []
        while i < len(text):
            ch = text[i]
            if ch in stops:
                return "".join(out), i + 1, ch
            if ch == "\\":
                if i + 1 < len(text):
                    out.append(text[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out), i, ""

    def typed(raw: str) -> Any:
        return raw if string_mode else _typed(raw)

    if text == "":
        return ("",)
    if text[0] == "{":
        items, i = [], 1
        while True:
            raw, i, last = until(i, ",}")
            if last == "":
                return None  # "list must terminate with '}'"
            items.append(typed(raw))
            if last == "}":
                return (items,) if i == len(text) else None
    raw, i, last = until(0, ",")
    if last == ",":
        return None
    return (typed(raw),)


def _set_value(text: str, force_string: bool) -> Any:
    if not force_string and len(text) >= 2 and text[0] == "{" and text[-1] == "}":
        return [_typed(part) for part in text[1:-1].split(",")]
    return text if force_string else _typed(text)


def _typed(text: str) -> Any:
    """Helm's ``strvals.typedVal``: true/false/null in any case, integers not starting with 0."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if text == "0":
        return SetInt(0)
    if text and text[0] != "0" and re.fullmatch(r"[-+]?[0-9]+", text):
        number = int(text)
        if -(1 << 63) <= number < (1 << 63):
            return SetInt(number)
    return text


# --------------------------------------------------------------------------- Argo CD


def _chart_ref_from_helm_repo(repo_url: str, chart: str, version: str) -> ChartRef:
    repo_url = repo_url.strip()
    if "://" not in repo_url:  # Argo CD writes OCI Helm repositories without a scheme
        repo_url = "oci://" + repo_url
    return ChartRef(name=chart, repo=repo_url.rstrip("/"), version=version)


def _argocd(idx: Index, path: Path, doc: dict) -> None:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "ApplicationSet":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    if not isinstance(spec, dict):
        return
    prefix = "spec.template.spec" if doc.get("kind") == "ApplicationSet" else "spec"
    sources = spec.get("sources")
    if isinstance(sources, list):
        placed = [(s, f"{prefix}.sources[{i}]") for i, s in enumerate(sources) if isinstance(s, dict)]
    else:
        placed = [(spec["source"], f"{prefix}.source")] if isinstance(spec.get("source"), dict) else []
    sources = [s for s, _ in placed]
    refs = {str(s["ref"]): s for s in sources if s.get("ref")}
    name = _meta(doc, "name")
    for source, site in placed:
        chart_name, repo_url, chart_path = source.get("chart"), source.get("repoURL", ""), source.get("path")
        version = str(source.get("targetRevision") or "")
        if chart_name:
            if _templated(chart_name) or _templated(repo_url) or _templated(version):
                continue
            ref = _chart_ref_from_helm_repo(str(repo_url), str(chart_name), version)
            base = None
        elif chart_path is not None and not _templated(chart_path) and not source.get("ref"):
            folder = (idx.root / str(chart_path)).resolve()
            if not (folder / "Chart.yaml").is_file():
                continue
            ref = ChartRef(name=folder.name, path=folder)
            base = folder
        else:
            continue
        helm = source.get("helm") or {}
        if not isinstance(helm, dict):
            helm = {}
        layers: list[Layer] = []
        for entry in helm.get("valueFiles") or []:
            if not isinstance(entry, str) or _templated(entry):
                continue
            if entry.startswith("$"):
                refname, _, rest = entry[1:].partition("/")
                ref_source = refs.get(refname)
                if ref_source is None:
                    idx.problems.append(f"{_rel(idx, path)}: valueFiles {entry!r}: no source has ref {refname!r}")
                    continue
                file = (idx.root / rest).resolve()
            elif base is not None:
                file = (base / entry).resolve()
            else:
                continue  # a file inside the chart itself
            layers.append(Layer(_rel(idx, file), file))
        # Argo CD renders one of the two (ApplicationSourceHelm.ValuesYAML): valuesObject when set
        # (even ``{}``), else the values string
        if isinstance(helm.get("valuesObject"), dict):
            layers.append(
                Layer(
                    f"{_rel(idx, path)} ({name}: helm.valuesObject)",
                    data=helm["valuesObject"],
                    site=f"{site}.helm.valuesObject",
                )
            )
            if helm.get("values"):  # what it names is not deployed: an empty layer claims its site
                layers.append(
                    Layer(f"{_rel(idx, path)} ({name}: helm.values, ignored)", data={}, site=f"{site}.helm.values")
                )
        elif isinstance(helm.get("values"), str) and helm["values"].strip():
            from ruamel.yaml import YAML
            from ruamel.yaml.error import YAMLError

            try:
                data = YAML(typ="safe", pure=True).load(helm["values"])
            except YAMLError:
                data = None
            if isinstance(data, dict):
                layers.append(Layer(f"{_rel(idx, path)} ({name}: helm.values)", data=data, site=f"{site}.helm.values"))
        elif isinstance(helm.get("values"), dict):
            layers.append(
                Layer(f"{_rel(idx, path)} ({name}: helm.values)", data=helm["values"], site=f"{site}.helm.values")
            )
        params = set_values(helm.get("parameters"))
        if params or params.ops:
            params.where = f"{_rel(idx, path)} ({name}: helm.parameters)"
            layers.append(Layer(params.where, data=params, site=f"{site}.helm.parameters"))
        release = str(helm.get("releaseName") or name)
        dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
        apis = helm.get("apiVersions") if isinstance(helm.get("apiVersions"), list) else []
        idx.releases.append(
            Release(
                release,
                ref,
                layers,
                _rel(idx, path),
                "argocd",
                namespace=_plain_str(dest.get("namespace")),
                kube_version=_plain_str(helm.get("kubeVersion")),
                api_versions=tuple(str(a) for a in apis if not _templated(a)),
            )
        )


# --------------------------------------------------------------------------- Flux


def _kustomization(idx: Index, path: Path, doc: dict) -> None:
    for n, chart in enumerate(doc.get("helmCharts") or []):  # kustomize's Helm inflator: a release
        if not isinstance(chart, dict) or not chart.get("name") or _templated(chart.get("name")):
            continue
        repo = str(chart.get("repo") or "")
        if repo.startswith("oci://") or "://" in repo:
            ref = ChartRef(name=str(chart["name"]), repo=repo.rstrip("/"), version=str(chart.get("version") or ""))
        else:
            continue  # a chart in kustomize's chartHome: not modelled
        layers = []
        for entry in [chart.get("valuesFile"), *(chart.get("additionalValuesFiles") or [])]:
            if isinstance(entry, str) and entry and not _templated(entry):
                file = (path.parent / entry).resolve()
                layers.append(Layer(_rel(idx, file), file))
        if isinstance(chart.get("valuesInline"), dict):
            layers.append(
                Layer(
                    f"{_rel(idx, path)} ({chart['name']}: valuesInline)",
                    data=chart["valuesInline"],
                    site=f"helmCharts[{n}].valuesInline",
                )
            )
        name = str(chart.get("releaseName") or chart["name"])
        idx.releases.append(Release(name, ref, layers, _rel(idx, path), "kustomize"))
    for gen in doc.get("configMapGenerator") or []:
        if not isinstance(gen, dict) or not gen.get("name"):
            continue
        for entry in gen.get("files") or []:
            if not isinstance(entry, str):
                continue
            key, eq, file = entry.partition("=")
            if not eq:
                key, file = Path(entry).name, entry
            idx.configmaps.setdefault(str(gen["name"]), []).append((key, (path.parent / file).resolve()))


def _helmrelease(idx: Index, path: Path, doc: dict) -> None:
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        return
    ns = _meta(doc, "namespace")
    ref: ChartRef | None = None
    chart_spec = ((spec.get("chart") or {}).get("spec")) if isinstance(spec.get("chart"), dict) else None
    if isinstance(chart_spec, dict) and chart_spec.get("chart"):
        source = chart_spec.get("sourceRef") or {}
        kind, sname = source.get("kind"), str(source.get("name") or "")
        version = str(chart_spec.get("version") or "")
        if kind == "HelmRepository":
            repo = idx.helm_repos.get((str(source.get("namespace") or ns), sname)) or next(
                (v for (n, s), v in idx.helm_repos.items() if s == sname), None
            )
            if repo is None or not repo.get("url"):
                idx.problems.append(f"{_rel(idx, path)}: HelmRepository {sname!r} not found in the repository")
                return
            url = str(repo["url"])
            if repo.get("type") == "oci" and not url.startswith("oci://"):
                url = "oci://" + url.split("://", 1)[-1]
            ref = ChartRef(name=str(chart_spec["chart"]), repo=url.rstrip("/"), version=version)
        elif kind in ("GitRepository", "Bucket"):
            folder = (idx.root / str(chart_spec["chart"])).resolve()
            if (folder / "Chart.yaml").is_file() or folder.suffix == ".tgz":
                ref = ChartRef(name=folder.name, path=folder)
    elif isinstance(spec.get("chartRef"), dict) and spec["chartRef"].get("kind") == "OCIRepository":
        oci = idx.oci_repos.get(str(spec["chartRef"].get("name")))
        if oci is None or not oci.get("url"):
            idx.problems.append(f"{_rel(idx, path)}: OCIRepository {spec['chartRef'].get('name')!r} not found")
            return
        url = str(oci["url"]).rstrip("/")
        head, _, chart = url.rpartition("/")
        want = oci.get("ref") or {}
        version = str(want.get("tag") or want.get("semver") or "") if isinstance(want, dict) else ""
        ref = ChartRef(name=chart, repo=head, version=version)
    if ref is None:
        return
    layers: list[Layer] = []
    for item in spec.get("valuesFrom") or []:
        if not isinstance(item, dict) or item.get("kind") != "ConfigMap":
            continue
        key = str(item.get("valuesKey") or "values.yaml")
        for ckey, file in idx.configmaps.get(str(item.get("name")), []):
            if ckey == key:
                layers.append(Layer(_rel(idx, file), file))
    if isinstance(spec.get("values"), dict):
        layers.append(
            Layer(f"{_rel(idx, path)} ({_meta(doc, 'name')}: spec.values)", data=spec["values"], site="spec.values")
        )
    name = str(spec.get("releaseName") or _meta(doc, "name"))
    idx.releases.append(
        Release(name, ref, layers, _rel(idx, path), "flux", namespace=_plain_str(spec.get("targetNamespace")) or ns)
    )


# --------------------------------------------------------------------------- helmfile


def _helmfile(idx: Index, path: Path, doc: Any) -> None:
    if not isinstance(doc, dict):
        return
    repos = {}
    for repo in doc.get("repositories") or []:
        if isinstance(repo, dict) and repo.get("name") and repo.get("url"):
            url = str(repo["url"])
            if repo.get("oci") and "://" not in url:
                url = "oci://" + url
            repos[str(repo["name"])] = url.rstrip("/")
    for n, rel in enumerate(doc.get("releases") or []):
        if not isinstance(rel, dict) or not rel.get("chart") or _templated(rel.get("chart")):
            continue
        chart = str(rel["chart"])
        version = str(rel.get("version") or "")
        if chart.startswith("oci://"):
            head, _, name = chart.rpartition("/")
            ref = ChartRef(name=name, repo=head, version=version)
        elif chart.startswith((".", "/")) or (path.parent / chart).exists():
            folder = (path.parent / chart).resolve()
            ref = ChartRef(name=folder.name, path=folder)
        else:
            repo_name, _, name = chart.partition("/")
            if repo_name not in repos:
                idx.problems.append(f"{_rel(idx, path)}: release {rel.get('name')!r}: no repository {repo_name!r}")
                continue
            ref = ChartRef(name=name, repo=repos[repo_name], version=version)
        layers = []
        for i, item in enumerate(rel.get("values") or []):
            if isinstance(item, str) and not _templated(item):
                file = (path.parent / item).resolve()
                layers.append(Layer(_rel(idx, file), file))
            elif isinstance(item, dict):
                layers.append(
                    Layer(
                        f"{_rel(idx, path)} ({rel.get('name')}: values[{i}])",
                        data=item,
                        site=f"releases[{n}].values[{i}]",
                    )
                )
        params = set_values(rel.get("set"), tool="helmfile")
        if params or params.ops:
            params.where = f"{_rel(idx, path)} ({rel.get('name')}: set)"
            layers.append(Layer(params.where, data=params, site=f"releases[{n}].set"))
        apis = doc.get("apiVersions") if isinstance(doc.get("apiVersions"), list) else []
        idx.releases.append(
            Release(
                str(rel.get("name") or ref.name),
                ref,
                layers,
                _rel(idx, path),
                "helmfile",
                namespace=_plain_str(rel.get("namespace")),
                kube_version=_plain_str(doc.get("kubeVersion")),
                api_versions=tuple(str(a) for a in apis if not _templated(a)),
            )
        )


# --------------------------------------------------------------------------- per file


def _settings_refs(settings: Settings) -> list[tuple[str, ChartRef]]:
    """Validate ``charts:`` of the settings: ``{glob: chart reference}``."""
    raw = settings.charts
    if raw is None:
        return []
    base = settings.path.resolve().parent if settings.path else Path.cwd()
    out = []
    for glob, value in raw.items():
        if not isinstance(glob, str) or not glob:
            raise settings.error("charts: keys must be globs of values files", "charts")
        if isinstance(value, str) and value:
            if value.startswith("oci://"):
                head, _, last = value.rpartition("/")
                name, _, version = last.partition(":")
                ref = ChartRef(name=name, repo=head, version=version)
            elif "://" in value:
                raise settings.error(
                    f"chart {value!r}: use {{repo: URL, chart: NAME, version: RANGE}} for a chart repository",
                    "charts",
                    glob,
                )
            else:
                ref = ChartRef(name=Path(value).name, path=(base / value).resolve())
        elif isinstance(value, dict):
            unknown = set(value) - {"repo", "chart", "version", "path"}
            if unknown:
                raise settings.error(f"chart for {glob!r}: unknown key {sorted(unknown)[0]!r}", "charts", glob)
            if value.get("path"):
                ref = ChartRef(name=Path(str(value["path"])).name, path=(base / str(value["path"])).resolve())
            elif value.get("repo") and value.get("chart"):
                version = value.get("version")
                if version is not None and not isinstance(version, (str, int, float)):
                    raise settings.error("version must be a string", "charts", glob, "version")
                repo = str(value["repo"])
                if "://" not in repo:
                    raise settings.error(f"repo {repo!r} needs a scheme (https:// or oci://)", "charts", glob, "repo")
                ref = ChartRef(name=str(value["chart"]), repo=repo.rstrip("/"), version=str(version or ""))
            else:
                raise settings.error(f"chart for {glob!r} needs 'path', or 'repo' and 'chart'", "charts", glob)
        else:
            raise settings.error(f"chart for {glob!r} must be a string or a mapping", "charts", glob)
        if ref.path is not None and not ref.path.exists():
            raise settings.error(f"chart {str(value)!r} not found ({ref.path})", "charts", glob)
        out.append((glob, ref))
    return out


def validate_settings(settings: Settings) -> None:
    _settings_refs(settings)


def releases_for(values: Path, settings: Settings, root: Path | None = None) -> list[Release]:
    """Every release that renders ``values`` (a file of the repository)."""
    values = values.resolve()
    root = (root or repo_root(values, settings)).resolve()
    found = [r for r in index(root).releases if values in r.files()]
    chart_yaml = values.parent / "Chart.yaml"
    if not found and chart_yaml.is_file():
        if values.name in ("values.yaml", "values.yml"):
            # The chart's own defaults; listed as its one values layer so that overrides for
            # its subcharts' images are written into it.
            found.append(
                Release(
                    values.parent.name,
                    ChartRef(name=values.parent.name, path=values.parent),
                    [Layer(_rel(index(root), values), values)],
                    f"{_rel(index(root), chart_yaml)}",
                    "defaults",
                )
            )
        else:
            found.append(
                Release(
                    values.parent.name,
                    ChartRef(name=values.parent.name, path=values.parent),
                    [Layer(_rel(index(root), values), values)],
                    _rel(index(root), chart_yaml),
                    "umbrella",
                )
            )
    if not found:
        base = settings.path.resolve().parent if settings.path else root
        try:
            rel = values.relative_to(base).as_posix()
        except ValueError:
            rel = None
        for glob, ref in _settings_refs(settings):
            if rel is not None and glob_regex(glob).match(rel):
                where = settings.where("charts", glob)
                found.append(Release(values.stem, ref, [Layer(rel, values)], where, "settings"))
                break
    return found


def values_files(root: Path, settings: Settings | None = None) -> list[Path]:
    """Every repository file some release reads as values (and those ``charts:`` globs match)."""
    seen: dict[Path, None] = {}
    for release in index(root.resolve()).releases:
        for file in release.files():
            seen.setdefault(file, None)
    if settings is not None and settings.charts:
        base = settings.path.resolve().parent if settings.path else root.resolve()
        patterns = [glob_regex(glob) for glob, _ in _settings_refs(settings)]
        for path in _walk(base):
            rel = path.relative_to(base).as_posix()
            if any(p.match(rel) for p in patterns):
                seen.setdefault(path.resolve(), None)
    return list(seen)
