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


MAX_EXPANDED = 1_000_000  # nodes values may expand to through aliases before a renderer sees them


def expanded_size(data: Any, limit: int = MAX_EXPANDED) -> int:
    """How many nodes ``data`` is once its shared (aliased) parts are copied out -- what a
    renderer fed JSON, or Helm's own YAML reader, has to build -- counted in the size of the
    shared data (each container once), stopping past ``limit``."""
    sizes: dict[int, int] = {}
    order: list = []
    stack = [data]
    while stack:  # containers in an order where each comes before what it holds
        node = stack.pop()
        if isinstance(node, (dict, list)) and id(node) not in sizes:
            sizes[id(node)] = -1
            order.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    for node in reversed(order):  # children first
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += sizes.get(id(child), 1) if isinstance(child, (dict, list)) else 1
            if total > limit:
                total = limit + 1
                break
        sizes[id(node)] = total
    return sizes.get(id(data), 1)


def _copy(value: Any, memo: dict | None = None) -> Any:
    """A deep copy of plain values (dicts, lists, immutable scalars): ``copy.deepcopy`` without
    its overhead, a third of a release's CPU before (other containers still go through
    deepcopy).  ``memo`` keeps shared (aliased) dicts and lists shared: an alias bomb is copied
    in its size, not its expansion (nesting is bounded by the loader)."""
    kind = type(value)
    if kind is dict or kind is list:
        if memo is None:
            memo = {}
        got = memo.get(id(value))
        if got is not None:
            return got
        out: Any
        if kind is dict:
            out = memo[id(value)] = {}
            for k, v in value.items():
                out[k] = _copy(v, memo)
        else:
            out = memo[id(value)] = []
            out.extend(_copy(v, memo) for v in value)
        return out
    if isinstance(value, (dict, list, set)):
        return copy.deepcopy(value)
    return value


def merge_user(layers: list[dict]) -> dict:
    """Helm's ``MergeValues`` over ``-f`` files: later layers win, maps merge, nulls are kept;
    a :class:`SetValues` layer is applied into what is merged so far, as ``--set`` is."""
    out: dict = {}
    memo: dict = {}  # one deepcopy memo for the whole merge: shared (aliased) data is copied once
    for layer in layers:
        if isinstance(layer, SetValues):
            try:
                out = layer.apply(out)
            except SetConflict as exc:
                from ..errors import FileError

                raise FileError(layer.where, f"Helm refuses these --set values: {exc}") from None
        else:
            out = _merge_maps(out, layer or {}, memo)
    return out


class SetInt(int):
    """An integer a ``--set`` value was typed as (Helm: an ``int64``).  Values files give Helm
    floats (``1e+06``); a ``--set`` integer prints in full (``20240101``).  The SDK renderer
    hands values over as JSON, where Go reads every number as a float, so it passes these as
    the text Helm prints for them (:func:`ints_as_text`)."""

    __slots__ = ()

    def __deepcopy__(self, memo):
        return self


def ints_as_text(value: Any) -> Any:
    """``value`` with every :class:`SetInt` whose float form would print otherwise (from 1e6 on)
    as its decimal text, which a template prints as Helm prints the ``int64``."""
    kind = type(value)
    if kind is SetInt:
        return str(int(value)) if abs(value) >= 1_000_000 else int(value)
    if kind is dict:
        return {k: ints_as_text(v) for k, v in value.items()}
    if kind is list:
        return [ints_as_text(v) for v in value]
    return value


class SetConflict(ValueError):
    """Helm's strvals refuses an assignment: its key path crosses a value of another type."""


class SetValues(dict):
    """``--set`` assignments (``(key path, value)``, int steps index lists).  As a dict it holds
    what they set on their own (parsed into an empty map), for lookups of which layer sets a
    key; :meth:`apply` sets them into given values as Helm's ``strvals.ParseInto`` does: a list
    index sets that item (padding with nulls), keeping the item's other keys; a key path
    through a value of another type is refused as Helm refuses it (:class:`SetConflict`;
    ``merge_user`` raises it as the layer's error)."""

    def __init__(self, ops: list[tuple[tuple, Any]], flags: list[tuple[str, str]] | None = None, where: str = "--set"):
        super().__init__()
        self.ops = list(ops)
        #: the ``helm`` flags that set them (``("--set", "a.b=v")``), when the tool's are known
        self.flags = flags
        self.where = where  # the layer's label, for errors
        try:
            self.update(self.apply({}))
        except SetConflict:
            pass  # refused whatever the values: merge_user says so

    def apply(self, values: dict) -> dict:
        out = copy.deepcopy(values)
        for path, value in self.ops:
            _set_into(out, path, copy.deepcopy(value))
        return out


