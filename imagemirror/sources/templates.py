"""Go templates in YAML (helmfile ``.gotmpl`` files, ApplicationSet templates): masked, not rendered.

A ``{{ ... }}`` expression is replaced by filler of the same length, so every offset, line
and column of the text stays where it was: an expression alone on its line(s) becomes a
comment, one inside a value becomes plain characters.  The masked text is what is parsed;
edits are spliced into the original text at the same offsets, and the result is masked
again to be verified.  A scalar that overlaps an expression is given back its original
text, so a reference a template stands for is reported ``templated``.  Pure.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ..walker import Mapping, Scalar, Sequence

_EXPR = re.compile(r"\{\{.*?\}\}", re.S)


def has_template(text: str) -> bool:
    return "{{" in text


def mask(text: str) -> tuple[str, list[tuple[int, int]]]:
    """-> (masked text of the same length, spans of the expressions)."""
    if "{{" not in text:
        return text, []
    spans: list[tuple[int, int]] = []
    out: list[str] = []
    pos = 0
    for m in _EXPR.finditer(text):
        start, end = m.span()
        spans.append((start, end))
        out.append(text[pos:start])
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end == -1 else line_end
        alone = not text[line_start:start].strip() and not _rest_is_code(text[end:line_end])
        body = re.sub(r"[^\n]", "x", text[start:end])
        if alone:  # a comment on each of its lines
            body = "\n".join("#" + part[1:] if part else part for part in body.split("\n"))
        out.append(body)
        pos = end
    out.append(text[pos:])
    return "".join(out), spans


def _rest_is_code(rest: str) -> bool:
    """What follows an expression on its line is more than blanks, a comment or more templates."""
    rest = _EXPR.sub("", rest).strip()
    return bool(rest) and not rest.startswith("#")


def restore(docs, original: str, spans: list[tuple[int, int]]) -> None:
    """Give scalars that overlap a template expression their original text (in place)."""
    if not spans:
        return
    starts = [s for s, _ in spans]

    def overlaps(a: int, b: int) -> bool:
        i = bisect_right(starts, b) - 1
        while i >= 0:
            s, e = spans[i]
            if e <= a:
                return False
            if s < b:
                return True
            i -= 1
        return False

    seen: set[int] = set()
    stack = list(docs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is Scalar:
            if overlaps(node.start, max(node.end, node.start + 1)):
                raw = original[node.start : node.end]
                node.value = raw if "{{" in raw else "{{" + raw + "}}"
        elif node.__class__ is Mapping:
            for k, v in node.pairs:
                stack.append(k)
                stack.append(v)
        elif node.__class__ is Sequence:
            stack.extend(node.items)
