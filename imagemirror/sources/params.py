"""``--set``-style parameters (Argo CD ``helm.parameters``, helmfile ``set``) as a values tree.

``[{name: image.repository, value: nginx}, {name: image.tag, value: "1.25"}]`` becomes a
mapping ``{image: {repository: <the value scalar>, tag: <the value scalar>}}`` whose keys
are made up but whose values are the text's own scalars, so the values detector finds the
same shapes as in a values file and an edit lands on the ``value:`` scalar in place.  Names
with list indexes (``a[0].b``) are skipped, as ``charts.discover.set_values`` does.
"""

from __future__ import annotations

from ..walker import Mapping, Scalar, Sequence
from . import by_key, string


def tree(params) -> Mapping | None:
    if params.__class__ is not Sequence:
        return None
    root = Mapping(params.start, False, params.line, params.column)
    maps: dict[tuple, Mapping] = {(): root}
    any_ = False
    for item in params.items:
        keys = by_key(item)
        name_node, value = keys.get("name"), keys.get("value")
        name = string(name_node)
        if name is None or "[" in name or value.__class__ is not Scalar:
            continue
        parts = [p.replace("\x00", ".") for p in name.replace("\\.", "\x00").split(".")]
        parent = root
        for depth in range(len(parts) - 1):
            key = tuple(parts[: depth + 1])
            child = maps.get(key)
            if child is None:
                child = Mapping(item.start, False, name_node.line, name_node.column)
                maps[key] = child
                parent.pairs.append((_key(parts[depth], name_node), child))
            parent = child
        parent.pairs.append((_key(parts[-1], name_node), value))
        any_ = True
    return root if any_ else None


def _key(text: str, at: Scalar) -> Scalar:
    return Scalar(text, "", at.start, at.start, False, at.line, at.column)
