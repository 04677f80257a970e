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
from .rules import is_bitnami
from .walker import Mapping, Scalar, YAMLSyntaxError, gc_paused
from .yaml_edit import Assignment, Refused, UnsafeValue, edit, render

__all__ = ["ALLOW_INSECURE", "ALLOW_INSECURE_COMMENT", "Rewritten", "UnsafeValue", "allow_insecure", "render",
           "rewrite_text"]

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
    scalar_edits = list(analysis.edits.values())
    new_body = _edit(body, analysis.events, analysis.docs, scalar_edits, insecure, file, result.notes)
    if new_body == body:
        return Rewritten(text, result, False)
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
        if not _needs_insecure(analysis.refs):
            return text, []
        notes: list[str] = []
        new_body = _edit(body, analysis.events, analysis.docs, [], True, file, notes)
    return bom + new_body, notes


def _needs_insecure(refs) -> bool:
    return any(r.upstream and (r.status == "mirrored" or r.target) and is_bitnami(r.upstream) for r in refs)


def _edit(body: str, events: list, docs: list, scalar_edits: list, insecure: bool, file: str,
          notes: list[str]) -> str:
    """The scalar edits and, when ``insecure``, the Bitnami flag: one plan through the edit
    engine (a note says what was done to the flag, or what to do by hand)."""
    state = _flag_state(docs) if insecure else "true"
    if state != "true":
        try:
            new_body = edit(body, events, docs, scalar_edits, [FLAG], file)
        except Refused:
            notes.append(f"{file}: Bitnami images were relocated: set global.security.allowInsecureImages: true "
                         "by hand (the file's shape does not allow a safe automatic edit)")
        else:
            notes.append(f"{file}: {state} global.security.allowInsecureImages: true (Bitnami images relocated)")
            return new_body
    return edit(body, events, docs, scalar_edits, [], file)


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
