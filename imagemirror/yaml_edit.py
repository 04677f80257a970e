"""The one YAML edit engine: byte-exact edits of a YAML text, verified by parsing the result.

- :func:`apply_replacements` + :func:`verify_events` -- replace scalars in place (each in its own
  quote style, :func:`render`), in one linear splice; the result's event stream must equal the
  original's except for the intended scalar values (value, style, anchor, tag, flow style and
  count are all compared).
- :func:`set_values` / :func:`edit` -- :class:`Assignment` records (key path -> value): an
  existing scalar is replaced in place; missing keys are inserted as the smallest block under
  the deepest existing mapping (or ``, key: value`` in a flow mapping), in the file's own
  indentation and line endings.  ``edit`` takes scalar replacements and assignments as one
  plan: one splice, one verification -- the result's events must be the old ones with the new
  scalar values and, where keys were inserted, exactly the events of the inserted text (parsed
  on its own).  Nothing reached through an anchor or a merge key (``<<``) is edited: that
  would change every place that aliases it.  ``at="last"``
  (after the mapping's last entry; chart overrides) or ``at="first"`` (before its first entry,
  a new top-level key at the end of the document; the Bitnami flag), the comment above the
  first inserted key of an image or ``inline`` after the value.
- :func:`render`, :func:`render_value`, :func:`render_key`, :func:`plain_ok` -- scalars written
  plain only when ruamel's own resolver (YAML 1.1 and 1.2) reads them back as strings: an
  inserted ``2024-01-01``, ``yes``, ``0o17`` or ``1.10`` is quoted, never a date, a boolean, a
  number.
- :func:`newline_of`, :func:`indent_step` -- the file's line ending and indentation step.

Pure: text in, text out; a refusal is a ``FileError`` with the position and the text is not used.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.cyaml import CParser
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from .errors import FileError
from .walker import Mapping, Scalar, Sequence, YAMLSyntaxError, block_span, compose, content_start, parse_events

# What a reference or registry may contain; anything else would change the YAML around it.
# (``=``: an Argo CD ``kustomize.images`` entry is ``name=newName:tag``)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+=\-\[\]]*\Z")
_PLAIN_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+=\-]*\Z")
# a reference Flux substitutes (``${registry:=docker.io}/app:${tag}``, sources.substitute)
_SAFE_SUBST = re.compile(r"(?:[A-Za-z0-9._/@:+=\-]|\$\{[_A-Za-z][_A-Za-z0-9]*(?::?[-=][A-Za-z0-9._/@:+=\-]*)?\})+\Z")
# values and keys an assignment may write plain (anything else is double-quoted)
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@+\-]*(?::[A-Za-z0-9._+\-]+)?(?:@[A-Za-z0-9:]+)?\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_STR = "tag:yaml.org,2002:str"
_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))


class UnsafeValue(ValueError):
    pass


class Refused(FileError):
    """An ``at="first"`` assignment whose place the engine will not edit automatically (a flow
    mapping, several documents...): the caller says what to do by hand."""


# --------------------------------------------------------------------------- scalars


@lru_cache(maxsize=4096)
def plain_ok(value: str) -> bool:
    """Whether ``value`` written plain reads back as the same string, in YAML 1.1 and 1.2
    (ruamel's resolver decides: dates, booleans, numbers, nulls are not strings)."""
    return all(str(r.resolve(ScalarNode, value, (True, False))) == _STR for r in _RESOLVERS)


def render(node: Scalar, value: str) -> tuple[str, str]:
    """The scalar text for ``value`` in ``node``'s quote style -> (text, style)."""
    subst = "${" in value and _SAFE_SUBST.match(value) is not None
    if not (subst or _SAFE_VALUE.match(value)) or "{{" in value:
        raise UnsafeValue(f"refusing to write {value!r}: not a plain image reference")
    if node.style in ("|", ">"):  # a one-word block scalar: the word on its line (see edit)
        return value, node.style
    if node.style == "'":
        return f"'{value}'", "'"
    if node.style == '"':
        return f'"{value}"', '"'
    if subst and not node.inflow and plain_ok(value) and not value.endswith(":") and ": " not in value:
        return value, ""
    if _PLAIN_OK.match(value) and plain_ok(value) and not value.endswith(":") and not (node.inflow and ":" in value):
        return value, ""
    return f'"{value}"', '"'


def render_value(value: Any, inflow: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _PLAIN.match(text) and plain_ok(text) and not (inflow and ":" in text):
        return text
    return json.dumps(text)


def render_key(key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.match(text) and plain_ok(text):
        return text
    return json.dumps(text)


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def indent_step(root) -> int:
    """The file's own indentation step, else 2: how far the first key of the first nested
    block mapping sits right of its parent key (the top level first, then deeper; keys, not
    nodes: an anchor before a mapping moves the node's start, not its keys)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping) and not node.flow:
            for key, value in node.pairs:
                if isinstance(value, Mapping) and not value.flow and value.pairs and isinstance(key, Scalar):
                    first = value.pairs[0][0]
                    if first.line > key.line and first.column > key.column:
                        return first.column - key.column
            stack.extend(v for _k, v in reversed(node.pairs))
    return 2


# --------------------------------------------------------------------------- scalar replacement


def _sig(ev) -> tuple:
    return (
        ev.__class__.__name__,
        getattr(ev, "value", None),
        getattr(ev, "style", None) or "",
        getattr(ev, "anchor", None),
        getattr(ev, "tag", None),
        bool(getattr(ev, "flow_style", False)),
    )


def _scalar_sig(value: str, style: str = "") -> tuple:
    return ("ScalarEvent", value, style, None, None, False)


_MAP_START = ("MappingStartEvent", None, "", None, None, False)
_MAP_END = ("MappingEndEvent", None, "", None, None, False)


def apply_replacements(text: str, replacements: list[tuple[int, int, str]]) -> str:
    """Splice the replacements into ``text`` in one pass (linear in the text, however
    many edits: a 50 MB file has hundreds of thousands).  Insertions at one offset land
    in reverse order of ``replacements``, as when applied one by one from the end."""
    ordered = sorted(replacements, key=lambda r: (r[0], r[1]), reverse=True)
    ordered.reverse()
    chunks = []  # the pieces joined a few thousand at a time: never all held as small strings
    parts = []
    pos = 0
    for start, end, new in ordered:
        if start < pos:
            raise AssertionError("overlapping edits")
        parts.append(text[pos:start])
        parts.append(new)
        pos = end
        if len(parts) >= 4096:
            chunks.append("".join(parts))
            parts.clear()
    del ordered
    parts.append(text[pos:])
    chunks.append("".join(parts))
    del parts
    return chunks[0] if len(chunks) == 1 else "".join(chunks)


def verify_events(old_events, new_body: str, expected_scalars, splice, file: str, what: str = "rewrite") -> None:
    """Re-parse ``new_body``: its events must be the old ones, the edited scalars holding
    their intended values, and -- where ``splice`` says (``(index, remove, inserted
    signatures)``, or a list of them) -- the inserted events.  ``old_events`` is a list, or a
    callable that reads the old events again one at a time; both streams are compared as the
    parser makes them, never all held at once (a 200 MB file's events take gigabytes)."""

    def fail(why: str):
        raise FileError(file, f"{what} did not verify ({why}); file left untouched -- please report this")

    old = _events_reader(old_events)
    splices = [] if splice is None else [splice] if isinstance(splice, tuple) else list(splice)
    splices.sort(key=lambda sp: sp[0])

    def expected():
        """The old events, each splice's signatures in its place."""
        pending = list(splices)
        skip = 0
        i = -1
        for i, ev in enumerate(old()):
            while pending and pending[0][0] == i:
                _index, remove, inserted = pending.pop(0)
                yield from inserted
                skip = max(skip, remove)
            if skip:
                skip -= 1
                continue
            yield ev
        for _index, _remove, inserted in pending:  # after the last event
            yield from inserted

    parser = CParser(new_body)
    try:
        count, want_count, mismatch = _compare(expected(), parser.get_event, expected_scalars)
    except YAMLError:
        # libyaml refused the result: parse_events decides (the pure parser, or the error)
        try:
            new_events = parse_events(new_body)
        except YAMLSyntaxError as exc:
            fail(f"result is not valid YAML: {exc.message}")
        count, want_count, mismatch = _compare(expected(), iter(new_events + [None]).__next__, expected_scalars)
    finally:
        parser.dispose()
    if count != want_count:
        fail("a different number of YAML events")
    if mismatch is not None:
        i, want, got = mismatch
        want_sig = want if want.__class__ is tuple else _expected_sig(want, expected_scalars)
        fail(f"event {i}: expected {want_sig[:3]}, got {_sig(got)[:3]}")


def _events_reader(events):
    """A callable giving a fresh iterator over ``events`` (a list, or such a callable)."""
    return events if callable(events) else events.__iter__


_END = object()


def _compare(expected, next_event, expected_scalars) -> tuple:
    """Read every event from ``next_event()`` (None ends) beside the iterator ``expected``
    -> (how many read, how many expected, first mismatch or None)."""
    n_got = n_want = 0
    mismatch = None
    while True:
        got = next_event()
        want = next(expected, _END)
        if want is not _END:
            n_want += 1
        if got is None:
            if want is not _END:
                n_want += sum(1 for _ in expected)
            return n_got, n_want, mismatch
        n_got += 1
        if want is not _END and mismatch is None and not _same(want, got, expected_scalars):
            mismatch = (n_got - 1, want, got)


def _expected_sig(ev, expected_scalars) -> tuple:
    sig = _sig(ev)
    if sig[0] == "ScalarEvent" and ev.start_mark.index in expected_scalars:
        value, style = expected_scalars[ev.start_mark.index]
        sig = (sig[0], value, style) + sig[3:]
    return sig


def _same(want, got, expected_scalars) -> bool:
    """``_sig(got) == _expected_sig(want)``, without building the tuples (the hot loop)."""
    cls = want.__class__
    if cls is tuple:
        return _sig(got) == want
    if cls is not got.__class__:
        return False
    if cls is ScalarEvent:
        wanted = expected_scalars.get(want.start_mark.index) if expected_scalars else None
        if wanted is None:
            value, style = want.value, want.style or ""
        else:
            value, style = wanted
        return (
            got.value == value
            and (got.style or "") == style
            and got.anchor == want.anchor
            and (got.ctag is None) == (want.ctag is None)
            and (got.ctag is None or got.tag == want.tag)
        )
    if cls is MappingStartEvent or cls is SequenceStartEvent:
        return (
            got.anchor == want.anchor
            and bool(got.flow_style) == bool(want.flow_style)
            and (got.ctag is None) == (want.ctag is None)
            and (got.ctag is None or got.tag == want.tag)
        )
    if cls is MappingEndEvent or cls is SequenceEndEvent:
        return True  # no value, style, anchor, tag or flow style: the class is all
    if cls is AliasEvent:
        return got.anchor == want.anchor
    return _sig(got) == _sig(want)  # stream and document start and end: once per document


# --------------------------------------------------------------------------- assignments


@dataclass(frozen=True)
class Assignment:
    """Set ``keypath`` (keys, from the document's top) to ``value`` (a string, a boolean, or a
    whole list for Helm's list replacement).

    ``comment`` goes above the first inserted key of ``anchor`` (the image's own key path: one
    comment per image), or after the value when ``inline``.  ``at``: where a missing key goes
    in the deepest existing mapping -- ``"last"`` after its last entry (a flow mapping, null or
    other shapes raise ``FileError``), ``"first"`` before its first entry (a new top-level key
    at the end of the document; an empty ``key:`` gets a block; any other shape raises
    :class:`Refused`).
    """

    keypath: tuple
    value: Any
    comment: str | None = None
    anchor: tuple = ()
    at: str = "last"
    inline: bool = False


def _last_scalar_end(node) -> int:
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
    last = mapping
    while not isinstance(last, Scalar):
        items = getattr(last, "pairs", None) or getattr(last, "items", None)
        if not items or getattr(last, "flow", False):
            break
        last = items[-1][1] if isinstance(items[-1], tuple) else items[-1]
    if isinstance(last, Scalar) and last.style in ("|", ">"):
        header = text[last.start : text.find("\n", last.start)]
        if "+" in header:
            return at
    while at > 0:
        start = text.rfind("\n", 0, at - 1) + 1
        if text[start:at].strip() == "" and start < at and start > 0:
            at = start
        else:
            break
    return at


def _tree_insert(tree: dict, keys: tuple, value: Any) -> None:
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _block(tree: dict, indent: int, step: int, nl: str, comments: dict, prefix: tuple, inline: dict) -> list[str]:
    lines = []
    for key, value in tree.items():
        here = prefix + (key,)
        comment = comments.pop(here, None)
        if comment:
            lines.append(" " * indent + comment + nl)
        if isinstance(value, dict):
            lines.append(" " * indent + render_key(key) + ":" + nl)
            lines.extend(_block(value, indent + step, step, nl, comments, here, inline))
        elif isinstance(value, list):
            # a whole list (Helm replaces lists): dumped as YAML under the key
            lines.append(" " * indent + render_key(key) + ":" + nl)
            lines.extend(" " * (indent + step) + line + nl for line in _dump(value).splitlines())
        else:
            after = f"  {inline[here]}" if here in inline else ""
            lines.append(" " * indent + f"{render_key(key)}: {render_value(value)}{after}" + nl)
    return lines


def _dump(value: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.sort_base_mapping_type_on_output = False  # keep the given order
    out = io.StringIO()
    yaml.dump(value, out)
    return out.getvalue()


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


def _events_of(snippet: str) -> list[tuple]:
    """Signatures of the events a standalone YAML snippet makes (inside its one document)."""
    evts = parse_events(snippet)
    return [_sig(ev) for ev in evts[3:-3]]  # the pairs of its top mapping


def _dedent(block: str, indent: int) -> str:
    return "".join(line[indent:] if line[:indent].strip() == "" else line for line in block.splitlines(keepends=True))


def _shared(root) -> set[int]:
    """ids of the nodes reached more than once (an anchor's node, through its aliases)."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if node.__class__ is Mapping:
            for k, v in node.pairs:
                stack.append(k)
                stack.append(v)
        elif node.__class__ is Sequence:
            stack.extend(node.items)
    return shared


class _Events:
    """Where a node's events are in the stream (found on demand, then indexed)."""

    def __init__(self, events):
        self.events = _events_reader(events)  # read again when needed: never all held
        self._starts: dict[tuple[str, int], int] | None = None

    def index(self, node) -> int:
        # one pass per node asked for (a few per file), not an index of every event: a large
        # file's index would take hundreds of megabytes
        if self._starts is None:
            self._starts = {}
        want = (MappingStartEvent if node.__class__ is Mapping else ScalarEvent, node.start)
        if want not in self._starts:
            cls, start = want
            for i, ev in enumerate(self.events()):
                if ev.__class__ is cls and ev.start_mark.index == start:
                    self._starts[want] = i
                    break
            else:
                raise KeyError(want)
        return self._starts[want]

    def end_of(self, mapping) -> int:
        """Index of the ``MappingEndEvent`` that closes ``mapping``."""
        depth = 0
        start = self.index(mapping)
        for i, ev in enumerate(self.events()):
            if i < start:
                continue
            cls = ev.__class__
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                depth += 1
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                depth -= 1
                if depth == 0:
                    return i
        raise LookupError(mapping.start)


def plan_scalar(body: str, node: Scalar, value: str, file: str, replacements: list, expected_scalars: dict) -> None:
    """The replacement for one scalar edit (``node`` -> ``value``, in its quote style) and
    what its event must then hold, added to ``replacements`` and ``expected_scalars``;
    raises FileError (at the node) for a value that cannot be written safely."""
    try:
        rendered, style = render(node, value)
    except UnsafeValue as exc:
        raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
    if node.style in ("|", ">"):
        # a one-word block scalar: the word on its line is replaced; the header (and so
        # its chomping) and the line breaks after it are kept
        span = block_span(body, node)
        if span is None:
            raise FileError(
                file,
                f"block scalar {node.value!r} is not one word on one line: rewrite it by hand",
                node.line + 1,
                node.column + 1,
            )
        replacements.append((span[0], span[1], rendered))
        expected_scalars[node.start] = (value + node.tail, style)
        return
    replacements.append((content_start(body, node), node.end, rendered))
    expected_scalars[node.start] = (value, style)


def set_values(text: str, assignments: list[Assignment], file: str = "<values>", what: str = "chart overrides") -> str:
    """The text with every assignment made (see :class:`Assignment`); raises FileError (or
    :class:`Refused`) if it cannot, and the text is not to be used.  ``what`` names the edit
    in messages."""
    if not assignments:
        return text
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    try:
        events = parse_events(body)
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    return bom + edit(body, events, compose(events), [], assignments, file, what)


def edit(
    body: str,
    events: list,
    docs: list,
    scalar_edits: list[tuple[Scalar, str]],
    assignments: list[Assignment],
    file: str,
    what: str = "rewrite",
    prepared: tuple[list, dict] | None = None,
) -> str:
    """One combined plan on ``body`` (no BOM; ``events``/``docs`` its parse): scalars replaced
    in place (``scalar_edits``: node -> new value) and ``assignments`` made, in one splice,
    verified once: the new event stream must be the old one with exactly the new scalar
    values and the inserted keys' events.  ``prepared``: ``(replacements, expected scalars)``
    of scalar edits :func:`plan_scalar` made already (used up: the list is emptied)."""
    if prepared is None:
        replacements: list[tuple[int, int, str]] = []
        expected_scalars: dict[int, tuple[str, str]] = {}
    else:  # the scalar edits planned already (plan_scalar), taken over: a large file has many
        replacements, expected_scalars = prepared
    for node, value in scalar_edits:
        plan_scalar(body, node, value, file, replacements, expected_scalars)
    splices: list[tuple[int, int, list]] = []
    if assignments:
        if prepared is None:
            _plan(body, events, docs, assignments, file, what, replacements, expected_scalars, splices)
        else:  # (the prepared plan stays as it was if the assignments are refused)
            more: list[tuple[int, int, str]] = []
            more_expected: dict[int, tuple[str, str]] = {}
            _plan(body, events, docs, assignments, file, what, more, more_expected, splices)
            replacements.extend(more)
            expected_scalars.update(more_expected)
    new_body = apply_replacements(body, replacements)
    replacements.clear()  # (not held while both texts are parsed again: a large file has many)
    if new_body != body:
        verify_events(events, new_body, expected_scalars, splices, file, what)
    return new_body


def _plan(
    body: str,
    events: list,
    docs: list,
    assignments: list[Assignment],
    file: str,
    what: str,
    replacements: list,
    expected_scalars: dict,
    splices: list,
) -> None:
    """The replacements (and the event splices that verify them) for ``assignments``."""
    first = any(a.at == "first" for a in assignments)
    refuse = Refused if first else FileError
    root = docs[0] if docs else None
    if root is not None and isinstance(root, Scalar) and root.is_null:
        root = None
    if first and (not isinstance(root, Mapping) or root.flow):
        raise Refused(file, f"values file is not a block mapping: cannot add {what}")
    if root is not None and not isinstance(root, Mapping):
        raise FileError(file, f"values file is not a mapping: cannot add {what}")
    if len(docs) > 1:
        raise refuse(file, f"values file has several YAML documents: cannot add {what}")
    nl = newline_of(body)
    step = indent_step(root) if root is not None else 2
    shared = _shared(root) if root is not None else set()
    at_events = _Events(events)
    # id(mapping) -> (mapping, tree, comments, prefix, at, key of the mapping, inline comments, fill)
    inserts: dict[int, tuple] = {}
    for a in assignments:
        node, key_node, depth = root, None, 0
        while node is not None and depth < len(a.keypath):
            if not isinstance(node, Mapping):
                break
            if id(node) in shared:
                raise refuse(
                    file,
                    f"{'.'.join(map(str, a.keypath[:depth])) or 'the document'} is shared through an "
                    f"anchor: cannot add {what} to it",
                    node.line + 1,
                    node.column + 1,
                )
            pair = next(((k, v) for k, v in node.pairs if isinstance(k, Scalar) and k.value == a.keypath[depth]), None)
            if pair is None:
                if any(isinstance(k, Scalar) and k.value == a.keypath[depth] for k, _ in node.items()):
                    raise refuse(
                        file,
                        f"{'.'.join(map(str, a.keypath[: depth + 1]))} comes from a merge key (<<): cannot set it here",
                        node.line + 1,
                        node.column + 1,
                    )
                break
            (key_node, node), depth = pair, depth + 1
        where = ".".join(map(str, a.keypath[:depth]))
        if depth == len(a.keypath):
            if not isinstance(node, Scalar) or node.style in ("|", ">") or (a.at == "first" and node.props):
                raise refuse(
                    file,
                    f"{'.'.join(map(str, a.keypath))} is not a plain value: cannot set it",
                    getattr(node, "line", 0) + 1,
                    getattr(node, "column", 0) + 1,
                )
            if id(node) in shared:
                raise refuse(
                    file, f"{where} is shared through an anchor: cannot set it here", node.line + 1, node.column + 1
                )
            if isinstance(a.value, bool):
                rendered, value, style = render_value(a.value), render_value(a.value), ""
            else:
                try:
                    rendered, style = render(node, str(a.value))
                except UnsafeValue as exc:
                    raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
                value = str(a.value)
            if node.value != value or (node.style or "") != style:
                replacements.append((content_start(body, node), node.end, rendered))
                expected_scalars[node.start] = (value, style)
            continue
        fill = False  # an empty ``key:`` (null) that gets a block (at="first" only)
        if node is not None and not isinstance(node, Mapping):
            if a.at == "first" and isinstance(node, Scalar) and node.is_null and node.value == "" and not node.props:
                fill = True
            elif isinstance(node, Scalar) and node.is_null:
                raise refuse(
                    file,
                    f"{where} is empty (null): give it a mapping to hold the {what}",
                    node.line + 1,
                    node.column + 1,
                )
            else:
                raise refuse(
                    file, f"{where} is not a mapping: cannot add {what} under it", node.line + 1, node.column + 1
                )
        if a.at == "first" and isinstance(node, Mapping) and node.flow and depth:
            raise Refused(file, f"{where} is a flow mapping: cannot add {what} to it", node.line + 1, node.column + 1)
        key = id(node) if node is not None else 0
        entry = inserts.setdefault(key, (node, {}, {}, a.keypath[:depth], a.at, key_node if depth else None, {}, fill))
        rest = a.keypath[depth:]
        _tree_insert(entry[1], rest, a.value)
        if a.comment and a.inline:
            entry[6][rest] = a.comment
        elif a.comment:
            anchor = a.anchor[depth:] if len(a.anchor) > depth and a.anchor[:depth] == a.keypath[:depth] else rest[:1]
            anchor = anchor or rest[:1]
            entry[2].setdefault(tuple(anchor[: max(1, len(anchor))]), a.comment)
    blocks: list[tuple[int, int, str]] = []  # (offset, depth, text): deeper blocks at one offset go above
    for node, tree, comments, prefix, at, key_node, inline, fill in inserts.values():
        if node is None:  # an empty document: the block is all there is
            block = "".join(_block(tree, 0, step, nl, comments, (), inline))
            lead = "" if not body or body.endswith("\n") else nl
            blocks.append((len(body), 0, lead + block))
            scalar = next((i for i, ev in enumerate(_events_reader(events)()) if ev.__class__ is ScalarEvent), None)
            if scalar is not None:  # a null document: the mapping replaces it
                splices.append(
                    (
                        scalar,
                        1,
                        [
                            ("MappingStartEvent", None, "", None, None, False),
                            *_events_of(block),
                            ("MappingEndEvent", None, "", None, None, False),
                        ],
                    )
                )
            else:
                splices.append(
                    (
                        1,
                        0,
                        [
                            ("DocumentStartEvent", None, "", None, None, False),
                            ("MappingStartEvent", None, "", None, None, False),
                            *_events_of(block),
                            ("MappingEndEvent", None, "", None, None, False),
                            ("DocumentEndEvent", None, "", None, None, False),
                        ],
                    )
                )
            continue
        if fill:
            nxt = body.find("\n", key_node.end)
            if nxt == -1:
                raise Refused(
                    file, f"{'.'.join(map(str, prefix))} is empty on the last line: cannot add {what} under it"
                )
            indent = key_node.column + step
            block = "".join(_block(tree, indent, step, nl, comments, (), inline))
            blocks.append((nxt + 1, len(prefix), block))
            splices.append(
                (
                    at_events.index(node),
                    1,
                    [
                        ("MappingStartEvent", None, "", None, None, False),
                        *_events_of(_dedent(block, indent)),
                        ("MappingEndEvent", None, "", None, None, False),
                    ],
                )
            )
        elif at == "first" and node is root:  # a new top-level key: at the end of the document
            lead = "" if not body or body.endswith(("\n", "\r")) else nl
            block = "".join(_block(tree, root.column, step, nl, comments, (), inline))
            blocks.append((len(body), 0, lead + block))
            splices.append((at_events.end_of(root), 0, _events_of(_dedent(block, root.column))))
        elif at == "first":
            first_key = node.pairs[0][0]
            line_start = body.rfind("\n", 0, first_key.start) + 1
            if body[line_start : first_key.start].strip() or (
                key_node is not None and first_key.column <= key_node.column
            ):
                raise Refused(
                    file,
                    f"{'.'.join(map(str, prefix))} does not start on its own line: cannot add {what}",
                    first_key.line + 1,
                    first_key.column + 1,
                )
            block = "".join(_block(tree, first_key.column, step, nl, comments, (), inline))
            blocks.append((line_start, len(prefix), block))
            splices.append((at_events.index(node) + 1, 0, _events_of(_dedent(block, first_key.column))))
        elif node.flow:
            # right after the last entry (``{ a: 1, new: 2 }``), or inside an empty ``{}``
            at_ = node.pairs[-1][1].end if node.pairs else body.find("{", node.start) + 1
            sep = ", " if node.pairs else ""
            flow = _flow(tree)
            blocks.append((at_, len(prefix), sep + flow))
            splices.append((at_events.end_of(node), 0, _events_of("{" + flow + "}")))
            comment = next(iter(comments.values()), None)
            eol = body.find("\n", node.end - 1)
            eol = len(body) if eol == -1 else eol
            if comment and body[node.end : eol].strip() in ("", "\r"):
                end = eol - 1 if body[eol - 1 : eol] == "\r" else eol
                blocks.append((end, len(prefix), "  " + comment))
        else:
            at_ = _line_end(body, _last_scalar_end(node))
            at_ = _before_blank_lines(body, at_, node)
            lead = nl if at_ == len(body) and body and not body.endswith("\n") else ""
            block = "".join(_block(tree, node.column, step, nl, comments, (), inline))
            blocks.append((at_, len(prefix), lead + block))
            splices.append((at_events.end_of(node), 0, _events_of(_dedent(block, node.column))))
    # at one offset the deeper block (a subchart's mapping that ends where the file ends) stays
    # above the shallower one: apply_replacements puts the later of equal offsets first
    for offset, _depth, new in sorted(blocks, key=lambda b: (b[0], b[1])):
        replacements.append((offset, offset, new))
