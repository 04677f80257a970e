"""``--set``-style parameters (Argo CD ``helm.parameters``, helmfile ``set``) as a values tree.

``[{name: image.repository, value: nginx}, {name: image.tag, value: "1.25"}]`` becomes a
mapping ``{image: {repository: <the value scalar>, tag: <the value scalar>}}`` whose keys
are made up but whose values are the text's own scalars, so the values detector finds the
same shapes as in a values file and an edit lands on the ``value:`` scalar in place.  A list
index (``sidecars[0].image``) makes a list whose item is that map; names are split as Helm's
strvals splits them (:func:`set_path`, shared with ``charts.discover.set_values``); a name
Helm refuses is skipped.
"""

from __future__ import annotations

from ..walker import Mapping, Scalar, Sequence
from . import by_key, string


def tree(params) -> Mapping | None:
    if params.__class__ is not Sequence:
        return None
    root = Mapping(params.start, False, params.line, params.column)
    nodes: dict[tuple, Mapping | Sequence] = {(): root}
    any_ = False
    for item in params.items:
        keys = by_key(item)
        name_node, value = keys.get("name"), keys.get("value")
        name = string(name_node)
        path = set_path(name) if name is not None else None
        if path is None or value.__class__ is not Scalar:
            continue
        parent: Mapping | Sequence = root
        for depth, step in enumerate(path):
            if isinstance(step, int) != (parent.__class__ is Sequence):
                break  # a key into a list, an index into a map: another name made it the other kind
            if depth == len(path) - 1:
                _add(parent, step, value, name_node)
                any_ = True
                break
            key = tuple(path[: depth + 1])
            child = nodes.get(key)
            if child is None:
                kind = Sequence if isinstance(path[depth + 1], int) else Mapping
                child = nodes[key] = kind(item.start, False, name_node.line, name_node.column)
                _add(parent, step, child, name_node)
            parent = child
    return root if any_ else None


def _add(parent, step, child, at: Scalar) -> None:
    if parent.__class__ is Sequence:
        while len(parent.items) < step:  # Helm pads with nulls: nothing the detector reads
            parent.items.append(Scalar("", "", at.start, at.start, False, at.line, at.column))
        if len(parent.items) == step:
            parent.items.append(child)
        else:
            parent.items[step] = child
    else:
        parent.pairs.append((_key(step, at), child))


def _key(text: str, at: Scalar) -> Scalar:
    return Scalar(text, "", at.start, at.start, False, at.line, at.column)


MAX_INDEX = 65536  # Helm's strvals.MaxIndex


def set_path(name: str) -> tuple | None:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")`` (``\\`` escapes the next character); None when
    Helm would refuse the name (an empty key, a bad or too large index)."""
    out: list = []
    key = ""
    i, n = 0, len(name)
    after_index = False
    while i < n:
        ch = name[i]
        if ch == "\\":
            if i + 1 >= n:
                return None  # it escapes the ``=`` after the name: Helm finds no value
            key += name[i + 1]
            i += 2
            continue
        if ch == ".":
            if not key and not after_index:
                return None
            if key:
                out.append(key)
            key, after_index = "", False
            i += 1
            continue
        if ch == "[":
            close = name.find("]", i)
            if close < 0 or not name[i + 1 : close].isdigit():
                return None
            if close + 1 < n and name[close + 1] not in ".[":
                return None  # "unexpected data at end of array index"
            if key:
                out.append(key)
                key = ""
            elif not out or name[i - 1] == ".":
                return None  # ``[0]=``, ``a.[0]=``: Helm refuses it or sets something else
            index = int(name[i + 1 : close])
            if index > MAX_INDEX:
                return None
            out.append(index)
            after_index = True
            i = close + 1
            continue
        if ch in ",=":
            return None  # Helm reads a comma or an equals sign in a name as the end of the name
        key += ch
        i += 1
    if key:
        out.append(key)
    elif not after_index:
        return None
    return tuple(out) if out else None
