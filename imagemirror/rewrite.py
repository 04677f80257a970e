"""Planned edits -> new text, byte-exact, verified by re-parsing.  Pure (text in, text out).

Only the scalars that must change are replaced, each in its own quote style, back to
front; every other character stays.  The result is parsed again and its event stream
must equal the original's except for the edited scalar values (and the one block this
module may insert: ``global.security.allowInsecureImages: true`` for relocated Bitnami
images).  Anything else is a bug, reported, and the text is not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from .config import Settings
from .errors import FileError
from .inventory import analyse
from .model import FileResult
from .rules import is_bitnami
from .walker import LineIndex, Mapping, Scalar, YAMLSyntaxError, content_start, gc_paused, parse_events

# What a reference or registry may contain; anything else would change the YAML around it.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+\-\[\]]*\Z")
_PLAIN_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+\-]*\Z")
# plain scalars that YAML (1.1 or 1.2) would not read back as a string
NOT_A_STRING = re.compile(
    r"(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o?[0-7_]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~)\Z"
)
ALLOW_INSECURE_COMMENT = "# imagemirror: Bitnami charts refuse relocated images without this"


class UnsafeValue(ValueError):
    pass


@dataclass
class Rewritten:
    text: str
    result: FileResult
    changed: bool
    notes: list[str] = field(default_factory=list)


def render(node: Scalar, value: str) -> tuple[str, str]:
    """The scalar text for ``value`` in ``node``'s quote style -> (text, style)."""
    if not _SAFE_VALUE.match(value) or "{{" in value:
        raise UnsafeValue(f"refusing to write {value!r}: not a plain image reference")
    if node.style == "'":
        return f"'{value}'", "'"
    if node.style == '"':
        return f'"{value}"', '"'
    if _PLAIN_OK.match(value) and not NOT_A_STRING.match(value) and not value.endswith(":") and not (node.inflow and ":" in value):
        return value, ""
    return f'"{value}"', '"'


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


def rewrite_text(text: str, file: str, settings: Settings, revert: bool = False) -> Rewritten:
    """Rewrite ``text`` (a BOM is kept) -> :class:`Rewritten`.

    Raises :class:`FileError` for invalid YAML (with line and column) and when the
    result would not verify (the caller leaves the file untouched).
    """
    with gc_paused():  # the events and nodes of both parses live until the end
        return _rewrite_text(text, file, settings, revert)


def _rewrite_text(text: str, file: str, settings: Settings, revert: bool) -> Rewritten:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    try:
        analysis = analyse(body, file, settings, revert)
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    result = FileResult(file, refs=analysis.refs, notes=list(analysis.notes))
    insecure = not revert and _needs_insecure(analysis.refs)
    if not analysis.edits and not insecure:
        return Rewritten(text, result, False)
    replacements: list[tuple[int, int, str]] = []
    expected_scalars: dict[int, tuple[str, str]] = {}
    for node, value in analysis.edits.values():
        try:
            rendered, style = render(node, value)
        except UnsafeValue as exc:
            raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
        replacements.append((content_start(body, node), node.end, rendered))
        expected_scalars[node.start] = (value, style)
    splice = None
    if insecure:
        splice = _allow_insecure(analysis, body, replacements, expected_scalars, result)
    new_body = _apply(body, replacements)
    if new_body == body:
        return Rewritten(text, result, False)
    _verify(analysis.events, new_body, expected_scalars, splice, file)
    return Rewritten(bom + new_body, result, True)


