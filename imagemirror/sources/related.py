"""Files that hold values because another file says so, whatever their names.

A kustomization's ``configMapGenerator`` / ``secretGenerator`` files whose keys are YAML
(``values.yaml=./helm-values.yaml``: Flux ``valuesFrom`` reads them as values) and ``helmCharts`` ``valuesFile`` / ``additionalValuesFiles``, and a
helmfile's ``releases[].values`` files, are scanned as values files.  The names of the
ConfigMaps and Secrets the generators make are what Flux ``valuesFrom`` can find in the
repository (:func:`generated`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..files import display_name
from ..walker import Mapping, Scalar, Sequence, YAMLSyntaxError, compose, parse_events
from . import by_key, is_helmfile, is_kustomization, string, templates
from .kustomize import _remote

_YAML_KEY = re.compile(r"\.ya?ml\Z")


def _docs(path: Path) -> list:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    try:
        return compose(parse_events(templates.mask(text)[0]))
    except YAMLSyntaxError:
        return []


def _strings(node) -> list[str]:
    if node.__class__ is not Sequence:
        return []
    return [item.value for item in node.items if item.__class__ is Scalar and item.string is not None]


def scan_related(targets: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str]], dict[str, set[str]]]:
    """-> (the files these targets name as values, not among them; generated ConfigMap/Secret names)."""
    have: set[str] | None = None  # made when a first file is named (most repositories: never)
    extra: list[tuple[Path, str]] = []
    generated: dict[str, set[str]] = {"ConfigMap": set(), "Secret": set()}

    def add(base: Path, rel: str) -> None:
        nonlocal have
        if "{{" in rel or _remote(rel):
            return
        if have is None:
            have = {os.path.realpath(p) for p, _ in targets}
        path = base / rel
        real = os.path.realpath(path)
        if real in have or not path.is_file() or path.is_symlink():
            return
        have.add(real)
        extra.append((path, display_name(path)))

    for path, _shown in targets:
        name = str(path)
        kustomization, helmfile = is_kustomization(name), is_helmfile(name)
        if not (kustomization or helmfile):
            continue
        try:
            head = path.read_bytes()
        except OSError:
            continue
        if kustomization and b"Generator" not in head and b"helmCharts" not in head:
            continue  # nothing it names is a values file (the common case: no second parse)
        if helmfile and b"values" not in head:
            continue
        for doc in _docs(path):
            keys = by_key(doc)
            if doc.__class__ is not Mapping:
                continue
            if kustomization:
                for gen_key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
                    gens = keys.get(gen_key)
                    for gen in gens.items if gens.__class__ is Sequence else ():
                        g = by_key(gen)
                        if string(g.get("name")):
                            generated[kind].add(g["name"].value)
                        for entry in _strings(g.get("files")):
                            key, eq, file = entry.partition("=")
                            # a ConfigMap key that holds YAML (Flux ``valuesKey`` defaults to
                            # ``values.yaml``); a script or a config file is not values
                            if _YAML_KEY.search(key if eq else entry):
                                add(path.parent, file if eq else entry)
                charts = keys.get("helmCharts")
                for chart in charts.items if charts.__class__ is Sequence else ():
                    c = by_key(chart)
                    if string(c.get("valuesFile")):
                        add(path.parent, c["valuesFile"].value)
                    for entry in _strings(c.get("additionalValuesFiles")):
                        add(path.parent, entry)
            if helmfile:
                releases = keys.get("releases")
                for rel in releases.items if releases.__class__ is Sequence else ():
                    for entry in _strings(by_key(rel).get("values")):
                        add(path.parent, entry)
    return extra, generated
