"""Where a GitOps repository writes image references, recognised by content.

One YAML text is one or more documents; each is read as what it is:

| document                                                     | source      | module        |
|--------------------------------------------------------------|-------------|---------------|
| Argo CD ``Application`` / ``ApplicationSet``                 | argocd      | argocd.py     |
| Flux ``HelmRelease``, Flux ``Kustomization`` (``spec.images``) | flux      | flux.py       |
| ``kustomization.yaml`` (``Kustomization`` of kustomize)      | kustomize   | kustomize.py  |
| ``helmfile.yaml``, ``helmfile.d/*.yaml`` (``releases:``)     | helmfile    | helmfile.py   |
| any other ``apiVersion`` + ``kind`` (workloads, custom kinds) | manifest    | manifests.py  |
| ``${var}`` in a file a Flux ``Kustomization`` with ``postBuild`` builds | (its own) | substitute.py |
| anything else (a Helm values file)                           | values      | the walker    |

Each yields :class:`Found` records: a walker :class:`~imagemirror.walker.Site` (its scalars are
the text's own, or proxies of scalars embedded in a string, :mod:`.embedded`), the source, and
for kustomize ``images:`` entries (and Flux ``spec.images``) an ``adjust`` step that turns the planned edits into what
kustomize needs (``newName`` inserted, ``name`` following its base).  Pure but for
:mod:`.kustomize` reading the resources a kustomization lists (through :class:`Context`).
"""

from __future__ import annotations

import os
import re

from ..walker import LineIndex, Mapping, Part, Scalar, Sequence, Site, find_sites

SOURCES = ("values", "argocd", "flux", "helmfile", "kustomize", "manifest")

KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_HELMFILE_NAME = re.compile(r"helmfile(?:\.[^/]*)?\.ya?ml(?:\.gotmpl)?\Z")


class Found:
    __slots__ = ("site", "source", "adjust", "why")

    def __init__(self, site: Site, source: str, adjust=None):
        self.site = site
        self.source = source
        self.adjust = adjust
        self.why: str | None = None  # set by ``adjust``: why a rewrite leaves it as written ("": no note)


class Context:
    """What the sources of one text share: its file, the rules, and what they report back."""

    __slots__ = ("file", "text", "rules", "revert", "embedded", "frozen", "notes", "valuesfrom", "lines", "reader")

    def __init__(self, file: str, text: str, rules, revert: bool = False, reader=None):
        self.file = file
        self.text = text
        self.rules = rules
        self.revert = revert
        self.embedded: list = []  # embedded.Embedded blocks whose scalars were proxied
        self.frozen: set[int] = set()  # proxies that must not be edited
        self.notes: list[str] = []
        self.valuesfrom: list = []  # flux valuesFrom items: (kind, name, line, column)
        self.lines = None
        self.reader = reader  # path -> text, for the files a kustomization lists

    def line_index(self):
        if self.lines is None:
            self.lines = LineIndex(self.text)
        return self.lines


def is_helmfile(file: str) -> bool:
    if "helmfile" not in file:
        return False
    name = os.path.basename(file)
    return bool(_HELMFILE_NAME.match(name)) or os.path.basename(os.path.dirname(file)) == "helmfile.d"


def is_templated_file(file: str) -> bool:
    """Files that are Go templates by convention (masked before they are parsed)."""
    return file.endswith(".gotmpl") or is_helmfile(file)


def is_kustomization(file: str) -> bool:
    return os.path.basename(file) in KUSTOMIZATION_NAMES


# --------------------------------------------------------------------------- helpers


def by_key(node) -> dict:
    if node.__class__ is not Mapping:
        return {}
    return {k.value: v for k, v in node.items() if k.__class__ is Scalar}


def string(node) -> str | None:
    return node.string if node.__class__ is Scalar else None


