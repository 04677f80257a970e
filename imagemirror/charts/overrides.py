"""Set values in a values file byte-exactly: replace existing scalars, insert missing keys.

``apply(text, assignments)`` takes ``(key path, value, comment)`` triples.  A key that exists
as a scalar is replaced in its own quote style (the core's :func:`imagemirror.rewrite.render`);
missing keys are inserted as the smallest block under the deepest mapping that exists, after
its last entry, in the file's own indentation and line endings, with a ``# imagemirror: ...``
comment above the first inserted key of each image.  Flow mappings get ``, key: value`` before
their ``}``.  The result is parsed again and must equal the old data with exactly the
assignments applied; anything else raises and the text is not used.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import FileError
from ..rewrite import NOT_A_STRING as _NOT_A_STRING

COMMENT = "# imagemirror: overrides chart default {upstream}"
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@+\-]*(?::[A-Za-z0-9._+\-]+)?(?:@[A-Za-z0-9:]+)?\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


@dataclass(frozen=True)
class Assignment:
    keypath: tuple
    value: Any
    comment: str | None = None  # shown above the first inserted key of ``anchor``
    anchor: tuple = ()  # the image's own key path (comments group per image)


def render_value(value: Any, inflow: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _PLAIN.match(text) and not _NOT_A_STRING.match(text) and not (inflow and ":" in text):
        return text
    return json.dumps(text)


def render_key(key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.match(text) and not _NOT_A_STRING.match(text):
        return text
    return json.dumps(text)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _indent_step(root) -> int:
    """The file's own indentation step (the first nested block mapping's offset), else 2."""
    from ..walker import Mapping

    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping) and not node.flow:
            for _k, v in node.pairs:
                if isinstance(v, Mapping) and not v.flow and v.column > node.column:
                    return v.column - node.column
            stack.extend(v for _k, v in reversed(node.pairs))
    return 2


def _last_scalar_end(node) -> int:
    from ..walker import Mapping, Sequence

    while True:
        if isinstance(node, Mapping) and not node.flow and node.pairs:
            node = node.pairs[-1][1]
        elif isinstance(node, Sequence) and not node.flow and node.items:
            node = node.items[-1]
        else:
            return node.end


def _line_end(text: str, offset: int) -> int:
    """Offset just past the line holding ``offset - 1`` (where a new line may start)."""
    if offset > 0 and text[offset - 1] == "\n":
        return offset
    nl = text.find("\n", offset)
    return len(text) if nl == -1 else nl + 1


def _before_blank_lines(text: str, at: int, mapping) -> int:
    """Keep a mapping's trailing blank lines below the inserted block (not in a ``|+`` scalar)."""
    from ..walker import Scalar

    last = mapping
    while not isinstance(last, Scalar):
        items = getattr(last, "pairs", None) or getattr(last, "items", None)
        if not items or getattr(last, "flow", False):
            break
        last = items[-1][1] if isinstance(items[-1], tuple) else items[-1]
    if isinstance(last, Scalar) and last.style in ("|", ">"):
        header = text[last.start:text.find("\n", last.start)]
        if "+" in header:
            return at
    while at > 0:
        start = text.rfind("\n", 0, at - 1) + 1
        if text[start:at].strip() == "" and start < at and start > 0:
            at = start
        else:
            break
    return at


def _tree_insert(tree: dict, keys: tuple, value: Any, comment: str | None, comments: dict) -> None:
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _block(tree: dict, indent: int, step: int, nl: str, comments: dict, prefix: tuple) -> list[str]:
    lines = []
    for key, value in tree.items():
        here = prefix + (key,)
        comment = comments.pop(here, None)
        if comment:
            lines.append(" " * indent + comment + nl)
        if isinstance(value, dict):
            lines.append(" " * indent + render_key(key) + ":" + nl)
            lines.extend(_block(value, indent + step, step, nl, comments, here))
        elif isinstance(value, list):
            # a whole list (Helm replaces lists): dumped as YAML under the key
            lines.append(" " * indent + render_key(key) + ":" + nl)
            lines.extend(" " * (indent + step) + line + nl for line in _dump(value).splitlines())
        else:
            lines.append(" " * indent + f"{render_key(key)}: {render_value(value)}" + nl)
    return lines


def _dump(value: Any) -> str:
    from .effective import dump_yaml

    return dump_yaml(value)


def _flow(tree: dict) -> str:
    parts = []
    for key, value in tree.items():
        if isinstance(value, list):
            parts.append(f"{render_key(key)}: {json.dumps(value)}")
        elif isinstance(value, dict):
            parts.append(f"{render_key(key)}: {{{_flow(value)}}}")
        else:
            parts.append(f"{render_key(key)}: {render_value(value, inflow=True)}")
    return ", ".join(parts)


def _set(data: Any, keypath: tuple, value: Any) -> None:
    node = data
    for key in keypath[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keypath[-1]] = value


