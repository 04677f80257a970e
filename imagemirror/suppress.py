"""Inline suppression: ``# imagemirror: ignore`` and ``# imagemirror: ignore[IM003,IM004]``.

Parsed once per text, by the scan that already holds the text (:func:`annotate`, called by
every source), never by re-reading a file.  The rules:

- A directive is a YAML comment (a ``#`` at the line start or after a space or tab, not inside
  a quoted scalar) containing ``imagemirror: ignore``, optionally ``[CODE,CODE]``.
- It applies to the references written on its own line: the lines of the reference's own
  scalars and its image key, as written at the reference's place.  A scalar reached through an
  alias (``registry: *hub``) is written where its anchor is: a directive on the anchor's line
  does not silence the images that alias it elsewhere (:attr:`ImageRef.lines` holds only the
  reference's own lines; :func:`imagemirror.inventory.analyse` builds it).
- ``ignore`` alone silences every code; ``ignore[...]`` the codes listed; ``ignore[]`` (an
  empty list) silences nothing -- a directive never silences more than it names.

Pure: text in, annotated records out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from .model import ImageRef

_IGNORE = re.compile(r"imagemirror:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?(?![\w\[-])")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

Directives = dict[int, "frozenset[str] | None"]  # 1-based line -> codes (None: every code)


def _skip_quoted(line: str, i: int) -> int:
    """Index just past the quoted scalar starting at ``line[i]`` (or len(line) if open)."""
    quote = line[i]
    j = i + 1
    n = len(line)
    while j < n:
        c = line[j]
        if quote == '"' and c == "\\":
            j += 2
            continue
        if c == quote:
            if quote == "'" and j + 1 < n and line[j + 1] == "'":  # '' is an escaped quote
                j += 2
                continue
            return j + 1
        j += 1
    return n


def comment_start(line: str) -> int | None:
    """Index of the ``#`` that starts a YAML comment on ``line``, or None.

    A ``#`` is a comment only at the start of the line or after a space or tab, and not
    inside a quoted scalar (quotes open a scalar only where a value can start).  Lines
    inside a multi-line quoted or block scalar are not recognised as such: references
    are single-line scalars, so the lines asked about are their own lines.
    """
    i, n = 0, len(line)
    value_start = True  # where a scalar may begin (line start, after ': ', '- ', '[', ',' ...)
    while i < n:
        c = line[i]
        if c in " \t":
            i += 1
            continue
        if c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
        if value_start and c in "'\"":
            i = _skip_quoted(line, i)
            value_start = False
            continue
        nxt = line[i + 1] if i + 1 < n else " "
        if c in "[{,":
            value_start = True
        elif c in "-?:" and nxt in " \t":
            value_start = True
        elif c == ":" and nxt in ",]}":
            value_start = True
        else:
            value_start = False
        i += 1
    return None


def split_lines(text: str) -> list[str]:
    """Lines as the YAML parser numbers them (its marks give the inventory's positions):
    CRLF, LF, a lone CR, and -- as libyaml and ruamel.yaml count them -- NEL, LS, PS."""
    return _LINE_BREAK.split(text)


def ignore_directives(text: str) -> Directives:
    """1-based line -> codes ignored on it (None: every code), from ``# imagemirror: ignore``.

    ``ignore[]`` gives an empty set: it names no code, so it silences nothing."""
    out: Directives = {}
    if "imagemirror:" not in text:
        return out
    for number, line in enumerate(split_lines(text), start=1):
        if "imagemirror:" not in line:
            continue
        start = comment_start(line)
        if start is None:
            continue
        match = _IGNORE.search(line, start)
        if match is None:
            continue
        if match.group(1) is None:
            out[number] = None
        else:
            out[number] = frozenset(c.strip().upper() for c in match.group(1).split(",") if c.strip())
    return out


def is_ignored(code: str, lines: Iterable[int], directives: Directives) -> bool:
    for number in lines:
        if number in directives:
            codes = directives[number]
            if codes is None or code in codes:
                return True
    return False


def fix_span(line: str, column: int, written: str) -> tuple[int, int] | None:
    """Columns (1-based, end exclusive) of ``written`` when the scalar at ``column`` is exactly it."""
    i = column - 1
    if i < 0 or i >= len(line) or not written:
        return None
    if line[i] in "'\"":
        quote = line[i]
        inner = line[i + 1 : i + 1 + len(written)]
        after = i + 1 + len(written)
        if inner == written and after < len(line) and line[after] == quote:
            return (column + 1, column + 1 + len(written))
        return None
    if line[i : i + len(written)] != written:
        return None
    after = i + len(written)
    if after < len(line) and line[after] not in " \t":
        return None
    return (column, column + len(written))


def annotate(refs: list[ImageRef], text: str, file: str | None = None) -> list[ImageRef]:
    """``refs`` (of ``text``; only those whose ``file`` is ``file`` when given) with their
    suppression (``suppressed``: every code; ``ignored``: the codes named) and, for those with
    a target, the columns of the reference in its line (``fix_span``, for SARIF fixes)."""
    if not refs:
        return refs
    directives = ignore_directives(text)
    lines: list[str] | None = None
    out = []
    for ref in refs:
        if file is not None and ref.file != file:
            out.append(ref)
            continue
        own = ref.lines or (ref.line,)
        suppressed = False
        ignored: frozenset[str] = frozenset()
        if directives:
            for number in own:
                if number in directives:
                    codes = directives[number]
                    if codes is None:
                        suppressed = True
                    else:
                        ignored |= codes
        span = None
        if ref.target and ref.line > 0:
            if lines is None:
                lines = split_lines(text[1:] if text.startswith("\ufeff") else text)
            if ref.line <= len(lines):
                span = fix_span(lines[ref.line - 1], ref.column, ref.written)
        if suppressed or ignored or span:
            ref = replace(ref, suppressed=suppressed or ref.suppressed, ignored=ignored | ref.ignored, fix_span=span)
        out.append(ref)
    return out
