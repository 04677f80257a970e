"""Helm's values merge, on plain data.

Follows Helm 3 (``pkg/chartutil/coalesce.go``, ``dependencies.go``, ``values.go``):

1. The repo's values files (and inline values) are merged in order, later wins: maps merge,
   anything else (lists included) replaces; a ``null`` is kept as a value (``mergeMaps``).
2. Dependencies are enabled or disabled from the values coalesced so far: ``tags`` first, then
   the first ``condition`` path that holds a boolean (paths are relative to the parent chart).
   Aliased dependencies read their values under the alias.
3. ``coalesce``: the user's values over the chart defaults (maps merge, a user ``null`` deletes
   the default key), then for each enabled subchart, the parent's ``global`` is pushed into the
   subchart's ``global`` (parent wins) and the subchart's defaults fill in under its key,
   recursively.

Not modelled: ``import-values``/``exports`` and templates (``tpl``); a chart whose images come
from those is reported by what its values say.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .chart import Chart, Dependency

GLOBAL = "global"


def merge_user(layers: list[dict]) -> dict:
    """Helm's ``MergeValues`` over ``-f`` files: later layers win, maps merge, nulls are kept."""
    out: dict = {}
    for layer in layers:
        out = _merge_maps(out, layer or {})
    return out


def _merge_maps(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_maps(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _coalesce_tables(dst: dict, src: dict, merge: bool = False) -> dict:
    """Fill ``dst`` (higher priority) from ``src``; a ``None`` in ``dst`` deletes (unless merge)."""
    for key, value in src.items():
        if key in dst:
            current = dst[key]
            if current is None and not merge:
                del dst[key]
            elif isinstance(current, dict) and isinstance(value, dict):
                _coalesce_tables(current, value, merge)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def _coalesce_globals(dest: dict, src: dict) -> None:
    dg = dest.get(GLOBAL)
    if dg is None:
        dg = {}
    elif not isinstance(dg, dict):
        return
    sg = src.get(GLOBAL) or {}
    if not isinstance(sg, dict):
        return
    for key, value in sg.items():
        if isinstance(value, dict):
            vv = copy.deepcopy(value)
            if key in dg and isinstance(dg[key], dict):
                _coalesce_tables(vv, dg[key], merge=True)
                dg[key] = vv
            elif key not in dg:
                dg[key] = vv
        elif isinstance(dg.get(key), dict):
            continue
        else:
            dg[key] = copy.deepcopy(value)
    dest[GLOBAL] = dg


def _coalesce_values(chart: Chart, dest: dict) -> None:
    for key, value in copy.deepcopy(chart.defaults).items():
        if key in dest:
            current = dest[key]
            if current is None:
                del dest[key]
            elif isinstance(current, dict) and isinstance(value, dict):
                _coalesce_tables(current, value)
        else:
            dest[key] = value


def coalesce(chart: Chart, dest: dict, deps: dict[tuple, list[Dependency]] | None = None,
             path: tuple[str, ...] = ()) -> dict:
    """Helm's ``coalesce`` of ``dest`` (user values, modified in place) with the chart tree.

    ``deps`` maps a scope path to its enabled dependencies (all when absent).
    """
    _coalesce_values(chart, dest)
    for dep in (deps or {}).get(path, chart.dependencies):
        if dep.chart is None:
            continue
        sub = dest.get(dep.key)
        if sub is None:
            sub = dest[dep.key] = {}
        elif not isinstance(sub, dict):
            continue  # Helm errors: "type mismatch"; the detector still sees the scalar
        _coalesce_globals(sub, dest)
        dest[dep.key] = coalesce(dep.chart, sub, deps, path + (dep.key,))
    return dest


def path_value(values: Any, dotted: str) -> tuple[bool, Any]:
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _enabled(dep: Dependency, top: dict, prefix: str) -> bool:
    enabled = True
    tags = top.get("tags")
    if dep.tags and isinstance(tags, dict):
        states = [tags[t] for t in dep.tags if isinstance(tags.get(t), bool)]
        if states and not any(states):
            enabled = False
    for cond in (dep.condition or "").strip().split(","):
        cond = cond.strip()
        if not cond:
            continue
        found, value = path_value(top, prefix + cond)
        if found and isinstance(value, bool):
            enabled = value
            break
    return enabled


@dataclass
class Scope:
    """One chart of a release: where its values live in the tree and what its defaults are."""

    chart: Chart
    path: tuple[str, ...]
    values: dict
    children: list[Scope] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def effective_values(chart: Chart, layers: list[dict]) -> Scope:
    """The values every chart of the release renders with (Helm's ``ToRenderValues``)."""
    user = merge_user(layers)
    enabled: dict[tuple, list[Dependency]] = {}
    disabled: dict[tuple, list[str]] = {}

    def process(c: Chart, path: tuple[str, ...]) -> None:
        top = coalesce(chart, copy.deepcopy(user), enabled)
        prefix = "".join(p + "." for p in path)
        keep = [d for d in c.dependencies if _enabled(d, top, prefix)]
        enabled[path] = keep
        disabled[path] = [d.key for d in c.dependencies if d not in keep]
        for dep in keep:
            if dep.chart is not None:
                process(dep.chart, path + (dep.key,))

    process(chart, ())
    final = coalesce(chart, copy.deepcopy(user), enabled)

    def scope(c: Chart, path: tuple[str, ...], values: dict) -> Scope:
        s = Scope(c, path, values, disabled=disabled.get(path, []))
        for dep in enabled.get(path, []):
            if dep.chart is not None and isinstance(values.get(dep.key), dict):
                s.children.append(scope(dep.chart, path + (dep.key,), values[dep.key]))
        return s

    return scope(chart, (), final)