def apply(text: str, assignments: list[Assignment], file: str = "<values>") -> str:
    """The text with every assignment made (see the module doc); raises FileError if it cannot."""
    from ..rewrite import UnsafeValue, render
    from ..walker import Mapping, Scalar, YAMLSyntaxError, compose, content_start, parse_events
    from .chart import load_yaml

    if not assignments:
        return text
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    try:
        docs = compose(parse_events(body))
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    root = docs[0] if docs else None
    if root is not None and isinstance(root, Scalar) and root.is_null:
        root = None
    if root is not None and not isinstance(root, Mapping):
        raise FileError(file, "values file is not a mapping: cannot add chart overrides")
    if len(docs) > 1:
        raise FileError(file, "values file has several YAML documents: cannot add chart overrides")
    nl = _newline(body)
    step = _indent_step(root) if root is not None else 2
    replacements: list[tuple[int, int, str, int]] = []  # (start, end, text, depth)
    inserts: dict[int, tuple[Any, dict, dict, tuple]] = {}  # id(mapping) -> (mapping, tree, comments, prefix)
    for a in assignments:
        node, depth = root, 0
        while node is not None and depth < len(a.keypath):
            if not isinstance(node, Mapping):
                break
            child = next((v for k, v in node.items() if isinstance(k, Scalar) and k.value == a.keypath[depth]), None)
            if child is None:
                break
            node, depth = child, depth + 1
        if depth == len(a.keypath):
            if not isinstance(node, Scalar) or node.style in ("|", ">"):
                raise FileError(file, f"{'.'.join(map(str, a.keypath))} is not a plain value: cannot set it",
                                getattr(node, "line", 0) + 1, getattr(node, "column", 0) + 1)
            if isinstance(a.value, bool):
                rendered = render_value(a.value)
            else:
                try:
                    rendered, _ = render(node, str(a.value))
                except UnsafeValue as exc:
                    raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
            replacements.append((content_start(body, node), node.end, rendered, 0))
            continue
        if node is not None and not isinstance(node, Mapping):
            if isinstance(node, Scalar) and node.is_null:
                raise FileError(file, f"{'.'.join(map(str, a.keypath[:depth]))} is empty (null): "
                                "give it a mapping to hold the chart overrides", node.line + 1, node.column + 1)
            raise FileError(file, f"{'.'.join(map(str, a.keypath[:depth]))} is not a mapping: "
                            "cannot add chart overrides under it", node.line + 1, node.column + 1)
        key = id(node) if node is not None else 0
        entry = inserts.setdefault(key, (node, {}, {}, a.keypath[:depth]))
        rest = a.keypath[depth:]
        _tree_insert(entry[1], rest, a.value, a.comment, entry[2])
        if a.comment:
            anchor = a.anchor[depth:] if len(a.anchor) > depth and a.anchor[:depth] == a.keypath[:depth] else rest[:1]
            anchor = anchor or rest[:1]
            entry[2].setdefault(tuple(anchor[:max(1, len(anchor))]), a.comment)
    for node, tree, comments, prefix in inserts.values():
        if node is None:  # an empty document: the block goes at the end
            lead = "" if not body or body.endswith("\n") else nl
            replacements.append((len(body), len(body), lead + "".join(_block(tree, 0, step, nl, comments, ())), 0))
        elif node.flow:
            # right after the last entry (``{ a: 1, new: 2 }``), or inside an empty ``{}``
            at = node.pairs[-1][1].end if node.pairs else body.find("{", node.start) + 1
            sep = ", " if node.pairs else ""
            replacements.append((at, at, sep + _flow(tree), len(prefix)))
            comment = next(iter(comments.values()), None)
            eol = body.find("\n", node.end - 1)
            eol = len(body) if eol == -1 else eol
            if comment and body[node.end:eol].strip() in ("", "\r"):
                end = eol - 1 if body[eol - 1:eol] == "\r" else eol
                replacements.append((end, end, "  " + comment, len(prefix)))
        else:
            at = _line_end(body, _last_scalar_end(node))
            at = _before_blank_lines(body, at, node)
            lead = nl if at == len(body) and body and not body.endswith("\n") else ""
            replacements.append((at, at, lead + "".join(_block(tree, node.column, step, nl, comments, ())), len(prefix)))
    out = body
    # back to front; at one offset the shallower block is applied first so the deeper one
    # (a subchart's mapping that ends where the file ends) stays above it
    for start, end, new, _depth in sorted(replacements, key=lambda r: (r[0], r[1], -r[3]), reverse=True):
        out = out[:start] + new + out[end:]
    # verify: the data is the old data with exactly the assignments applied
    before = load_yaml(body, file) or {}
    expected = copy.deepcopy(before)
    for a in assignments:
        _set(expected, a.keypath, a.value)
    try:
        after = load_yaml(out, file) or {}
    except FileError as exc:
        raise FileError(file, f"chart overrides did not verify ({exc.message}); file left untouched") from None
    from .chart import same_data

    if not same_data(after, expected):  # (each aliased table once: an alias bomb stays linear)
        raise FileError(file, "chart overrides did not verify (data differs); file left untouched -- please report this")
    return bom + out
