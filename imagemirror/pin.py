"""Pin mirrored references to digests, byte-exactly, where each chart reads a digest; and revert.

Pure: text + resolved digests in, new text out (verified by re-parsing, as ``rewrite`` is).
Which form a pin takes, per reference:

| the reference                                   | pinned as                                      |
|-------------------------------------------------|------------------------------------------------|
| a map with its own ``digest:`` (or ``sha:``)    | that key's value (``sha``: the bare hex)        |
| a Bitnami map without one (common.images.image) | a ``digest:`` key inserted after ``tag:``       |
| any other map with a tag (``repository:tag``)   | ``tag: "<tag>@sha256:..."``                     |
| a string (``image: host/x:1.2``)                | ``@sha256:...`` appended, the tag kept          |

Every line a pin touches ends with the marker ``# imagemirror: pinned`` (``(was:<text>)`` when
it replaced a value, ``<text>`` being the original bytes after the key's ``:``), so
:func:`revert_text` removes exactly the pins imagemirror wrote, and restores the bytes that were
there.  Only comments and the digest-bearing scalars change; a line that already carries a
marker keeps it (re-pinning after a tag moved keeps what revert restores).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import Settings
from .errors import FileError
from .inventory import classify_site
from .reference import InvalidReference, parse
from .rules import MIRRORED, UNMIRRORED
from .suppress import comment_start
from .walker import (
    Mapping,
    Scalar,
    Sequence,
    YAMLSyntaxError,
    compose,
    content_start,
    find_sites,
    gc_paused,
    parse_events,
)
from .yaml_edit import (
    Assignment,
    UnsafeValue,
    apply_replacements,
    render,
    set_values,
    verify_events,
)

MARK = "# imagemirror: pinned"
_MARK_AT_END = re.compile(
    r"(?P<sp> {1,2})# imagemirror: pinned(?: \((?:was:(?P<was>[^()\r\n]*)|(?P<added>added))\))?\Z"
)
ADDED = MARK + " (added)"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_WAS_OK = re.compile(r"[^()\r\n#]*\Z")
BITNAMI = ("bitnami/", "bitnamilegacy/")

#: forms (see the module doc)
DIGEST_KEY = "digest-key"
INSERT_DIGEST = "insert-digest"
INSERT_TAG = "insert-tag"


@dataclass(frozen=True)
class ChartImage:
    """What the chart says about one image map of a values file (``pin --effective``):
    ``written`` is the reference the release pulls (the tag may come from the chart's defaults),
    ``status`` its status, ``reads`` the chart's own digest key (``digest``/``sha``) or None
    when it composes ``repository:tag``, ``tag_key`` the key it reads the tag from."""

    written: str | None
    status: str = MIRRORED
    reads: str | None = "digest"
    tag_key: str = "tag"


TAG = "tag"
STRING = "string"


@dataclass(frozen=True)
class Candidate:
    """One mirrored reference that can be pinned: ``lookup`` (``host/path:tag``) is what to
    resolve; ``current`` the digest it names now (None: not pinned)."""

    file: str
    line: int
    column: int
    path: str
    written: str
    lookup: str | None
    current: str | None
    form: str | None
    skip: str | None = None  # why it cannot be pinned (then ``lookup``/``form`` may be None)


@dataclass
class Pinned:
    candidate: Candidate
    digest: str
    before: str | None  # the digest it named before (None: it was not pinned)


@dataclass
class PinResult:
    text: str
    changed: bool
    candidates: list[Candidate] = field(default_factory=list)
    pinned: list[Pinned] = field(default_factory=list)  # edits made (digest changed or added)
    unchanged: list[Candidate] = field(default_factory=list)  # already pinned to the digest
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _pairs(docs):
    """(mapping, key, value) of every mapping pair, each container visited once (aliases
    share nodes), depth first."""
    stack = list(docs)
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Mapping):
            for k, v in node.pairs:
                yield node, k, v
                if not isinstance(v, Scalar):
                    stack.append(v)
        elif isinstance(node, Sequence):
            stack.extend(node.items)


def _parents(docs) -> dict[int, tuple[Mapping, Scalar]]:
    """id(value node) -> (the mapping holding it, its key), first place seen."""
    out: dict[int, tuple[Mapping, Scalar]] = {}
    for mapping, k, v in _pairs(docs):
        if isinstance(k, Scalar):
            out.setdefault(id(v), (mapping, k))
    return out


def _line_bounds(text: str, offset: int) -> tuple[int, int, int]:
    """(start of the line holding ``offset``, end of its content, start of the next line)."""
    start = text.rfind("\n", 0, offset) + 1
    nl = text.find("\n", offset)
    if nl == -1:
        return start, len(text), len(text)
    end = nl - 1 if nl > start and text[nl - 1] == "\r" else nl
    return start, end, nl + 1


def _comment_start(line: str) -> int | None:
    return comment_start(line)


def _marker_text(was: str | None) -> str:
    return MARK + (f" (was:{was})" if was is not None else "")


def _with_marker(line: str, mark: str) -> str:
    """``line`` (no line break) with the pin marker ``mark`` appended."""
    return line + (" " if _comment_start(line) is not None else "  ") + mark


def _marker(line: str):
    """The marker match at the end of ``line`` when it is a comment of ours, else None."""
    m = _MARK_AT_END.search(line)
    if m is None:
        return None
    start = _comment_start(line)
    if start is None or start > m.start("sp") + len(m.group("sp")):
        return None
    return m


def _colon_after(text: str, key: Scalar) -> int | None:
    i = key.end
    while i < len(text) and text[i] in " \t":
        i += 1
    return i if i < len(text) and text[i] == ":" else None


def _is_bitnami(upstream: str | None) -> bool:
    """Bitnami's images (Docker Hub, and the same names on other upstreams: public.ecr.aws/bitnami)."""
    if not upstream:
        return False
    try:
        path = parse(upstream).path
    except InvalidReference:
        return False
    return path.startswith(BITNAMI)


def _use_digest_false(mapping) -> bool:
    if not isinstance(mapping, Mapping):
        return False
    for k, v in mapping.pairs:
        if isinstance(k, Scalar) and k.value == "useDigest" and isinstance(v, Scalar) and v.style == "":
            return v.value in ("false", "False", "FALSE")
    return False


def _hex_only(node: Scalar) -> bool:
    return not node.value.startswith("sha256:")


# --------------------------------------------------------------------------- candidates


class _Scan:
    def __init__(self, body: str, file: str, settings: Settings, chart: dict):
        self.body = body
        self.events = parse_events(body)
        self.docs = compose(self.events)
        self.parents = _parents(self.docs)
        self.items: list[tuple[Candidate, object]] = []
        rules = settings.ruleset
        for site in find_sites(self.docs):
            status, upstream, _target, _hint, _edits = classify_site(site, rules, False)
            main = site.main.node
            line, column = main.line + 1, main.column + 1
            written = site.written()
            hint: ChartImage | None = chart.get(site.path)
            if hint is not None and hint.written is not None:
                status, written = hint.status, hint.written

            def make(lookup=None, current=None, form=None, skip=None, _at=(line, column, site.path, written)):
                return Candidate(file, *_at, lookup, current, form, skip)

            if status != MIRRORED:
                if status == UNMIRRORED:
                    self.items.append((make(skip="not on the cache yet: run `imagemirror rewrite` first"), None))
                continue
            try:
                ref = parse(written)
            except InvalidReference:
                continue
            if ref.tag is None:
                why = "pinned by digest only" if ref.digest else "no tag to resolve"
                self.items.append((make(skip=why), None))
                continue
            lookup = f"{ref.name}:{ref.tag}"
            upstream_text = upstream.qualified() if upstream is not None else None
            if site.kind == "string":
                self.items.append((make(lookup, ref.digest, STRING), (site, main, None)))
                continue
            mapping = self.parents.get(id(main), (None, None))[0]
            if _use_digest_false(mapping) and site.tag is not None:
                # Cilium's maps: with `useDigest: false` the chart ignores `digest` and composes
                # repository:tag, so the pin goes in the tag (with true it would read both)
                self.items.append(
                    (make(lookup, ref.digest if "@" in site.tag.node.value else None, TAG), (site, site.tag.node, None))
                )
                continue
            if site.digest is not None:
                self.items.append((make(lookup, ref.digest, DIGEST_KEY), (site, site.digest.node, None)))
                continue
            null_digest = None
            if isinstance(mapping, Mapping):
                for k, v in mapping.pairs:
                    if (
                        isinstance(k, Scalar)
                        and k.value in ("digest", "sha")
                        and isinstance(v, Scalar)
                        and (v.is_null or (v.value == "" and v.style in ("'", '"')))
                    ):
                        null_digest = v
            if null_digest is not None:
                self.items.append((make(lookup, ref.digest, DIGEST_KEY), (site, null_digest, None)))
                continue
            if site.tag is not None and "@" in site.tag.node.value:
                self.items.append((make(lookup, ref.digest, TAG), (site, site.tag.node, None)))
                continue
            reads = hint.reads if hint is not None else ("digest" if _is_bitnami(upstream_text) else None)
            anchor = site.tag.node if site.tag is not None else main
            if reads in ("digest", "sha"):
                self.items.append((make(lookup, ref.digest, INSERT_DIGEST), (site, anchor, (reads, None))))
            elif site.tag is not None:
                self.items.append((make(lookup, ref.digest, TAG), (site, site.tag.node, None)))
            elif hint is not None:
                self.items.append((make(lookup, ref.digest, INSERT_TAG), (site, main, (hint.tag_key, ref.tag))))
            else:
                self.items.append((make(skip="no tag key to pin"), None))

    @property
    def candidates(self) -> list[Candidate]:
        return [c for c, _ in self.items]


def _chart(digest_keys, chart) -> dict:
    out = {path: ChartImage(None) for path in digest_keys}
    out.update(chart or {})
    return out


def _load(text: str, file: str, settings: Settings, chart: dict) -> tuple[str, str, _Scan]:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    try:
        return bom, body, _Scan(body, file, settings, chart)
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None


def pin_candidates(text: str, file: str, settings: Settings, digest_keys=(), chart=None) -> list[Candidate]:
    """The references of ``text`` that ``pin`` would resolve (and those it cannot, with why).

    ``digest_keys``: image paths whose chart is known to read a ``digest`` key; ``chart``: image
    path -> :class:`ChartImage`, from the chart (``--effective``)."""
    with gc_paused():
        return _load(text, file, settings, _chart(digest_keys, chart))[2].candidates


# --------------------------------------------------------------------------- pin


def pin_text(
    text: str, file: str, settings: Settings, digests: dict[str, str], digest_keys=(), chart=None
) -> PinResult:
    """Pin every candidate whose ``lookup`` is in ``digests`` (``host/path:tag`` -> digest).

    Raises :class:`FileError` for invalid YAML and when the result would not verify."""
    with gc_paused():
        return _pin_text(text, file, settings, digests, _chart(digest_keys, chart))


def _pin_text(text, file, settings, digests, chart) -> PinResult:
    bom, body, scan = _load(text, file, settings, chart)
    result = PinResult(text, False, scan.candidates)
    edits: dict[int, tuple[Scalar, str, Candidate]] = {}  # id(node) -> (node, new value, candidate)
    inserts: dict[int, tuple] = {}  # id(anchor) -> (anchor, key, value, digest, candidate, name node)
    for cand, hold in scan.items:
        if cand.skip or cand.lookup not in digests:
            continue
        digest = digests[cand.lookup]
        if not _DIGEST.match(digest or ""):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        site, node, extra = hold
        if cand.current == digest:
            result.unchanged.append(cand)
            continue
        if cand.form == STRING or cand.form == TAG:
            value = node.value.split("@", 1)[0] + "@" + digest
        elif cand.form == DIGEST_KEY:
            key = scan.parents.get(id(node), (None, None))[1]
            hexa = key is not None and key.value == "sha" and (node.is_null or _hex_only(node))
            value = digest[len("sha256:") :] if hexa else digest
        else:  # INSERT_DIGEST, INSERT_TAG: a key added after the anchor's line
            key_name, tag = extra
            if cand.form == INSERT_TAG:
                value = f"{tag}@{digest}"
            else:
                value = digest[len("sha256:") :] if key_name == "sha" else digest
            prior = inserts.get(id(node))
            if prior is not None and prior[2] != value:
                result.notes.append(
                    f"{file}:{cand.line}:{cand.column}: shares a scalar with another image "
                    "that resolves to another digest; not pinned"
                )
                inserts.pop(id(node))
                continue
            inserts[id(node)] = (node, key_name, value, digest, cand, site.main.node)
            continue
        prior = edits.get(id(node))
        if prior is not None and prior[1] != value:
            result.notes.append(
                f"{file}:{cand.line}:{cand.column}: shares a scalar (an anchor) with another "
                "image that resolves to another digest; not pinned"
            )
            edits.pop(id(node))
            continue
        edits[id(node)] = (node, value, cand)

    replacements: list[tuple[int, int, str]] = []
    expected_scalars: dict[int, tuple[str, str]] = {}
    marked_lines: dict[int, str] = {}  # line start -> the marker to append
    skip_lines: set[int] = set()

    def mark(at: int, text: str, cand: Candidate) -> bool:
        start, _end, _next = _line_bounds(body, at)
        if start in marked_lines or start in skip_lines:
            result.notes.append(f"{file}:{cand.line}:{cand.column}: another pin is on this line; pin it by hand")
            return False
        marked_lines[start] = text
        return True

    for node, value, cand in edits.values():
        start, end, _ = _line_bounds(body, node.start)
        if _line_bounds(body, max(node.start, node.end - 1))[0] != start:
            result.notes.append(f"{file}:{cand.line}:{cand.column}: the value spans lines; pin it by hand")
            continue
        line = body[start:end]
        was = None
        holder = scan.parents.get(id(node))
        colon = _colon_after(body, holder[1]) if holder else None
        empty = node.is_null and node.value == "" and not node.props
        if empty and colon is None:
            result.notes.append(f"{file}:{cand.line}:{cand.column}: cannot find the key's ':'; pin it by hand")
            continue
        try:
            rendered, style = render(node, value)
        except UnsafeValue as exc:
            raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
        # revert restores what a plain marker cannot tell: a replaced digest, a changed quote style
        if _marker(line) is None and (cand.current is not None or cand.form == DIGEST_KEY or style != node.style):
            was = "" if empty else (body[colon + 1 : node.end] if colon is not None else None)
            if was is None or not _WAS_OK.match(was):
                result.notes.append(
                    f"{file}:{cand.line}:{cand.column}: cannot record the value it replaces; pin it by hand"
                )
                continue
        if empty:
            replacements.append((colon + 1, colon + 1, " " + rendered))
        else:
            replacements.append((content_start(body, node), node.end, rendered))
        if _marker(line) is None:
            if not mark(node.start, _marker_text(was), cand):
                replacements.pop()
                continue
        else:
            skip_lines.add(start)
        expected_scalars[node.start] = (value, style)
        result.pinned.append(Pinned(cand, digest_of(value, cand), cand.current))

    # keys to add go through the YAML edit engine (after the scalars and their markers): flow
    # maps first (``, key: value``, no line added, so the marker's line stays), then block maps
    # (one line after the map's last entry, the marker as its inline comment)
    added: list[tuple[Assignment, bool, int, Pinned]] = []  # (assignment, flow, 0-based line, pin)
    for node, key_name, value, digest, cand, main in inserts.values():
        holder = scan.parents.get(id(node))
        mapping = holder[0] if holder else None
        keypath = _keypath(scan, mapping) if mapping is not None else None
        if mapping is None or keypath is None or scan.parents.get(id(main), (None,))[0] is not mapping:
            result.notes.append(
                f"{file}:{cand.line}:{cand.column}: the image map is in a list, under an anchor "
                f"or a merge key; add `{key_name}: {value}` by hand"
            )
            continue
        if any(isinstance(k, Scalar) and k.value == key_name for k, _v in mapping.pairs):
            result.notes.append(
                f"{file}:{cand.line}:{cand.column}: {key_name} is already set (not a scalar); left as is"
            )
            continue
        line_no = mapping.line
        if mapping.flow:
            one_line = (
                _line_bounds(body, mapping.start)[0] == _line_bounds(body, max(mapping.start, mapping.end - 1))[0]
            )
            if not one_line or _line_bounds(body, mapping.start)[0] in marked_lines:
                result.notes.append(
                    f"{file}:{cand.line}:{cand.column}: a flow mapping over several lines, or with "
                    f"another pin; add `{key_name}: {value}` by hand"
                )
                continue
        assignment = Assignment(
            keypath + (key_name,), value, comment=None if mapping.flow else ADDED, inline=not mapping.flow
        )
        added.append((assignment, mapping.flow, line_no, Pinned(cand, digest, cand.current)))

    markers = []  # first: at one offset (an empty value at the line's end) the value goes before
    for start, mark_text in marked_lines.items():
        _s, end, _n = _line_bounds(body, start)
        line = body[start:end]
        markers.append((end, end, _with_marker(line, mark_text)[len(line) :]))
    replacements = markers + replacements

    new_body = body
    if replacements:
        new_body = apply_replacements(body, replacements)
        verify_events(scan.events, new_body, expected_scalars, None, file, "pin")
    for flow in (True, False):
        for assignment, is_flow, line_no, pinned in added:
            if is_flow is not flow:
                continue
            try:
                after = set_values(new_body, [assignment], file, "pins")
            except FileError as exc:  # Refused included: the engine says why
                c = pinned.candidate
                result.notes.append(
                    f"{file}:{c.line}:{c.column}: {exc.message}; add "
                    f"`{assignment.keypath[-1]}: {assignment.value}` by hand"
                )
                continue
            if flow:
                events = parse_events(after)
                start = _nth_line_start(after, line_no)
                _s, end, _n = _line_bounds(after, start)
                after = after[:end] + _with_marker(after[start:end], ADDED)[end - start :] + after[end:]
                verify_events(events, after, {}, None, file, "pin")
            elif new_body and not new_body.endswith("\n") and after.endswith("\n"):
                # the file had no final line break: the added line is the last and has none either,
                # so revert (which removes it with the break before it) restores the bytes
                after = after[: -2 if after.endswith("\r\n") else -1]
            new_body = after
            result.pinned.append(pinned)
    result.text = bom + new_body
    result.changed = new_body != body
    return result


def _keypath(scan: _Scan, mapping) -> tuple | None:
    """The keys from the document's top to ``mapping`` (None inside a list)."""
    keys: list = []
    node = mapping
    roots = {id(d) for d in scan.docs}
    while id(node) not in roots:
        holder = scan.parents.get(id(node))
        if holder is None:
            return None
        node, key = holder
        keys.append(key.value)
    return tuple(reversed(keys))


def _nth_line_start(text: str, n: int) -> int:
    at = 0
    for _ in range(n):
        at = text.index("\n", at) + 1
    return at


def digest_of(value: str, cand: Candidate) -> str:
    if "@" in value:
        return value.rsplit("@", 1)[1]
    return value if value.startswith("sha256:") else "sha256:" + value


# --------------------------------------------------------------------------- revert


@dataclass
class RevertResult:
    text: str
    changed: bool
    reverted: list[tuple[int, str]] = field(default_factory=list)  # (1-based line, what)
    notes: list[str] = field(default_factory=list)


def revert_text(text: str, file: str) -> RevertResult:
    """Remove every pin ``pin`` wrote (the lines with its marker), restoring the bytes it replaced."""
    with gc_paused():
        return _revert_text(text, file)


def _revert_text(text: str, file: str) -> RevertResult:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    result = RevertResult(text, False)
    if "imagemirror: pinned" not in body:
        return result
    try:
        events = parse_events(body)
        docs = compose(events)
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    by_line: dict[int, list[tuple[Scalar, Scalar]]] = {}
    for nodes in _scalars(docs):
        key, value = nodes
        by_line.setdefault(value.line, []).append((key, value))
    index = {ev.start_mark.index: i for i, ev in enumerate(events) if ev.__class__.__name__ == "ScalarEvent"}
    replacements: list[tuple[int, int, str]] = []
    expected_scalars: dict[int, tuple[str, str]] = {}
    removed: set[int] = set()
    for number, start in enumerate(_line_starts(body)):
        _s, end, nxt = _line_bounds(body, start)
        line = body[start:end]
        m = _marker(line)
        if m is None:
            continue
        pairs = sorted(((k, v) for k, v in by_line.get(number, []) if v.end <= end), key=lambda kv: kv[1].start)
        was = m.group("was")
        if not pairs:
            result.notes.append(f"{file}:{number + 1}: a pin marker with no value on its line; left as is")
            continue
        key, value = pairs[-1]
        where = f"{file}:{number + 1}:{value.column + 1}"
        if m.group("added") is not None and body[start : key.start].strip() == "":
            # a line pin inserted: remove it whole (only the key, its value and the marker are on it)
            if body[value.end : start + m.start()].strip():
                result.notes.append(f"{where}: the pinned line holds more than the digest; left as is")
                continue
            cut = start
            if end == len(body) and start > 0:  # the file's last line, no line break: pin added the one before
                cut = start - (2 if body[start - 2 : start] == "\r\n" else 1)
            replacements.append((cut, nxt, ""))
            removed.update((index[key.start], index[value.start]))
            result.reverted.append((number + 1, f"removed {key.value}: {value.value}"))
            continue
        if m.group("added") is not None:
            # a pair pin appended to a flow mapping: ``, key: value`` goes, with the marker
            comma = body.rfind(",", start, key.start)
            if comma == -1 or body[comma + 1 : key.start].strip():
                result.notes.append(f"{where}: cannot find the pair pin added; left as is")
                continue
            replacements.append((comma, value.end, ""))
            removed.update((index[key.start], index[value.start]))
            result.reverted.append((number + 1, f"removed {key.value}: {value.value}"))
        elif was is not None:
            colon = _colon_after(body, key)
            if colon is None:
                result.notes.append(f"{where}: cannot find the key's ':'; left as is")
                continue
            replacements.append((colon + 1, value.end, was))
            restored = _scalar_of(was)
            if restored is None:
                result.notes.append(f"{where}: the recorded value {was!r} is not a scalar; left as is")
                replacements.pop()
                continue
            expected_scalars[value.start] = restored
            result.reverted.append((number + 1, f"restored{was}"))
        else:
            if "@" not in value.value:
                result.notes.append(f"{where}: no digest on the pinned line; left as is")
                continue
            plain = value.value.rsplit("@", 1)[0]
            try:
                rendered, style = render(value, plain)
            except UnsafeValue:
                result.notes.append(f"{where}: cannot write {plain!r} back; left as is")
                continue
            replacements.append((content_start(body, value), value.end, rendered))
            expected_scalars[value.start] = (plain, style)
            result.reverted.append((number + 1, f"unpinned {plain}"))
        ours = 1 if _comment_start(line[: m.start()]) is not None else 2
        ours = min(ours, len(m.group("sp")))
        replacements.append((start + m.start() + len(m.group("sp")) - ours, end, ""))
    if not replacements:
        return result
    new_body = apply_replacements(body, replacements)
    expected = [ev for i, ev in enumerate(events) if i not in removed]
    verify_events(expected, new_body, expected_scalars, None, file, "pin revert")
    result.text = bom + new_body
    result.changed = new_body != body
    return result


def _line_starts(text: str):
    yield 0
    i = text.find("\n")
    while i != -1 and i + 1 <= len(text):
        if i + 1 < len(text):
            yield i + 1
        i = text.find("\n", i + 1)


def _scalars(docs):
    """(key, value) for every mapping pair whose key and value are scalars, each container once."""
    for _mapping, k, v in _pairs(docs):
        if isinstance(v, Scalar) and isinstance(k, Scalar):
            yield k, v


def _scalar_of(source: str) -> tuple[str, str] | None:
    """(value, style) of a scalar written as ``source`` after a ``key:``."""
    try:
        evs = parse_events("k:" + source + "\n")
    except YAMLSyntaxError:
        return None
    scalars = [e for e in evs if e.__class__.__name__ == "ScalarEvent"]
    if len(scalars) != 2:
        return None
    return scalars[1].value, scalars[1].style or ""
