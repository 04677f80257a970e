"""Flux ``HelmRelease``: inline ``spec.values``, and where ``valuesFrom`` reads the rest.

``spec.values`` is a values map written inside the manifest: read and edited in place.
``valuesFrom`` names ConfigMaps and Secrets; those a kustomize ``configMapGenerator`` /
``secretGenerator`` of the repository makes from files are scanned as the values files they
are (see :func:`valuesfrom_notes`); any other is outside the repository, and said so.
"""

from __future__ import annotations

from ..walker import Mapping, Sequence
from . import Context, Found, by_key, string, values_sites


def find(doc: Mapping, ctx: Context) -> list[Found]:
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
