"""YAML held in a string of another YAML document (Argo CD ``helm.values: |``).

The string's value is parsed on its own; each scalar found there gets a *proxy*: a
:class:`~imagemirror.walker.Scalar` with the same value and style whose offsets are those of
its characters in the outer text.  That is exact for a literal block scalar (``|``, ``|-``,
``|+``, with or without an indentation indicator): every line of the value is one line of
the outer text minus the block's indentation; and for a one-line quoted or plain string without
escapes (``patch: '[{"op": "replace", ...}]'``): the value is its text.  Whether the mapping holds is checked line by
line; where it does not (a folded ``>`` block, a quoted string with escapes), the references
are still reported, but not edited.

The rewrite splices the proxies' edits into the outer text, re-parses the new value of the
block and verifies it against the old one (only the edited scalars differ), then verifies the
outer document with the block's value expected to be exactly that new value.  Pure.
"""

from __future__ import annotations

from ..walker import LineIndex, Scalar, YAMLSyntaxError, compose, content_start, parse_events
from . import templates


class Embedded:
    """One string that holds YAML: its parse, and how its offsets map to the outer text."""

    __slots__ = (
        "block",
        "text",
        "events",
        "docs",
        "mappable",
        "error",
        "_outer_starts",
        "_first",
        "_indent",
        "_inner",
        "proxies",
        "frozen",
        "spans",
    )

    def __init__(self, block: Scalar, outer: str, outer_lines: LineIndex):
        self.block = block
        self.text = block.value
        self.events: list = []
        self.docs: list = []
        self.error: YAMLSyntaxError | None = None
        self.proxies: dict[int, Scalar] = {}  # id(proxy) -> inner node
        self.frozen: set[int] = set()  # proxies that only give a position
        self._first = 0
        self._indent = 0
        self._outer_starts = outer_lines.starts
        self._inner = LineIndex(self.text)
        self.mappable = self._map(outer)
        masked, self.spans = templates.mask(self.text)
        try:
            self.events = parse_events(masked)
            self.docs = compose(self.events)
        except YAMLSyntaxError as exc:
            self.error = exc
            return
        templates.restore(self.docs, self.text, self.spans)

    # -- offsets

    def _map(self, outer: str) -> bool:
        if self.block.style in ("'", '"', "") and "\n" not in self.text:
            return self._map_line(outer)
        if self.block.style != "|":
            return False
        header = content_start(outer, self.block)
        first = outer.count("\n", 0, header) + 1  # 0-based line of the first content line
        lines = self.text.split("\n")
        starts = self._outer_starts
        indent = None
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            n = first + i
            if n >= len(starts):
                return False
            end = starts[n + 1] - 1 if n + 1 < len(starts) else len(outer)
            src = outer[starts[n] : end]
            if src.endswith("\r"):
                src = src[:-1]
            if indent is None:
                indent = len(src) - len(line)
                if indent < 0 or src[:indent].strip(" "):
                    return False
            if src[indent:] != line or src[:indent].strip(" "):
                return False
        self._first = first
        self._indent = indent or 0
        return True

    def _map_line(self, outer: str) -> bool:
        """A one-line quoted (or plain) string without escapes: its value is its text."""
        start = content_start(outer, self.block)
        quote = 1 if self.block.style else 0
        if outer[start + quote : self.block.end - quote] != self.text:
            return False  # an escape (``''``, ``\"``) or a line break inside
        line = outer.count("\n", 0, start)
        self._first = line
        self._indent = start + quote - self._outer_starts[line]
        return True

    def outer_offset(self, inner: int) -> int:
        line, column = self._inner.position(inner)
        return self._outer_starts[self._first + line - 1] + self._indent + column - 1

    def position(self, inner: int) -> tuple[int, int]:
        """1-based line and column in the outer text of an inner offset."""
        line, column = self._inner.position(inner)
        if not self.mappable:
            return self.block.line + 1, self.block.column + 1
        return self._first + line, self._indent + column

    def proxy(self, node: Scalar) -> Scalar:
        """The outer-text stand-in for an inner scalar.  Where offsets cannot be mapped it
        sits at the block (for positions) and is *frozen*: never edited."""
        if self.mappable and "\n" not in self.text[node.start : node.end]:
            start = self.outer_offset(node.start)
            end = start + (node.end - node.start)
            line, column = self.position(node.start)
            p = Scalar(node.value, node.style, start, end, node.props, line - 1, column - 1)
            p.inflow = node.inflow
            self.proxies[id(p)] = node
        else:
            b = self.block
            p = Scalar(node.value, node.style, b.start, b.start, False, b.line, b.column)
            self.frozen.add(id(p))
        return p

    def proxied(self, sites) -> None:
        """Swap every part of the sites for its proxy (so edits address the outer text)."""
        cache: dict[int, Scalar] = {}
        for site in sites:
            for part in (*site.names, site.tag, site.digest):
                if part is None:
                    continue
                key = id(part.node)
                if key not in cache:
                    cache[key] = self.proxy(part.node)
                part.node = cache[key]
            site.lines = {p.node.line for p in (*site.names, site.tag, site.digest) if p is not None and not p.shared}
            site.lines.add(self._first + site.key_line if self.mappable else self.block.line)
            site.key_line = self._first + site.key_line if self.mappable else self.block.line
