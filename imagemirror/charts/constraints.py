"""Helm's chart version constraints: a port of Masterminds/semver v3 (the library Helm uses).

Helm resolves ``version: ^1.2`` in ``Chart.yaml`` dependencies, ``targetRevision`` of an Argo CD
Application, a Flux ``spec.chart.spec.version`` and ``helm pull --version`` with
``semver.NewConstraint(...)`` checked against every version of the index, highest first.
PyPI's ``semver`` and ``packaging`` implement other grammars (no ``^``/``~``/``1.2.x``/``||``,
different rules for missing parts), so this module follows Masterminds' rules literally:

- ``||`` separates alternatives; spaces or commas separate constraints that must all hold.
- ``a - b`` is ``>= a, <= b``.
- A missing or wildcard part (``x``, ``X``, ``*``) makes the constraint "dirty": ``1.2`` and
  ``1.2.x`` mean ``>=1.2.0 <1.3.0``; ``>1.2`` needs ``1.3+``; ``<=1.2`` admits ``1.2.9``.
- ``~1.2.3`` is ``>=1.2.3 <1.3.0``; ``^1.2.3`` is ``>=1.2.3 <2.0.0``; ``^0.2.3`` is
  ``>=0.2.3 <0.3.0``; ``^0.0.3`` is ``=0.0.3``.
- A pre-release version only matches a constraint that itself names a pre-release.

Pure, standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(
    r"v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_ONE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")


class InvalidVersion(ValueError):
    """Not a version or constraint Helm would accept."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""
    original: str = ""

    def _cmp(self, other: Version) -> int:
        for a, b in ((self.major, other.major), (self.minor, other.minor), (self.patch, other.patch)):
            if a != b:
                return -1 if a < b else 1
        return _compare_pre(self.pre, other.pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))

    def __lt__(self, other: Version) -> bool:
        return self._cmp(other) < 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{self.pre}" if self.pre else "")


def _compare_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a:
        return 1  # a release is newer than any of its pre-releases
    if not b:
        return -1
    pa, pb = a.split("."), b.split(".")
    for x, y in zip(pa, pb):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd != yd:
            return -1 if xd else 1  # numeric identifiers sort before alphanumeric ones
        return -1 if x < y else 1
    if len(pa) == len(pb):
        return 0
    return -1 if len(pa) < len(pb) else 1


def parse_version(text: str) -> Version:
    """Masterminds' lenient ``NewVersion``: ``v1.2``, ``1`` and ``1.2.3-rc.1+meta`` are versions."""
    m = _VERSION.match(str(text).strip())
    if not m:
        raise InvalidVersion(f"{text!r} is not a semantic version")
    return Version(int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), m["pre"] or "", str(text))


def _is_x(part: str) -> bool:
    return part in ("x", "X", "*")


@dataclass(frozen=True)
class _Constraint:
    op: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version) -> bool:
        if v.pre and not self.con.pre and not (self.op == "!=" and not self.dirty):
            return False
        return _OPS_FUNCS[self.op](self, v)


def _parse_one(text: str) -> _Constraint:
    m = _ONE.match(text)
    if not m:
        raise InvalidVersion(f"improper constraint: {text}")
    op, major, minor, patch, pre = m[1], m[3], (m[4] or "")[1:], (m[5] or "")[1:], m[7] or ""
    dirty = minor_dirty = patch_dirty = False
    if _is_x(major) or major == "":
        ver, dirty = Version(0, 0, 0, pre), True
    elif _is_x(minor) or minor == "":
        ver, dirty, minor_dirty = Version(int(major), 0, 0, pre), True, True
    elif _is_x(patch) or patch == "":
        ver, dirty, patch_dirty = Version(int(major), int(minor), 0, pre), True, True
    else:
        ver = Version(int(major), int(minor), int(patch), pre)
    return _Constraint(op, ver, dirty, minor_dirty, patch_dirty)


def _not_equal(c: _Constraint, v: Version) -> bool:
    if c.dirty:
        if c.con.major != v.major:
            return True
        if c.con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if c.con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.pre or c.con.pre:
                return _compare_pre(v.pre, c.con.pre) != 0
            return False
    return v != c.con


def _greater(c: _Constraint, v: Version) -> bool:
    if not c.dirty:
        return v > c.con
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > c.con.minor
    return v > c.con


def _less_equal(c: _Constraint, v: Version) -> bool:
    if not c.dirty:
        return v <= c.con
    if v.major > c.con.major:
        return False
    if v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty:
        return False
    return True


def _tilde(c: _Constraint, v: Version) -> bool:
    if v < c.con:
        return False
    if (c.con.major, c.con.minor, c.con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != c.con.major:
        return False
    return v.minor == c.con.minor or c.minor_dirty


def _tilde_or_equal(c: _Constraint, v: Version) -> bool:
    return _tilde(c, v) if c.dirty else v == c.con


def _caret(c: _Constraint, v: Version) -> bool:
    if v < c.con:
        return False
    if c.con.major > 0 or c.minor_dirty:
        return v.major == c.con.major
    if v.major > 0:
        return False
    if c.con.minor > 0 or c.patch_dirty:
        return v.minor == c.con.minor
    if v.minor > 0:
        return False
    return v.patch == c.con.patch


_OPS_FUNCS = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda c, v: v < c.con,
    ">=": lambda c, v: v >= c.con,
    "=>": lambda c, v: v >= c.con,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraints:
    text: str
    alternatives: tuple[tuple[_Constraint, ...], ...]

    def check(self, version: Version | str) -> bool:
        if isinstance(version, str):
            try:
                version = parse_version(version)
            except InvalidVersion:
                return False
        return any(all(c.check(version) for c in group) for group in self.alternatives)


def parse_constraints(text: str) -> Constraints:
    """Masterminds' ``NewConstraint``; an empty string means any release (``*``)."""
    text = str(text)
    rewritten = _RANGE.sub(lambda m: f">= {m[1]}, <= {m[11]}", text)
    groups = []
    for part in rewritten.split("||"):
        if part.strip() == "" and text.strip() == "":
            groups.append((_parse_one("*"),))
            continue
        if not _VALID.match(part):
            raise InvalidVersion(f"improper constraint: {part.strip() or text!r}")
        found = [m.group(0) for m in _FIND.finditer(part)] or [part]
        groups.append(tuple(_parse_one(s) for s in found))
    return Constraints(text, tuple(groups))


def best_match(constraint: str, versions: list[str]) -> str | None:
    """Helm's pick: the exact string if listed, else the highest version that satisfies."""
    constraint = (constraint or "").strip()
    if constraint and constraint in versions:
        return constraint
    cons = parse_constraints(constraint or "*")
    candidates = []
    for text in versions:
        try:
            candidates.append((parse_version(text), text))
        except InvalidVersion:
            continue
    candidates.sort(key=lambda pair: pair[0], reverse=True)
    for version, text in candidates:
        if cons.check(version):
            return text
    return None
