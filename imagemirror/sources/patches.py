"""Inline patches: the images a patch written in a kustomization (or a Flux ``Kustomization``)
sets.

- kustomize ``patches[].patch`` (and ``patchesJson6902[].patch``): a string holding either a
  strategic-merge patch (a manifest: its containers' ``image:`` are read as a manifest's) or a
  JSON6902 patch (a list of operations: an ``add``/``replace`` whose ``path`` ends in
  ``/image`` under a container list, or whose ``value`` is a container, or a list of them);
- ``patchesStrategicMerge`` entries that are strings holding a manifest (not file names);
- Flux ``Kustomization`` ``spec.patches[].patch`` (the same as kustomize's ``patches``).

The string is parsed on its own (:mod:`.embedded`) and each image is edited inside it,
byte-exactly, the string re-parsed and verified; a string that is not a literal block
(``|``) is read but not edited.  Pure.
"""

from __future__ import annotations

import re

from ..walker import Mapping, Scalar, Sequence, YAMLSyntaxError
from . import Context, Found, by_key, join, string, string_site
from .embedded import Embedded
from .manifests import CONTAINER_LISTS

_IMAGE_PATH = re.compile(r"/(?:initContainers|containers|ephemeralContainers)/(?:\d+|-)/image\Z")
_CONTAINER_PATH = re.compile(r"/(?:initContainers|containers|ephemeralContainers)/(?:\d+|-)\Z")
_LIST_PATH = re.compile(r"/(?:initContainers|containers|ephemeralContainers)\Z")


def find(keys: dict, prefix: str, ctx: Context, source: str) -> list[Found]:
    """The images of the inline patches of one kustomization document (``keys``; ``prefix``:
    where it sits, ``spec`` for a Flux Kustomization)."""
    out: list[Found] = []
    for list_key in ("patches", "patchesJson6902"):
        seq = keys.get(list_key)
        for i, item in enumerate(seq.items if seq.__class__ is Sequence else ()):
            patch = by_key(item).get("patch")
            if patch.__class__ is Scalar and patch.value.strip() and not patch.is_null:
                out.extend(_embedded(patch, join(prefix, f"{list_key}[{i}].patch"), ctx, source))
    seq = keys.get("patchesStrategicMerge")
    for i, item in enumerate(seq.items if seq.__class__ is Sequence else ()):
        if _multiline(item):
            out.extend(_embedded(item, join(prefix, f"patchesStrategicMerge[{i}]"), ctx, source))
    return out


def _multiline(node) -> bool:
    """A string holding YAML (a file name is one line without ``: ``)."""
    return node.__class__ is Scalar and ("\n" in node.value.strip() or ": " in node.value)


def _embedded(block: Scalar, prefix: str, ctx: Context, source: str) -> list[Found]:
    emb = Embedded(block, ctx.text, ctx.line_index())
    if emb.error is not None:
        line, column = emb.position(0)
        if emb.error.line is not None and emb.mappable:
            starts = emb._inner.starts
            inner = starts[min(emb.error.line - 1, len(starts) - 1)] + (emb.error.column or 1) - 1
            line, column = emb.position(min(inner, len(emb.text)))
        raise YAMLSyntaxError(f"{prefix} is not valid YAML: {emb.error.message}", line, column)
    found: list[Found] = []
    for doc in emb.docs:
        if doc.__class__ is Sequence:
            found.extend(_json6902(doc, source))
        elif doc.__class__ is Mapping:
            found.extend(_strategic(doc, source))
    if not found:
        return []
    emb.proxied([f.site for f in found])
    ctx.embedded.append(emb)
    ctx.frozen |= emb.frozen
    for f in found:
        f.site.path = join(prefix, f.site.path)
    return found


def _containers(seq, path: str, source: str) -> list[Found]:
    out = []
    for i, container in enumerate(seq.items if seq.__class__ is Sequence else ()):
        out.extend(_container(container, f"{path}[{i}]", source))
    return out


def _container(container, path: str, source: str) -> list[Found]:
    if container.__class__ is not Mapping:
        return []
    for k, v in container.items():
        if k.__class__ is Scalar and k.value == "image" and v.__class__ is Scalar and v.string is not None:
            return [Found(string_site(v, k, f"{path}.image"), source)]
    return []


def _strategic(doc: Mapping, source: str) -> list[Found]:
    """Every container list of the patch, wherever the kind puts its pod spec."""
    out: list[Found] = []
    stack = [(doc, "")]
    while stack:
        node, path = stack.pop()
        for k, v in node.items():
            if k.__class__ is not Scalar:
                continue
            here = join(path, k.value)
            if k.value in CONTAINER_LISTS and v.__class__ is Sequence:
                out.extend(_containers(v, here, source))
            elif v.__class__ is Mapping:
                stack.append((v, here))
    out.sort(key=lambda f: f.site.names[0].node.start)
    return out


def _json6902(ops: Sequence, source: str) -> list[Found]:
    out: list[Found] = []
    for i, op in enumerate(ops.items):
        keys = by_key(op)
        if string(keys.get("op")) not in ("add", "replace"):
            continue
        path, value = string(keys.get("path")) or "", keys.get("value")
        where = f"[{i}].value"
        if _IMAGE_PATH.search(path) and value.__class__ is Scalar and value.string is not None:
            key = next(k for k, v in op.items() if v is value)
            out.append(Found(string_site(value, key, where), source))
        elif _CONTAINER_PATH.search(path):
            out.extend(_container(value, where, source))
        elif _LIST_PATH.search(path):
            out.extend(_containers(value, where, source))
    return out
