"""Which files hold image references, by content: the scan's second question after the name.

A values file is known by its name (``files.VALUES_NAME``).  Any other ``.yaml``/``.yml`` (or
``.gotmpl``) file is read when it is a kustomization or a helmfile by name, or when its
first 64 KiB hold a top-level ``apiVersion:`` and ``kind:`` (a Kubernetes manifest, Argo CD,
Flux, kustomize, custom resources; several ``---`` documents alike).  Inside a chart (a
folder with ``Chart.yaml``) only values files are read: its ``templates/`` are Helm's.
"""

from __future__ import annotations

import re

from . import is_helmfile, is_kustomization

YAML_NAME = re.compile(r".+\.ya?ml(?:\.gotmpl)?\Z")
_API = re.compile(rb"^apiVersion:[ \t]*\S", re.M)
_KIND = re.compile(rb"^kind:[ \t]*\S", re.M)
HEAD = 1 << 16


def by_name(name: str, folder: str) -> bool:
    """Read whatever the content: kustomizations and helmfiles."""
    from ..files import VALUES_NAME  # here: ``files`` imports this module

    path = f"{folder}/{name}"
    if name.endswith(".gotmpl") and VALUES_NAME.match(name[: -len(".gotmpl")]):
        return True  # helmfile's templated values files
    return is_kustomization(path) or (YAML_NAME.match(name) is not None and is_helmfile(path))


def candidate(name: str) -> bool:
    return YAML_NAME.match(name) is not None


def is_manifest(path) -> bool:
    """The head of the file has a top-level ``apiVersion`` and ``kind``."""
    return head(path)[0]


def head(path) -> tuple[bool, bytes | None]:
    """``(is_manifest(path), the file's bytes when its head is all of it, else None)``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(HEAD)
    except OSError:
        return False, None
    manifest = _KIND.search(data) is not None and _API.search(data) is not None
    return manifest, (data if manifest and len(data) < HEAD else None)
