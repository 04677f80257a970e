"""Planned edits -> new text, byte-exact, verified by re-parsing.  Pure (text in, text out).

Only the scalars that must change are replaced, each in its own quote style, in one splice;
every other character stays.  The result is parsed again and its event stream must equal
the original's except for the edited scalar values.  For relocated Bitnami images the one
key this module may add, ``global.security.allowInsecureImages: true``, is an
:class:`~imagemirror.yaml_edit.Assignment` through the same engine (data verified).  Anything
else is a bug, reported, and the text is not used.  The editing is :mod:`imagemirror.yaml_edit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Settings
from .errors import FileError
from .inventory import analyse
from .model import FileResult
from .rules import AMBIGUOUS, INVALID, MIRRORED, UNMIRRORED, is_bitnami
from .sources.kustomize import SourceError
from .sources.templates import mask
from .walker import Mapping, Scalar, YAMLSyntaxError, content_start, gc_paused
from .yaml_edit import Assignment, Refused, UnsafeValue, _scalar_sig, apply_replacements, edit, render, verify_events

__all__ = [
    "ALLOW_INSECURE",
    "ALLOW_INSECURE_COMMENT",
    "Rewritten",
    "UnsafeValue",
    "allow_insecure",
    "render",
    "rewrite_text",
    "skipped_line",
]

ALLOW_INSECURE = ("global", "security", "allowInsecureImages")
ALLOW_INSECURE_COMMENT = "# imagemirror: Bitnami charts refuse relocated images without this"
# the Bitnami flag: before the first key of its mapping (a new ``global`` at the end of the
# file), its comment on its line
FLAG = Assignment(ALLOW_INSECURE, True, ALLOW_INSECURE_COMMENT, at="first", inline=True)


@dataclass
class Rewritten:
    text: str
    result: FileResult
    changed: bool
    notes: list[str] = field(default_factory=list)
    unedited: int = 0  # references a rewrite would fix, left as written (not counted as edited)
    # ``rewrite_text(summary=True)`` on a large values file: what the command reports of its
    # references (``result.refs`` is then empty), see :class:`Tally`
    tally: Tally | None = None


def skipped_line(ref) -> str:
    """How ``rewrite`` lists a reference it left for review (ambiguous or invalid)."""
    return f"{ref.file}:{ref.line}:{ref.column}: {ref.status}: {ref.path} {ref.written!r}: {ref.hint}"


class Tally:
    """What ``rewrite`` says of a file's references, counted as they are made instead of
    keeping them (a large file has one per image): how many it edits, which it leaves for
    review, and what decides the Bitnami flag."""

    __slots__ = ("wanted", "edited", "unedited", "skipped", "bitnami_mirrored", "embedded_bitnami")

    def __init__(self, revert: bool):
        self.wanted = MIRRORED if revert else UNMIRRORED
        self.edited = 0  # references with the status a rewrite fixes and a target
        self.unedited = 0  # of those, left as written
        self.skipped: list[str] = []
        self.bitnami_mirrored = False  # a values file's Bitnami image already on the cache
        self.embedded_bitnami: set[str] = set()

    def add(self, r, kept: bool) -> None:
        if r.status == self.wanted and r.target:
            self.edited += 1
            if kept:
                self.unedited += 1
        if r.status in (AMBIGUOUS, INVALID):
            self.skipped.append(skipped_line(r))
        if r.upstream and r.status == MIRRORED and is_bitnami(r.upstream) and r.source is None:
            self.bitnami_mirrored = True
        if r.source is not None and r.target and r.upstream and is_bitnami(r.upstream) and ".helm.values" in r.path:
            self.embedded_bitnami.add(r.path.rsplit(".helm.values", 1)[0] + ".helm.values")


def rewrite_text(
    text: str, file: str, settings: Settings, revert: bool = False, raw: bytes | None = None, summary: bool = False
) -> Rewritten:
    """Rewrite ``text`` (a BOM is kept) -> :class:`Rewritten`.  ``raw``: the bytes ``text`` was
    strictly decoded from, when the caller has them (the re-parses read them, not a copy).
    ``summary``: a large values file's references are counted (:attr:`Rewritten.tally`), not kept.

    Raises :class:`FileError` for invalid YAML (with line and column) and when the
    result would not verify (the caller leaves the file untouched).
    """
    with gc_paused():  # the events and nodes of both parses live until the end
        return _rewrite_text(text, file, settings, revert, raw, summary)


def _rewrite_text(
    text: str, file: str, settings: Settings, revert: bool, raw: bytes | None, summary: bool
) -> Rewritten:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    try:
        tally = Tally(revert) if summary else None
        analysis = analyse(body, file, settings, revert, prepare=True, count=tally.add if tally else None)
    except SourceError as exc:
        raise FileError(file, exc.message, exc.line, exc.column) from None
    except YAMLSyntaxError as exc:
        raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
    if raw is not None and not bom and analysis.events is None and not analysis.pure and not analysis.masked:
        analysis.raw = raw
    result = FileResult(file, refs=analysis.refs, notes=list(analysis.notes))
    if not analysis.counted:
        tally = None
    # left as written although a rewrite would fix them (suppressed, or sharing a scalar)
    wanted = MIRRORED if revert else UNMIRRORED
    if tally is not None:
        unedited = tally.unedited
    else:
        unedited = sum(1 for r in analysis.unedited if r.status == wanted and r.target)
    # the flag when a Bitnami image moves here or is already on the cache (one left unmoved --
    # an anchor shared with a non-image key -- does not need it)
    insecure = not revert and (
        analysis.bitnami_relocated
        or (tally.bitnami_mirrored if tally is not None else False)
        or any(
            r.upstream and r.status == MIRRORED and is_bitnami(r.upstream) and r.source is None for r in analysis.refs
        )
    )
    if not revert:
        embedded_bitnami = sorted(
            {
                r.path.rsplit(".helm.values", 1)[0] + ".helm.values"
                for r in analysis.refs
                if r.source is not None
                and r.target
                and r.upstream
                and is_bitnami(r.upstream)
                and ".helm.values" in r.path
            }
            | (tally.embedded_bitnami if tally is not None else set())
        )
        for where in embedded_bitnami:
            result.notes.append(
                f"{file}: Bitnami images were relocated in {where}: set "
                "global.security.allowInsecureImages: true there by hand (Bitnami charts refuse them without it)"
            )
    if not analysis.edits and not analysis.prepared and not insecure and not analysis.inserts:
        return Rewritten(text, result, False, unedited=unedited, tally=tally)
    scalar_edits = list(analysis.edits.values())
    if analysis.inserts or analysis.embedded or analysis.masked:
        if insecure and _flag_state(analysis.docs) != "true":
            result.notes.append(
                f"{file}: Bitnami images were relocated: set global.security.allowInsecureImages: true "
                "by hand (a templated file: no automatic edit)"
            )
        new_body = _edit_sources(body, analysis, scalar_edits, file)
    else:
        new_body = _edit(
            body, analysis.old_events, analysis.docs, scalar_edits, insecure, file, result.notes, analysis.prepared
        )
        analysis.prepared = None
    if new_body == body:
        return Rewritten(text, result, False, unedited=unedited, tally=tally)
    return Rewritten(bom + new_body, result, True, unedited=unedited, tally=tally)


def _edit_sources(body: str, analysis, scalar_edits: list, file: str) -> str:
    """The edits of the sources beyond values files (:mod:`imagemirror.sources`), in one splice,
    verified once: scalars in place (those inside a string holding YAML too, see
    :func:`_embedded`), ``key: value`` pairs inserted after a scalar (kustomize ``newName``),
    and -- for a Go template -- the result verified masked, as it was parsed."""
    replacements: list[tuple[int, int, str]] = []
    expected_scalars: dict[int, tuple[str, str]] = {}
    for node, value in scalar_edits:
        try:
            rendered, style = render(node, value)
        except UnsafeValue as exc:
            raise FileError(file, str(exc), node.line + 1, node.column + 1) from None
        replacements.append((content_start(body, node), node.end, rendered))
        expected_scalars[node.start] = (value, style)
    if analysis.embedded:
        _embedded(analysis, expected_scalars, file)
    splices = _inserts(analysis, body, replacements, file) if analysis.inserts else []
    new_body = apply_replacements(body, replacements)
    if new_body != body:
        verify_events(
            analysis.old_events, mask(new_body)[0] if analysis.masked else new_body, expected_scalars, splices, file
        )
    return new_body


def _embedded(analysis, expected_scalars, file: str) -> None:
    """Edits inside strings holding YAML (:mod:`imagemirror.sources.embedded`): the string's
    new value is verified on its own, then expected as the value of the outer scalar."""
    for emb in analysis.embedded:
        inner_repl = []
        inner_expected: dict[int, tuple[str, str]] = {}
        for node, value in analysis.edits.values():
            inner = emb.proxies.get(id(node))
            if inner is None:
                continue
            rendered, style = render(node, value)
            inner_repl.append((content_start(emb.text, inner), inner.end, rendered))
            inner_expected[inner.start] = (value, style)
            expected_scalars.pop(node.start, None)
        if not inner_repl:
            continue
        new_inner = apply_replacements(emb.text, inner_repl)
        verify_events(emb.events, mask(new_inner)[0] if emb.spans else new_inner, inner_expected, None, file)
        expected_scalars[emb.block.start] = (new_inner, emb.block.style)


def _inserts(analysis, body: str, replacements, file: str) -> list:
    """``key: value`` pairs added right after a scalar (:class:`imagemirror.sources.kustomize.Insert`)
    -> the event splices that verify them."""
    from ruamel.yaml.events import ScalarEvent

    eol = "\r\n" if "\r\n" in body else "\n"
    index = {ev.start_mark.index: i for i, ev in enumerate(analysis.old_events()) if ev.__class__ is ScalarEvent}
    splices = []
    for ins in analysis.inserts:
        probe = Scalar(ins.value, "", 0, 0, False, 0, 0)
        probe.inflow = ins.flow
        try:
            rendered, style = render(probe, ins.value)
        except UnsafeValue as exc:
            raise FileError(file, str(exc), ins.after.line + 1, ins.after.column + 1) from None
        if ins.flow:
            replacements.append((ins.after.end, ins.after.end, f", {ins.key}: {rendered}"))
        else:
            at = body.find("\n", ins.after.end)
            if at < 0:
                replacements.append((len(body), len(body), f"{eol}{' ' * ins.column}{ins.key}: {rendered}"))
            else:
                replacements.append((at + 1, at + 1, f"{' ' * ins.column}{ins.key}: {rendered}{eol}"))
        i = index.get(ins.after.start)
        if i is None:
            raise FileError(
                file, "rewrite did not verify (no event for an insertion); file left untouched -- please report this"
            )
        splices.append((i + 1, 0, [_scalar_sig(ins.key), _scalar_sig(ins.value, style)]))
    return splices


def allow_insecure(text: str, file: str, settings: Settings) -> tuple[str, list[str]]:
    """The core's Bitnami rule alone, on a text another source's edits produced
    (``rewrite --effective``): when the text pulls relocated Bitnami images, make sure
    ``global.security.allowInsecureImages`` is true -> (new text, notes), verified."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    with gc_paused():
        try:
            analysis = analyse(body, file, settings)
        except YAMLSyntaxError as exc:
            raise FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column) from None
        if not _needs_insecure(analysis.refs):
            return text, []
        notes: list[str] = []
        new_body = _edit(body, analysis.old_events, analysis.docs, [], True, file, notes)
    return bom + new_body, notes