def join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def local_folder(path: str | None, file: str) -> str | None:
    """The folder of this repository a ``path`` field names (Argo CD ``spec.source.path``, Flux
    ``spec.path``; the repository being the nearest folder above ``file`` with ``.git`` or
    ``.imagemirror.yaml``), or None (templated, absent, or not a folder here)."""
    if not path or "{{" in path:
        return None
    here = os.path.dirname(os.path.abspath(file))
    while True:
        if os.path.exists(os.path.join(here, ".git")) or os.path.exists(os.path.join(here, ".imagemirror.yaml")):
            folder = os.path.join(here, path)
            return folder if os.path.isdir(folder) else None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def values_sites(node, prefix: str, source: str) -> list[Found]:
    """The values detector on a subtree (a values map written inside another document)."""
    if node.__class__ is not Mapping and node.__class__ is not Sequence:
        return []
    out = []
    for site in find_sites([node]):
        site.path = join(prefix, site.path)
        out.append(Found(site, source))
    return out


def string_site(node: Scalar, key: Scalar, path: str) -> Site:
    """A whole reference in one scalar (``image: nginx:1.25`` of a container)."""
    site = Site(path=path, kind="string", names=[Part(node, "name", key=path.rsplit(".", 1)[-1])], key_line=key.line)
    site.lines = {key.line, node.line}
    return site


# --------------------------------------------------------------------------- dispatch


def kind_of(doc, file: str) -> str:
    """Which source reads this document."""
    if doc.__class__ is not Mapping:
        return "values"
    keys = by_key(doc)
    kind, api = string(keys.get("kind")), string(keys.get("apiVersion"))
    if kind and api:
        if api.startswith("argoproj.io/") and kind in ("Application", "ApplicationSet"):
            return "argocd"
        if api.startswith("helm.toolkit.fluxcd.io/") and kind == "HelmRelease":
            return "flux"
        if api.startswith("kustomize.toolkit.fluxcd.io/") and kind == "Kustomization":
            return "flux"
        if api.startswith("kustomize.config.k8s.io/") and kind in ("Kustomization", "Component"):
            return "kustomize"
        return "manifest"
    if is_kustomization(file):
        return "kustomize"
    if is_helmfile(file) or _looks_helmfile(keys):
        return "helmfile"
    return "values"


def _looks_helmfile(keys: dict) -> bool:
    releases = keys.get("releases")
    if releases.__class__ is not Sequence or not releases.items:
        return False
    return all(by_key(r).get("chart") is not None for r in releases.items if r.__class__ is Mapping) and (
        "repositories" in keys or "helmDefaults" in keys or "environments" in keys or "bases" in keys
    )


def find(docs: list, ctx: Context) -> list[Found]:
    """Every image site of every document, in document order."""
    out: list[Found] = []
    manifest = False
    dollar = "${" in ctx.text
    for doc in docs:
        what = kind_of(doc, ctx.file)
        manifest = manifest or what in ("manifest", "argocd", "flux")
        if what == "values":
            found = values_sites(doc, "", "values")
        elif what == "manifest":
            found = manifests.find(doc, ctx)
        elif what == "argocd":
            found = argocd.find(doc, ctx)
        elif what == "flux":
            found = flux.find(doc, ctx)
        elif what == "kustomize":
            found = kustomize.find(doc, ctx)
        elif what == "helmfile":
            found = helmfile.find(doc, ctx)
        else:
            found = []
        if dollar and what in ("manifest", "kustomize", "flux"):
            substitute.substituted(found, doc, ctx)  # Flux post-build variables
        out.extend(found)
    if manifest:  # what kustomize's images: would match, for a kustomization listing this file
        kustomize.remember(
            ctx.file,
            ctx.text,
            [
                f.site.names[0].node.value
                for f in out
                if f.source == "manifest" and f.site.kind == "string" and "ontainers[" in f.site.path
            ],
        )
    return out


# the readers (they use the helpers above)
from . import argocd, flux, helmfile, kustomize, manifests, substitute  # noqa: E402