def _set_into(root: dict, path: tuple, value: Any) -> None:
    """strvals.ParseInto's walk: in a map, an existing key must hold a map (or, before an index,
    a list) -- anything else, null included, is refused; in a list, an item that is not a map
    is replaced by one, and a null item by a new list."""
    node: Any = root
    for i, step in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if last:
                node[step] = value
                return
            child = node[step]
            if isinstance(nxt, int):
                if child is None:
                    child = []
                elif not isinstance(child, list):
                    raise SetConflict(f"item {step} is {_type(child)}, not a list")
            elif not isinstance(child, dict):
                child = {}
        else:
            if last:
                node[step] = value
                return
            if step in node:
                child = node[step]
                want = list if isinstance(nxt, int) else dict
                if not isinstance(child, want):
                    raise SetConflict(f"key {step!r} is {_type(child)}, not a {'list' if want is list else 'map'}")
            else:
                child = [] if isinstance(nxt, int) else {}
        node[step] = child
        node = child


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return "a " + type(value).__name__


def _merge_maps(a: dict, b: dict, memo: dict | None = None) -> dict:
    memo = {} if memo is None else memo
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_maps(out[key], value, memo)
        else:
            out[key] = _copy(value, memo)
    return out


def _coalesce_tables(
    dst: dict, src: dict, merge: bool = False, memo: dict | None = None, done: set | None = None
) -> dict:
    """Fill ``dst`` (higher priority) from ``src``; a ``None`` in ``dst`` deletes (unless merge).

    ``done`` holds the ``(dst, src)`` pairs already filled: aliased tables are filled once
    (an alias bomb stays linear)."""
    memo = {} if memo is None else memo
    done = set() if done is None else done
    pair = (id(dst), id(src))
    if pair in done:
        return dst
    done.add(pair)
    for key, value in src.items():
        if key in dst:
            current = dst[key]
            if current is None and not merge:
                del dst[key]
            elif isinstance(current, dict) and isinstance(value, dict):
                _coalesce_tables(current, value, merge, memo, done)
        else:
            dst[key] = _copy(value, memo)
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
            vv = _copy(value)
            if key in dg and isinstance(dg[key], dict):
                _coalesce_tables(vv, dg[key], merge=True)
                dg[key] = vv
            elif key not in dg:
                dg[key] = vv
        elif isinstance(dg.get(key), dict):
            continue
        else:
            dg[key] = _copy(value)
    dest[GLOBAL] = dg


def _coalesce_values(chart: Chart, dest: dict) -> None:
    memo: dict = {}
    done: set = set()
    for key, value in chart.defaults.items():  # read only: what goes into dest is copied
        if key in dest:
            current = dest[key]
            if current is None:
                del dest[key]
            elif isinstance(current, dict) and isinstance(value, dict):
                _coalesce_tables(current, value, False, memo, done)
        else:
            dest[key] = _copy(value, memo)


def coalesce(
    chart: Chart, dest: dict, deps: dict[tuple, list[Dependency]] | None = None, path: tuple[str, ...] = ()
) -> dict:
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
        top = coalesce(chart, _copy(user), enabled)
        prefix = "".join(p + "." for p in path)
        keep = [d for d in c.dependencies if _enabled(d, top, prefix)]
        enabled[path] = keep
        disabled[path] = [d.key for d in c.dependencies if d not in keep]
        for dep in keep:
            if dep.chart is not None:
                process(dep.chart, path + (dep.key,))

    process(chart, ())
    final = coalesce(chart, _copy(user), enabled)

    def scope(c: Chart, path: tuple[str, ...], values: dict) -> Scope:
        s = Scope(c, path, values, disabled=disabled.get(path, []))
        for dep in enabled.get(path, []):
            if dep.chart is not None and isinstance(values.get(dep.key), dict):
                s.children.append(scope(dep.chart, path + (dep.key,), values[dep.key]))
        return s

    return scope(chart, (), final)