def _needs_insecure(refs) -> bool:
    """Relocated Bitnami images named by a values file (the flag is a values key: never added
    to a manifest or an Application, see ``_rewrite_text``)."""
    return any(
        r.upstream and (r.status == MIRRORED or r.target) and is_bitnami(r.upstream) and r.source is None for r in refs
    )


def _edit(
    body: str,
    events,
    docs: list,
    scalar_edits: list,
    insecure: bool,
    file: str,
    notes: list[str],
    prepared: tuple[list, dict] | None = None,
) -> str:
    """The scalar edits (and those ``prepared``, see :func:`imagemirror.yaml_edit.edit`) and,
    when ``insecure``, the Bitnami flag: one plan through the edit engine (a note says what
    was done to the flag, or what to do by hand)."""
    state = _flag_state(docs) if insecure else "true"
    if state != "true":
        try:
            new_body = edit(body, events, docs, scalar_edits, [FLAG], file, prepared=prepared)
        except Refused:
            notes.append(
                f"{file}: Bitnami images were relocated: set global.security.allowInsecureImages: true "
                "by hand (the file's shape does not allow a safe automatic edit)"
            )
        else:
            notes.append(f"{file}: {state} global.security.allowInsecureImages: true (Bitnami images relocated)")
            return new_body
    return edit(body, events, docs, scalar_edits, [], file, prepared=prepared)


def _flag_state(docs: list) -> str:
    """``"true"`` (already set, plain), ``"set"`` (the key exists: replace it), ``"added"``."""
    node = docs[0] if len(docs) == 1 else None
    for key in ALLOW_INSECURE:
        if not isinstance(node, Mapping):
            return "added"
        node = next((v for k, v in node.pairs if isinstance(k, Scalar) and k.value == key), None)
        if node is None:
            return "added"
    if isinstance(node, Scalar) and node.style == "" and node.value in ("true", "True", "TRUE"):
        return "true"
    return "set"
