"""Real Helm renders the release: the images it pulls are read from the rendered manifests.

Two renderers run real Helm; neither is a hard dependency:

- ``helm``: the user's ``helm`` binary, ``helm template`` as Argo CD runs it (release name and
  namespace from the Application / HelmRelease / helmfile release, ``--include-crds``, each
  values layer as one ``-f`` in order, Argo CD ``helm.parameters`` as its ``--set`` /
  ``--set-string`` flags, ``--kube-version`` / ``--api-versions`` where the source sets them).
- ``sdk``: the PyPI package ``helm-python-sdk`` (``pip install 'imagemirror[helm]'``; Helm v4's
  Go SDK through ctypes), imported only here, only when a release is rendered.  The SDK has no
  kube version or API versions option: Helm's defaults are used.

``choose("auto")`` takes ``helm`` on PATH, else the SDK, else ``None`` (the caller falls back to
imagemirror's model of Helm and says once on stderr that templates were not evaluated).

Rendered text is split into documents as Helm splits them and walked for images: every
``containers`` / ``initContainers`` / ``ephemeralContainers`` entry of any object (workloads,
Pods, Jobs, CronJobs, custom resources embedding pod specs; ``kind: List`` item by item) and
every other string ``image`` field (``spec.image`` of a Prometheus resource).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FileError

RENDERERS = ("auto", "helm", "sdk", "model")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
TEST_HOOKS = frozenset({"test", "test-success", "test-failure"})
HELM_TIMEOUT = 120.0
MAX_OUTPUT = 256 << 20
# Helm's manifest separator (pkg/release/v1/util SplitManifests: ``(?:^|\s*\n)---\s*``): a
# ``---`` at the start of a line; the whitespace around it is dropped with the empty parts.  (Go's
# regexp is linear; Python's backtracks on ``\s*\n`` over long blank runs, hence lines here.)
_SEP = re.compile(r"^---", re.M)
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)
_CRD = re.compile(r"^kind:[ \t]*[\"']?CustomResourceDefinition[\"']?[ \t]*(?:#.*)?$", re.M)
MODEL_NOTE = (
    "imagemirror: no `helm` on PATH and helm-python-sdk not installed (pip install 'imagemirror[helm]'): "
    "chart templates were not evaluated; images come from the values alone"
)


class RenderError(FileError):
    """Helm could not render a release (a template error, a missing dependency, bad values)."""


@dataclass(frozen=True)
class RenderedImage:
    """One image field of one rendered object."""

    template: str  # "wordpress/templates/deployment.yaml" (Helm's template path)
    doc: int  # index of the document within the template's output
    kind: str
    name: str
    container: str | None  # the container's name; None for another ``image`` field
    field: str  # "spec.template.spec.containers[0]" / "spec.image"
    image: str
    hook: str = ""  # the helm.sh/hook annotation, "" when none

    @property
    def is_test_hook(self) -> bool:
        return bool(TEST_HOOKS & {h.strip() for h in self.hook.split(",")})

    @property
    def where(self) -> str:
        """``template: Kind/name container`` for messages."""
        bits = f"{self.template}: {self.kind}/{self.name}"
        return f"{bits} container {self.container}" if self.container is not None else f"{bits} {self.field}"

    @property
    def slot(self) -> tuple:
        """The position of the field, stable between renders of one chart."""
        return (self.template, self.doc, self.field)


@dataclass
class RenderOptions:
    name: str
    namespace: str = "default"
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()


# --------------------------------------------------------------------------- parsing


def split_documents(text: str) -> list[str]:
    """Rendered template text -> its non-blank YAML documents (Helm's split)."""
    out = []
    for doc in _SEP.split(text):
        doc = doc.strip()
        if doc and any(ln.strip() and not ln.lstrip().startswith("#") for ln in doc.splitlines()):
            out.append(doc)
    return out


def _loader():
    from ruamel.yaml import YAML

    try:
        from ruamel.yaml import CSafeLoader  # noqa: F401 -- libyaml present

        return YAML(typ="safe")
    except ImportError:
        return YAML(typ="safe", pure=True)


def parse_document(doc: str, where: str) -> Any:
    from ruamel.yaml.error import YAMLError

    for yaml in (_loader(), None):
        try:
            if yaml is None:
                from ruamel.yaml import YAML

                yaml = YAML(typ="safe", pure=True)
            return yaml.load(doc)
        except (YAMLError, ValueError, TypeError, AttributeError) as exc:
            last = exc
            continue
    raise RenderError(where, f"rendered manifest is not YAML: {str(last).splitlines()[0]}")


def _walk(node: Any, path: str, in_container: bool, out: list) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in CONTAINER_LISTS and isinstance(value, list) and all(isinstance(c, dict) for c in value):
                for i, item in enumerate(value):
                    slot = f"{here}[{i}]"
                    if "image" in item:
                        image = item.get("image")
                        out.append((str(item.get("name", "-")), slot, "" if image is None else str(image)))
                    _walk(item, slot, True, out)
            elif key == "image" and isinstance(value, str) and not in_container:
                out.append((None, here, value))
            else:
                _walk(value, here, False, out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{path}[{i}]", False, out)


def object_images(obj: Any, template: str, doc: int) -> list[RenderedImage]:
    if not isinstance(obj, dict):
        return []
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        out = []
        for item in obj["items"]:
            out.extend(object_images(item, template, doc))
        return out
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    hook = str(annotations.get("helm.sh/hook") or "").replace(" ", "")
    found: list = []
    _walk(obj, "", False, found)
    return [
        RenderedImage(template, doc, str(obj.get("kind", "-")), str(meta.get("name", "-")), c, f, img, hook)
        for c, f, img in found
    ]


def images_of(manifests: dict[str, str], parse=None) -> list[RenderedImage]:
    """Every image field of the rendered manifests (``{template: text}``), by template.

    ``parse(doc, where)`` reads one document (default: ruamel.yaml; the SDK renderer passes
    Helm's own parser, five times faster)."""
    parse = parse or parse_document
    out: list[RenderedImage] = []
    for template in sorted(manifests):
        if os.path.basename(template) == "NOTES.txt":
            continue
        for i, doc in enumerate(split_documents(manifests[template])):
            # Only a document that says ``image`` can hold one; CRDs (schemas) never pull anything.
            if "image" not in doc or _CRD.search(doc):
                continue
            out.extend(object_images(parse(doc, template), template, i))
    return out


# --------------------------------------------------------------------------- renderers


def sdk_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("helm_python") is not None
    except (ImportError, ValueError):
        return False


def helm_binary() -> str | None:
    return shutil.which("helm")


def choose(name: str = "auto") -> Renderer | None:
    """The renderer ``--renderer NAME`` asks for; ``None`` means imagemirror's model."""
    if name not in RENDERERS:
        raise ValueError(f"unknown renderer {name!r}")
    if name == "model":
        return None
    if name in ("auto", "helm"):
        binary = helm_binary()
        if binary is not None:
            return HelmCli(binary)
        if name == "helm":
            from ..errors import ConfigError

            raise ConfigError("--renderer helm: no `helm` binary on PATH")
    if sdk_available():
        return Sdk()
    if name == "sdk":
        from ..errors import ConfigError

        raise ConfigError("--renderer sdk: helm-python-sdk is not installed (pip install 'imagemirror[helm]')")
    return None


class Renderer:
    label = ""

    def render(self, chart: Path, layers: list[dict], options: RenderOptions) -> dict[str, str]:
        raise NotImplementedError

    def release_done(self) -> None:
        """Forget per-release state (the SDK's loaded chart)."""


class Sdk(Renderer):
    """helm-python-sdk: ``Chart.load(path).render(values, name=, namespace=)``."""

    label = "sdk"

    def __init__(self) -> None:
        import threading

        import helm_python  # the 75 MB extra: imported only when a release is rendered

        self.helm = helm_python
        self._local = threading.local()  # releases render in parallel threads: a chart per thread

    @property
    def _charts(self) -> dict[str, Any]:
        charts = getattr(self._local, "charts", None)
        if charts is None:
            charts = self._local.charts = {}
        return charts

    def _chart(self, chart: Path):
        # One load per release: Helm's render drops the disabled subcharts from the loaded chart
        # (processDependencyEnabled mutates it), so a handle is never shared between releases.
        key = str(chart)
        if key not in self._charts:
            try:
                self._charts[key] = self.helm.Chart.load(chart)
            except self.helm.HelmError as exc:
                raise RenderError(str(chart), f"Helm cannot load the chart: {_first(exc)}") from None
        return self._charts[key]

    def parse(self, doc: str, where: str) -> Any:
        """One rendered document, read by Helm's YAML parser (sigs.k8s.io/yaml)."""
        try:
            return self.helm.values_from_yaml(doc)
        except self.helm.HelmError as exc:
            raise RenderError(where, f"rendered manifest is not YAML: {_first(exc)}") from None

    def render(self, chart: Path, layers: list[dict], options: RenderOptions) -> dict[str, str]:
        from .values import ints_as_text, merge_user

        loaded = self._chart(chart)
        try:
            return loaded.render(ints_as_text(merge_user(layers)), name=options.name, namespace=options.namespace)
        except self.helm.HelmError as exc:
            raise RenderError(str(chart), f"helm template failed: {_first(exc)}") from None

    def crds(self, chart: Path) -> dict[str, str]:
        """``--include-crds``: the CRD files of the chart and its subcharts."""
        out: dict[str, str] = {}
        for crd in self._chart(chart).crds:
            out.setdefault(str(crd.get("filename") or crd.get("name")), "")
            out[str(crd.get("filename") or crd.get("name"))] += "\n---\n" + str(crd.get("data") or "")
        return out

    def release_done(self) -> None:
        for chart in self._charts.values():
            chart.close()
        self._charts.clear()

    close = release_done


class HelmCli(Renderer):
    """``helm template`` of the user's ``helm`` binary."""

    label = "helm"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def command(
        self, chart: Path, files: list[str], options: RenderOptions, sets: list[tuple[str, str]] = ()
    ) -> list[str]:
        cmd = [self.binary, "template", options.name, str(chart), "--namespace", options.namespace, "--include-crds"]
        for file in files:
            cmd += ["-f", file]
        for flag, assignment in sets:
            cmd += [flag, assignment]
        if options.kube_version:
            cmd += ["--kube-version", options.kube_version]
        for api in options.api_versions:
            cmd += ["--api-versions", api]
        return cmd

    @staticmethod
    def arguments(layers: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
        """-> (the ``-f`` layers, the ``--set``/``--set-string`` flags) that give Helm ``layers``.

        Helm applies every ``-f`` first, then ``--set``, then ``--set-string``, whatever their
        order on the command line.  Argo CD's ``helm.parameters`` (a :class:`SetValues` that
        knows its flags) come last in a release, so they are passed as the flags Argo CD passes
        (a list index sets one item of the list the values give, ``forceString`` is kept).  A
        layer that must apply after ``--set`` values (the provenance sentinels), or ``--set``
        values whose tool's flags are not modelled (helmfile ``set``), have everything before
        them merged here as Helm merges it into one ``-f``."""
        from .values import SetValues, merge_user

        last_set = max((i for i, layer in enumerate(layers) if isinstance(layer, SetValues)), default=-1)
        if last_set < 0:
            return list(layers), []
        head, sets, tail = layers[:last_set], layers[last_set], layers[last_set + 1 :]
        if tail or sets.flags is None or any(isinstance(layer, SetValues) for layer in head):
            return [merge_user(layers[: last_set + 1]), *tail], []
        return list(head), list(sets.flags)

    def render(self, chart: Path, layers: list[dict], options: RenderOptions) -> dict[str, str]:
        layers, sets = self.arguments(layers)
        with tempfile.TemporaryDirectory(prefix="imagemirror-values-") as tmp:
            files = []
            for i, layer in enumerate(layers):
                file = os.path.join(tmp, f"values-{i}.json")  # JSON is YAML: one -f per layer, in order
                with open(file, "w", encoding="utf-8") as fh:
                    json.dump(layer, fh, default=str)
                files.append(file)
            try:
                done = subprocess.run(
                    self.command(chart, files, options, sets),
                    capture_output=True,
                    timeout=HELM_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                raise RenderError(str(chart), f"helm template took longer than {HELM_TIMEOUT:.0f} s") from None
            except OSError as exc:
                raise RenderError(str(chart), f"cannot run {self.binary}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RenderError(
                str(chart), "helm template failed: " + (message[0] if message else f"exit {done.returncode}")
            )
        if len(done.stdout) > MAX_OUTPUT:
            raise RenderError(str(chart), "helm template printed more than 256 MiB")
        return parse_template_output(done.stdout.decode("utf-8", "replace"))


def parse_template_output(text: str) -> dict[str, str]:
    """``helm template`` stdout -> ``{template path: manifest}`` (documents of one template joined)."""
    out: dict[str, str] = {}
    for doc in _SEP.split(text):
        found = _SOURCE.search(doc)
        if found is None:
            continue
        source = found.group(1).strip()
        out[source] = (out[source] + "\n---\n" + doc) if source in out else doc
    return out


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:3]) if lines else type(exc).__name__


# --------------------------------------------------------------------------- chart sources


@dataclass
class Materialized:
    """A chart folder or archive Helm can read; ``cleanup`` removes what was written for it."""

    path: Path
    tmp: str | None = None
    notes: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def materialize(ref, model, fetcher, workdir: str | None = None) -> Materialized:
    """A path Helm renders ``ref`` from: the chart as found (folder, ``.tgz``, or fetched bytes
    written to a temporary ``.tgz``), with dependencies that are not under ``charts/`` fetched
    (vendored, cached or downloaded, as today) into a temporary copy -- what ``helm dependency
    build`` would have done."""
    import tarfile

    if ref.path is not None:
        source: Path | bytes = ref.path
    else:
        source, _ = fetcher.archive(ref.repo, ref.name, ref.version)
    missing = [
        d
        for d in model.dependencies
        if d.chart is not None
        and d.repository
        and not d.repository.startswith("file://")
        and not d.chart.source.startswith(model.source)
    ]
    if isinstance(source, Path) and not missing:
        return Materialized(source)
    tmp = tempfile.mkdtemp(prefix="imagemirror-chart-", dir=workdir)
    done = Materialized(Path(tmp), tmp)
    try:
        if not missing:  # fetched bytes only
            path = Path(tmp) / f"{model.name}-{model.version}.tgz"
            path.write_bytes(source)  # type: ignore[arg-type]
            done.path = path
            return done
        folder = Path(tmp) / model.name
        if isinstance(source, Path) and source.is_dir():
            shutil.copytree(source, folder, symlinks=False)
        else:
            import io

            data = source.read_bytes() if isinstance(source, Path) else source
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                members = [
                    m
                    for m in tar.getmembers()
                    if (m.isfile() or m.isdir()) and not m.name.startswith("/") and ".." not in m.name.split("/")
                ]
                tar.extractall(tmp, members=members)  # files and folders only, never outside tmp
            top = [p for p in Path(tmp).iterdir() if p.is_dir()]
            if len(top) != 1:
                raise RenderError(model.source, "chart archive has no single top folder")
            folder = top[0]
        (folder / "charts").mkdir(exist_ok=True)
        for dep in missing:
            data, label = fetcher.archive(dep.repository.rstrip("/"), dep.name, dep.version)
            target = folder / "charts" / f"{dep.name}-{dep.chart.version}.tgz"
            if isinstance(data, Path):
                if data.is_dir():
                    shutil.copytree(data, folder / "charts" / dep.name)
                    continue
                data = data.read_bytes()
            target.write_bytes(data)
            done.notes.append(f"dependency {dep.name} {dep.chart.version} from {label}")
        done.path = folder
        return done
    except BaseException:
        done.cleanup()
        raise