def allow_insecure(text: str, file: str, settings: Settings) -> tuple[str, list[str]]:
    """The core's Bitnami rule alone, on a text another source's edits produced
    (``rewrite --effective``): when the text pulls relocated Bitnami images, make sure
    ``global.security.allowInsecureImages`` is true -> (new text, notes), verified."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    with gc_paused():
        try:
            analysis = analyse(body, file, settings)
        except YAMLSyntaxError as exc:
            raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
        result = FileResult(file, refs=analysis.refs)
        if not _needs_insecure(analysis.refs):
            return text, []
        replacements: list[tuple[int, int, str]] = []
        expected_scalars: dict[int, tuple[str, str]] = {}
        splice = _allow_insecure(analysis, body, replacements, expected_scalars, result)
        new_body = _apply(body, replacements)
        if new_body != body:
            _verify(analysis.events, new_body, expected_scalars, splice, file)
    return bom + new_body, result.notes


def _needs_insecure(refs) -> bool:
    return any(r.upstream and (r.status == "mirrored" or r.target) and is_bitnami(r.upstream) for r in refs)


def _apply(text: str, replacements: list[tuple[int, int, str]]) -> str:
    """Splice the replacements into ``text`` in one pass (linear in the text, however
    many edits: a 50 MB file has hundreds of thousands).  Insertions at one offset land
    in reverse order of ``replacements``, as when applied one by one from the end."""
    ordered = sorted(replacements, key=lambda r: (r[0], r[1]), reverse=True)
    ordered.reverse()
    parts = []
    pos = 0
    for start, end, new in ordered:
        if start < pos:
            raise AssertionError("overlapping edits")
        parts.append(text[pos:start])
        parts.append(new)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _verify(old_events, new_body: str, expected_scalars, splice, file: str) -> None:
    """Re-parse ``new_body``: its events must be the old ones, the edited scalars holding
    their intended values.  The new events are compared as the C parser makes them, never
    all held at once (a 50 MB file's events take gigabytes)."""

    def fail(why: str):
        raise FileError(file, f"rewrite did not verify ({why}); file left untouched -- please report this")

    expected: list = list(old_events)  # old events, or signatures where the splice inserts
    if splice is not None:
        index, remove, inserted = splice
        expected[index : index + remove] = inserted
    from ruamel.yaml.cyaml import CParser
    from ruamel.yaml.error import YAMLError

    parser = CParser(new_body)
    try:
        count, mismatch = _compare(expected, parser.get_event, expected_scalars)
    except YAMLError:
        # libyaml refused the result: parse_events decides (the pure parser, or the error)
        try:
            new_events = parse_events(new_body)
        except YAMLSyntaxError as exc:
            fail(f"result is not valid YAML: {exc.message}")
        count, mismatch = _compare(expected, iter(new_events + [None]).__next__, expected_scalars)
    finally:
        parser.dispose()
    if count != len(expected):
        fail("a different number of YAML events")
    if mismatch is not None:
        i, want, got = mismatch
        want_sig = want if want.__class__ is tuple else _expected_sig(want, expected_scalars)
        fail(f"event {i}: expected {want_sig[:3]}, got {_sig(got)[:3]}")


def _compare(expected: list, next_event, expected_scalars) -> tuple:
    """Read every event from ``next_event()`` (None ends) -> (how many, first mismatch or None)."""
    n = len(expected)
    i = 0
    mismatch = None
    while True:
        got = next_event()
        if got is None:
            return i, mismatch
        if mismatch is None and i < n and not _same(expected[i], got, expected_scalars):
            mismatch = (i, expected[i], got)
        i += 1


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


# --------------------------------------------------------------------------- bitnami


def _allow_insecure(analysis, body: str, replacements, expected_scalars, result: FileResult):
    """Make sure ``global.security.allowInsecureImages`` is true; -> event splice or None."""
    file = result.file
    eol = "\r\n" if "\r\n" in body else "\n"
    docs = analysis.docs
    root = docs[0] if docs else None
    manual = (
        f"{file}: Bitnami images were relocated: set global.security.allowInsecureImages: true "
        "by hand (the file's shape does not allow a safe automatic edit)"
    )
    if not isinstance(root, Mapping) or root.flow or len(docs) != 1:
        result.notes.append(manual)
        return None
    events = analysis.events
    lines = LineIndex(body)
    step = _indent_step(root)

    def event_index(cls: str, start: int) -> int:
        for i, ev in enumerate(events):
            if ev.__class__.__name__ == cls and ev.start_mark.index == start:
                return i
        raise LookupError(start)

    line_true = f"allowInsecureImages: true  {ALLOW_INSECURE_COMMENT}"
    pairs = {k.value: (k, v) for k, v in root.pairs if isinstance(k, Scalar)}
    if "global" not in pairs:
        base = " " * root.column
        prefix = "" if body.endswith(("\n", "\r")) or not body else eol
        block = (
            f"{prefix}{base}global:{eol}{base}{' ' * step}security:{eol}"
            f"{base}{' ' * 2 * step}{line_true}{eol}"
        )
        replacements.append((len(body), len(body), block))
        end = max(i for i, ev in enumerate(events) if ev.__class__.__name__ == "MappingEndEvent")
        inserted = [_scalar_sig("global"), _MAP_START, _scalar_sig("security"), _MAP_START,
                    _scalar_sig("allowInsecureImages"), _scalar_sig("true"), _MAP_END, _MAP_END]
        result.notes.append(f"{file}: added global.security.allowInsecureImages: true (Bitnami images relocated)")
        return (end, 0, inserted)
    gkey, glob = pairs["global"]
    if isinstance(glob, Scalar) and glob.is_null and glob.value == "" and not glob.props:
        line_end = lines.starts[gkey.line + 1] if gkey.line + 1 < len(lines.starts) else None
        if line_end is None:
            result.notes.append(manual)
            return None
        indent = " " * (gkey.column + step)
        block = f"{indent}security:{eol}{indent}{' ' * step}{line_true}{eol}"
        replacements.append((line_end, line_end, block))
        idx = event_index("ScalarEvent", glob.start)
        inserted = [_MAP_START, _scalar_sig("security"), _MAP_START, _scalar_sig("allowInsecureImages"),
                    _scalar_sig("true"), _MAP_END, _MAP_END]
        result.notes.append(f"{file}: added global.security.allowInsecureImages: true (Bitnami images relocated)")
        return (idx, 1, inserted)
    if not isinstance(glob, Mapping) or glob.flow or not glob.pairs:
        result.notes.append(manual)
        return None
    gpairs = {k.value: (k, v) for k, v in glob.pairs if isinstance(k, Scalar)}
    if "security" not in gpairs:
        first_key = glob.pairs[0][0]
        at = lines.starts[first_key.line]
        indent = " " * first_key.column
        if body[at : at + first_key.column].strip() or first_key.column <= gkey.column:
            result.notes.append(manual)
            return None
        block = f"{indent}security:{eol}{indent}{' ' * step}{line_true}{eol}"
        replacements.append((at, at, block))
        idx = event_index("MappingStartEvent", glob.start)
        inserted = [_scalar_sig("security"), _MAP_START, _scalar_sig("allowInsecureImages"), _scalar_sig("true"), _MAP_END]
        result.notes.append(f"{file}: added global.security.allowInsecureImages: true (Bitnami images relocated)")
        return (idx + 1, 0, inserted)
    skey, security = gpairs["security"]
    if isinstance(security, Mapping) and not security.flow and security.pairs:
        spairs = {k.value: (k, v) for k, v in security.pairs if isinstance(k, Scalar)}
        if "allowInsecureImages" in spairs:
            _, flag = spairs["allowInsecureImages"]
            if isinstance(flag, Scalar) and flag.value in ("true", "True", "TRUE") and flag.style == "":
                return None
            if isinstance(flag, Scalar) and flag.style in ("", "'", '"') and not flag.props:
                replacements.append((flag.start, flag.end, "true"))
                expected_scalars[flag.start] = ("true", "")
                result.notes.append(f"{file}: set global.security.allowInsecureImages: true (Bitnami images relocated)")
                return None
            result.notes.append(manual)
            return None
        first_key = security.pairs[0][0]
        at = lines.starts[first_key.line]
        if body[at : at + first_key.column].strip() or first_key.column <= skey.column:
            result.notes.append(manual)
            return None
        replacements.append((at, at, f"{' ' * first_key.column}{line_true}{eol}"))
        idx = event_index("MappingStartEvent", security.start)
        result.notes.append(f"{file}: added global.security.allowInsecureImages: true (Bitnami images relocated)")
        return (idx + 1, 0, [_scalar_sig("allowInsecureImages"), _scalar_sig("true")])
    result.notes.append(manual)
    return None


def _indent_step(root: Mapping) -> int:
    """The file's indentation step, from its first top-level block mapping (default 2)."""
    for key, value in root.pairs:
        if isinstance(value, Mapping) and not value.flow and value.pairs and isinstance(key, Scalar):
            first = value.pairs[0][0]
            if first.line > key.line and first.column > key.column:
                return first.column - key.column
    return 2
