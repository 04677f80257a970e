"""Flux ``HelmRelease`` (inline ``spec.values``, and where ``valuesFrom`` reads the rest) and
Flux ``Kustomization`` (``kustomize.toolkit.fluxcd.io``: ``spec.images``).

``spec.values`` is a values map written inside the manifest: read and edited in place.
``valuesFrom`` names ConfigMaps and Secrets; those a kustomize ``configMapGenerator`` /
``secretGenerator`` of the repository makes from files are scanned as the values files they
are (see :func:`valuesfrom_notes`); any other is outside the repository, and said so.

A Flux ``Kustomization``'s ``spec.images`` are kustomize ``images:`` entries (``name``,
``newName``, ``newTag``, ``digest``) that kustomize-controller writes into the kustomization at
``spec.path`` (replacing an entry of the same ``name``, else appended; a folder without one
gets a generated kustomization listing its YAML files) before it builds: they match the images
of the resources under ``spec.path``, read and rewritten as a kustomization's own entries are
(:func:`.kustomize.image_entry`: ``newName`` rewritten or inserted, ``name`` following its
base).  ``spec.path`` is a folder of this repository when it exists here (the usual
``flux-system`` GitRepository); otherwise nothing here is matched.  The rest of the ``spec``
is read with the values detector, as any custom resource's; ``spec.patches[].patch`` strings
as a kustomization's inline patches (:mod:`.patches`); ``spec.postBuild.substitute`` values
that compose images of the files it builds are edited where they are written
(:mod:`.substitute`).
"""

from __future__ import annotations

from ..walker import Mapping, Scalar, Sequence
from . import Context, Found, by_key, join, kustomize, local_folder, patches, string, substitute, values_sites


def find(doc: Mapping, ctx: Context) -> list[Found]:
    if string(by_key(doc).get("kind")) == "Kustomization":
        return _kustomization(doc, ctx)
    spec = by_key(by_key(doc).get("spec"))
    out: list[Found] = []
    values = spec.get("values")
    if values.__class__ is Mapping:
        out.extend(values_sites(values, "spec.values", "flux"))
    items = spec.get("valuesFrom")
    if items.__class__ is Sequence:
        for item in items.items:
            keys = by_key(item)
            kind, name = string(keys.get("kind")), keys.get("name")
            if kind in ("ConfigMap", "Secret") and string(name):
                optional = string(keys.get("optional")) in ("true", "True")
                ctx.valuesfrom.append((kind, name.value, name.line + 1, name.column + 1, optional))
    return out


def _kustomization(doc: Mapping, ctx: Context) -> list[Found]:
    spec_node = by_key(doc).get("spec")
    if spec_node.__class__ is not Mapping:
        return []
    spec = by_key(spec_node)
    out: list[Found] = []
    for k, v in spec_node.items():
        if k.__class__ is Scalar and k.value not in ("images", "patches"):
            out.extend(values_sites(v, join("spec", k.value), "flux"))
    out.extend(patches.find({"patches": spec["patches"]} if "patches" in spec else {}, "spec", ctx, "flux"))
    images = spec.get("images")
    if images.__class__ is Sequence:
        path = string(spec.get("path"))
        folder = local_folder(path or ".", ctx.file)
        for i, entry in enumerate(images.items):
            found = kustomize.image_entry(entry, f"spec.images[{i}]", folder, ctx, source="flux")
            if found is not None:
                out.append(found)
    if "postBuild" in spec:
        out.extend(substitute.value_sites(doc, ctx))
    return out


def valuesfrom_notes(file: str, items, generated: dict[str, set[str]]) -> list[str]:
    """One line for each ``valuesFrom`` no generator of the repository makes."""
    out = []
    for kind, name, line, column, optional in items:
        if name in generated.get(kind, set()):
            continue
        out.append(
            f"{file}:{line}:{column}: valuesFrom {kind} {name!r} is not generated from a file of this "
            f"repository{' (optional)' if optional else ''}; the images it sets are not checked"
        )
    return out
