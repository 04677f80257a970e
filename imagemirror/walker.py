"""YAML text -> image sites (spans, positions, shape).  No file access.

The text is parsed once with ruamel.yaml's C event parser (libyaml) into light nodes
that keep character offsets and quote style; aliases point at the anchored node, so
every node is walked once (an alias bomb costs nothing).  Detection is structural:
which keys a mapping holds, where it sits, and the file's ``global`` registry keys.
"""

from __future__ import annotations

import gc
import re

from .reference import normalise_digest, split_name

NULLS = frozenset({"", "~", "null", "Null", "NULL"})

# Keys whose string value is a whole reference, or that hold an image map.
_IMAGE_KEY = re.compile(r"(?:image|.+Image|.+_image)\Z")
REGISTRY_KEYS = ("registry",)
TAG_KEYS = ("tag", "version")
DIGEST_KEYS = ("digest", "sha")
_MAP_HINT_KEYS = frozenset(("registry", "tag", "version", "digest", "sha", "repository", "pullPolicy"))


class YAMLSyntaxError(Exception):
    """Invalid YAML: ``line``/``column`` are 1-based (None when unknown)."""

    def __init__(self, message: str, line: int | None, column: int | None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


# --------------------------------------------------------------------------- nodes


class Scalar:
    __slots__ = ("value", "style", "start", "end", "props", "line", "column", "inflow", "tail", "aliased")

    def __init__(self, value, style, start, end, props, line, column):
        self.inflow = False  # inside a flow collection: a plain ':' needs quoting there
        self.aliased = False  # an alias (``*a``) refers to it: it has several places
        self.tail = ""  # a one-line block scalar's line breaks after its content (its chomping)
        self.value = value
        self.style = style
        self.start = start  # offset of the node (properties included)
        self.end = end
        self.props = props  # an anchor or a tag precedes the content
        self.line = line  # 0-based, of the node start
        self.column = column

    @property
    def is_null(self) -> bool:
        return self.style == "" and self.value in NULLS

    @property
    def string(self) -> str | None:
        """The value when it is a usable non-empty one-line string, else None.

        A block scalar (``image: |-`` / ``>-``) counts when its content is one word on one
        line (see :func:`_block_value`); any other block scalar does not."""
        if self.is_null or not self.value:
            return None
        if self.style in ("|", ">") and not self.tail and not _one_word(self.value):
            return None
        return self.value


def _one_word(value: str) -> bool:
    return bool(value) and not any(ch.isspace() for ch in value)


def _block_value(node: Scalar) -> None:
    """A block scalar whose content is one word: its ``value`` becomes the word, the line
    breaks its chomping keeps (``|`` keeps one, ``|-`` none, ``|+`` all) go to ``tail``."""
    value = node.value
    core = value.rstrip("\n")
    if core != value and _one_word(core):
        node.value = core
        node.tail = value[len(core) :]


LEAN = Scalar("", "", -1, -1, False, -1, -1)


class Mapping:
    __slots__ = ("pairs", "start", "end", "flow", "line", "column")

    def __init__(self, start, flow, line, column):
        self.pairs: list = []
        self.start = start
        self.end = start
        self.flow = flow
        self.line = line
        self.column = column

    def items(self):
        """Key/value pairs with merge keys (``<<``) expanded; own keys win."""
        for k, _v in self.pairs:
            if k.__class__ is Scalar and k.value == "<<" and k.style == "":
                break
        else:
            return self.pairs[:]  # no merge key: the common case
        own = [(k, v) for k, v in self.pairs if not (isinstance(k, Scalar) and k.value == "<<" and k.style == "")]
        seen = {k.value for k, _ in own if isinstance(k, Scalar)}
        out = list(own)
        for k, v in self.pairs:
            if isinstance(k, Scalar) and k.value == "<<" and k.style == "":
                sources = v.items if isinstance(v, Sequence) else [v]
                for src in sources:
                    if isinstance(src, Mapping):
                        for k2, v2 in src.items():
                            if isinstance(k2, Scalar) and k2.value not in seen:
                                seen.add(k2.value)
                                out.append((k2, v2))
        return out


class Sequence:
    __slots__ = ("items", "start", "end", "flow", "line", "column")

    def __init__(self, start, flow, line, column):
        self.items: list = []
        self.start = start
        self.end = start
        self.flow = flow
        self.line = line
        self.column = column


# --------------------------------------------------------------------------- parse


class gc_paused:
    """No cyclic garbage collection inside the block (switched back on after, if it was on).

    For building event lists and nodes: everything made there stays alive until the
    file is done, so a collection would find nothing; on large files they cost a tenth
    of the parse time.  Reference counting still frees everything as usual.
    """

    __slots__ = ("was",)

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was:
            gc.enable()


def events(text: str, pure: bool = False):
    """The event stream of ``text`` (C parser; the pure one when ``pure``)."""
    if pure:
        from ruamel.yaml import YAML

        return list(YAML(typ="safe", pure=True).parse(text))
    from ruamel.yaml.cyaml import CParser

    parser = CParser(text)
    try:
        with gc_paused():
            # get_event() returns None once the stream has ended: list() runs the loop in C.
            return list(iter(parser.get_event, None))
    finally:
        parser.dispose()


def event_stream(text: str):
    """The C parser's events of ``text``, one at a time (never all held: a 200 MB file's
    events take gigabytes).  Raises ruamel's YAMLError where libyaml refuses the text."""
    from ruamel.yaml.cyaml import CParser

    parser = CParser(text)
    try:
        get = parser.get_event
        while (ev := get()) is not None:
            yield ev
    finally:
        parser.dispose()


def compose_text(text: str, lean: bool = False) -> tuple[list, bool]:
    """Light nodes of ``text`` straight from the parser's stream -> ``(docs, pure)``; ``pure``
    when libyaml refused valid YAML and the pure parser was used (see :func:`parse_events`).
    ``lean``: see :func:`compose`.  Raises :class:`YAMLSyntaxError`."""
    from ruamel.yaml.error import YAMLError

    try:
        return compose(event_stream(text), lean), False
    except YAMLError:
        pass
    return compose(parse_events(text), lean), True


def parse_events(text: str):
    """Events of ``text``; falls back to the pure parser where libyaml refuses valid YAML."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return events(text)
    except MarkedYAMLError as first:
        try:
            return events(text, pure=True)
        except MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        except (YAMLError, RecursionError, ValueError):
            raise _syntax_error(first) from None
    except YAMLError as exc:
        position = getattr(exc, "position", None)
        if isinstance(position, int) and 0 <= position <= len(text):  # a reader error
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            reason = getattr(exc, "reason", None) or "invalid character"
            raise YAMLSyntaxError(reason, line, column) from None
        raise YAMLSyntaxError(str(exc).splitlines()[0] if str(exc) else "invalid YAML", None, None) from None


def _syntax_error(exc) -> YAMLSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        problem = f"{exc.context}: {exc.problem}"
    if mark is None:
        return YAMLSyntaxError(problem, None, None)
    return YAMLSyntaxError(problem, mark.line + 1, mark.column + 1)


# keys whose scalar value the detector (and the Bitnami flag) reads; with ``lean`` the value of
# any other key, and an unanchored scalar list item, is one shared empty placeholder
_READ_KEYS = frozenset(
    (
        "registry",
        "repository",
        "image",
        "name",
        "tag",
        "version",
        "digest",
        "sha",
        "imageRegistry",
        "imageNamespace",
        "defaultImageRegistry",
        "defaultImageRepository",
        "allowInsecureImages",
        "<<",
    )
)


def compose(evts, lean: bool = False) -> list:
    """Light nodes for each document (aliases share the anchored node).

    ``lean``: a scalar nothing reads -- the value of a key that is neither an image key nor one
    of an image map's keys, a scalar list item -- is not kept (the shared :data:`LEAN`, an
    empty null); an anchored one always is.  The nodes of a large file then take about half
    the memory; only the detector's walk (:func:`find_sites`) may use such nodes."""
    with gc_paused():
        return _compose(evts, lean)


from sys import intern as _intern  # noqa: E402


def _reads(key: str, cache: dict) -> bool:
    found = cache.get(key)
    if found is None:
        found = cache[key] = key in _READ_KEYS or bool(_IMAGE_KEY.match(key))
    return found


def _compose(evts, lean: bool = False) -> list:
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    anchors: dict[str, object] = {}
    docs: list = []
    stack: list = []  # containers being built; a mapping's pending key is kept beside it
    pending: list = []
    reads: dict[str, bool] = {}
    for ev in evts:
        cls = ev.__class__
        if cls is ScalarEvent:
            sm = ev.start_mark
            node = Scalar(
                ev.value,
                ev.style or "",
                sm.index,
                ev.end_mark.index,
                ev.anchor is not None or ev.ctag is not None,
                sm.line,
                sm.column,
            )
            if node.style == "|" or node.style == ">":
                _block_value(node)
            if ev.anchor is not None:
                anchors[ev.anchor] = node
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            sm = ev.start_mark
            node = (Mapping if cls is MappingStartEvent else Sequence)(
                sm.index, bool(ev.flow_style), sm.line, sm.column
            )
            if ev.anchor is not None:
                anchors[ev.anchor] = node
            stack.append(node)
            pending.append(None)
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            node = stack.pop()
            pending.pop()
            node.end = ev.end_mark.index
        elif cls is AliasEvent:
            node = anchors.get(ev.anchor)
            if node is None:
                m = ev.start_mark
                raise YAMLSyntaxError(f"found undefined alias {ev.anchor!r}", m.line + 1, m.column + 1)
            if node.__class__ is Scalar:
                node.aliased = True
        elif cls is DocumentStartEvent:
            anchors = {}
            continue
        else:
            continue
        # attach ``node`` to its parent (or make it a document root)
        if not stack:
            docs.append(node)
            continue
        parent = stack[-1]
        if lean and cls is ScalarEvent and parent.__class__ is Mapping and pending[-1] is None:
            node.value = _intern(node.value)  # a key: one string for every ``image:``, ``tag:``...
        elif (
            lean
            and cls is ScalarEvent
            and ev.anchor is None
            and (
                parent.__class__ is Sequence
                or (
                    pending[-1] is not None
                    and not (pending[-1][0].__class__ is Scalar and _reads(pending[-1][0].value, reads))
                )
            )
        ):
            node = LEAN
        elif parent.flow and node.__class__ is Scalar:
            node.inflow = True
        if parent.__class__ is Sequence:
            parent.items.append(node)
        elif pending[-1] is None:
            pending[-1] = (node,)
        else:
            parent.pairs.append((pending[-1][0], node))
            pending[-1] = None
    return docs


# --------------------------------------------------------------------------- sites


class Part:
    """A scalar that contributes to a composed reference.

    (Plain slotted classes here, not dataclasses: ``check`` imports them at start-up.)
    """

    __slots__ = ("node", "role", "shared", "key")

    def __init__(self, node: Scalar, role: str, shared: bool = False, key: str = ""):
        self.node = node
        self.role = role  # "registry" | "name" | "tag" | "digest"
        self.shared = shared  # a global/ancestor key that other images (maybe unseen) use too
        self.key = key

    def __repr__(self) -> str:
        return f"Part({self.node.value!r}, {self.role!r}, shared={self.shared}, key={self.key!r})"

    def __eq__(self, other) -> bool:
        if other.__class__ is not Part:
            return NotImplemented
        return (self.node, self.role, self.shared, self.key) == (other.node, other.role, other.shared, other.key)

    __hash__ = None  # mutable


class Site:
    """One image reference: the scalars it is composed of, and where it sits."""

    __slots__ = ("path", "kind", "names", "tag", "digest", "key_line", "ambiguous", "lines", "holder")

    def __init__(
        self,
        path: str,
        kind: str,
        names: list[Part],
        tag: Part | None = None,
        digest: Part | None = None,
        key_line: int = 0,
        ambiguous: str | None = None,
        lines: set[int] | None = None,
    ):
        self.path = path
        self.kind = kind  # "string" | "map"
        self.names = names  # registry?, then name parts, joined with "/"
        self.tag = tag
        self.digest = digest
        self.key_line = key_line  # 0-based line of the key holding the image
        self.ambiguous = ambiguous  # why the text alone cannot tell the image
        self.lines = set() if lines is None else lines
        self.holder = None  # the mapping the site's own keys are in (see image_positions)

    def __repr__(self) -> str:
        return f"Site({self.path!r}, {self.kind!r}, {self.written()!r}, ambiguous={self.ambiguous!r})"

    def __eq__(self, other) -> bool:
        if other.__class__ is not Site:
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in Site.__slots__)

    __hash__ = None  # mutable

    @property
    def main(self) -> Part:
        """The part that carries the repository name (its position is the site's)."""
        for part in self.names:
            if part.role == "name":
                return part
        return self.names[-1]

    def written(self) -> str:
        """The reference the chart composes from these scalars: a tag YAML reads as a number
        is what Helm renders (``1.10`` -> ``1.1``); a digest given as the tag
        (``tag: "sha256:<hex>"``, tekton's charts render ``repository@tag``) is the digest."""
        out = "/".join(p.node.value for p in self.names)
        if self.tag is not None:
            tag = self.tag.node
            value = tag.value
            rendered = helm_plain(value) if tag.style == "" else None
            if rendered is not None:
                out += ":" + rendered
            elif _DIGEST_TAG.match(value):
                if self.digest is None or self.digest.node.value not in (value, value.partition(":")[2]):
                    out += "@" + value
            else:
                out += ":" + value
        if self.digest is not None and self.digest.node.value not in out:
            out += "@" + normalise_digest(self.digest.node.value)
        return out

    def numeric_tag(self) -> str | None:
        """A hint when the tag is a plain scalar YAML reads as a number or a boolean (no ``;``: hints join with it)."""
        tag = self.tag.node if self.tag is not None else None
        if tag is None or tag.style != "":
            return None
        rendered = helm_plain(tag.value)
        if rendered is None:
            return None
        return (
            f"`{self.tag.key}: {tag.value}` is a number in YAML, so Helm renders the tag as {rendered}: "
            f'quote it (`{self.tag.key}: "{tag.value}"`) if {tag.value} is meant'
        )


# a digest written as the tag: ``algorithm:hex`` (a tag cannot hold a ':')
_DIGEST_TAG = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")

# --------------------------------------------------------------------------- Helm's reading of plain scalars

# Helm reads values with sigs.k8s.io/yaml (go-yaml v2 resolution, then JSON): every number is a
# float64 and templates print it with Go's %v; YAML 1.1 booleans print true/false.  Checked
# against real Helm in tests/regressions/test_hostile_detection.py.
_BOOLS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), "true"),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), "false"),
}
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")


_INF = float("inf")


def helm_plain(value: str) -> str | None:
    """What a Helm template prints for a plain (unquoted) scalar that YAML does not read as a
    string (``1.10`` -> ``1.1``, ``1000000`` -> ``1e+06``, ``yes`` -> ``true``); None for a string."""
    number = helm_value(value)
    if number is None:
        return None
    if number is True or number is False:
        return "true" if number else "false"
    return go_float(number)


def helm_value(value: str) -> float | bool | None:
    """The boolean or number (a float64, as Helm keeps it) a plain scalar is to Helm's YAML
    (go-yaml v2 resolution), or None when it is a string."""
    if not value or len(value) > 400:
        return None
    if value in _BOOLS:
        return _BOOLS[value] == "true"
    if value[0] not in "0123456789+-.":
        return None
    plain = value.replace("_", "")
    number: float | None = None
    if _GO_INT.match(plain):
        # strconv.ParseInt(plain, 0, 64), else ParseUint (no sign); out of range: as a float
        # when it looks like one (decimal digits), else a string
        sign = -1 if plain[0] == "-" else 1
        body = plain.lstrip("+-")
        if len(body) > 1 and body[0] == "0" and body[1] in "xXoObB":
            integer = sign * int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1].lower()])
        elif len(body) > 1 and body[0] == "0":
            integer = sign * int(body, 8)
        else:
            integer = sign * int(body)
        if -(1 << 63) <= integer < (1 << 63) or (plain[0] != "-" and plain[0] != "+" and integer < (1 << 64)):
            number = float(integer)
        elif _YAML_FLOAT.match(plain):
            number = float(plain)
        else:
            return None
    elif _YAML_FLOAT.match(plain):
        try:
            number = float(plain)
        except (ValueError, OverflowError):
            return None
    if number is None:
        return None
    if number != number or number in (_INF, -_INF):
        return None  # Helm refuses the file (JSON has no infinity)
    return number


def go_float(number: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits, ``e`` notation when the exponent is
    below -4 or at least 6 (``1e+06``, ``2.0240101e+07``, ``1e-05``)."""
    if number == 0:
        return "-0" if str(number).startswith("-") else "0"
    from decimal import Decimal

    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    exponent += len(digits) - len(ds)
    point = len(ds) + exponent  # digits before the decimal point
    x = point - 1
    head = "-" if sign else ""
    if x < -4 or x >= 6:
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{head}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return head + ds + "0" * (point - len(ds))
    return f"{head}{ds[:point]}.{ds[point:]}"


def _key(k) -> str | None:
    return k.value if isinstance(k, Scalar) else None


def _str_child(mapping_items: dict, key: str) -> Scalar | None:
    node = mapping_items.get(key)
    if isinstance(node, Scalar) and node.string is not None:
        return node
    return None


def _globals(root) -> dict[str, Scalar]:
    """The registry keys under the top-level ``global`` that charts prepend to images."""
    out: dict[str, Scalar] = {}
    if not isinstance(root, Mapping):
        return out
    top = {_key(k): v for k, v in root.items()}
    glob = top.get("global")
    if isinstance(glob, Mapping):
        g = {_key(k): v for k, v in glob.items()}
        node = _str_child(g, "imageRegistry")
        if node is not None:
            out["imageRegistry"] = node
        image = g.get("image")
        if isinstance(image, Mapping):
            node = _str_child({_key(k): v for k, v in image.items()}, "registry")
            if node is not None:
                out["image.registry"] = node
    return out


def find_sites(docs: list) -> list[Site]:
    """Walk every document once and return the image sites, in document order."""
    sites: list[Site] = []
    for root in docs:
        glob = _globals(root)
        if root.__class__ is Scalar:
            continue
        # (container, path, parent key, its line, ancestors' item dicts, in-sequence);
        # only containers are pushed: a scalar is looked at from its mapping
        _walk([(root, "", None, 0, (), False)], set(), glob, sites)
    return sites


def _walk(stack: list, seen: set, glob: dict, sites: list) -> None:
    """The detector's depth-first walk from the containers on ``stack`` (see :func:`find_sites`)."""
    while stack:
        node, path, pkey, pline, ancestors, in_seq = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is Sequence:
            children = [
                (item, f"{path}[{i}]", pkey, item.line, ancestors, True)
                for i, item in enumerate(node.items)
                if item.__class__ is not Scalar
            ]
            children.reverse()
            stack.extend(children)
            continue
        items = node.items()
        by_key = {k.value: v for k, v in items if k.__class__ is Scalar}
        site = _map_site(node, by_key, path, pkey, pline, ancestors, glob)
        if site is not None:
            site.holder = node
            sites.append(site)
        children = []
        below = None  # ancestors + (by_key,), made once for all the children
        for k, v in items:
            if k.__class__ is not Scalar:
                continue
            kk = k.value
            if v.__class__ is Scalar:
                if _IMAGE_KEY.match(kk) and v.string is not None and not _is_component(kk, by_key):
                    string_site = _string_site(v, f"{path}.{kk}" if path else kk, k, by_key, in_seq)
                    string_site.holder = node
                    sites.append(string_site)
            else:
                if below is None:
                    below = ancestors + (by_key,)
                children.append((v, f"{path}.{kk}" if path else kk, kk, k.line, below, False))
        children.reverse()
        stack.extend(children)


def _is_component(key: str, by_key: dict) -> bool:
    """``image: name`` beside ``tag``/``registry``/... is a part of a map, not a reference."""
    return key == "image" and any(k in by_key for k in _MAP_HINT_KEYS if k != "pullPolicy")


def _string_site(node: Scalar, path: str, key: Scalar, by_key: dict, in_seq: bool) -> Site:
    site = Site(path=path, kind="string", names=[Part(node, "name", key=path.rsplit(".", 1)[-1])], key_line=key.line)
    site.lines = {key.line, node.line}
    value = node.value
    # a lone untagged word outside a container spec may be a name the chart composes
    # with a hub/registry of its own (istio's ``image: pilot``): don't guess.
    if (
        "/" not in value
        and ":" not in value
        and "@" not in value
        and not in_seq
        and "name" not in by_key
        and "{{" not in value
    ):
        site.ambiguous = (
            f"'{value}' has no registry, namespace or tag: the chart may prefix it with a registry of its own"
        )
    return site


def _map_site(node: Mapping, by_key: dict, path: str, pkey, pline: int, ancestors, glob) -> Site | None:
    if "repository" not in by_key and "image" not in by_key and "name" not in by_key:
        return None  # the common case: no key that could carry an image name
    repository = _str_child(by_key, "repository")
    image = by_key.get("image")
    image = image if isinstance(image, Scalar) and image.string is not None and _is_component("image", by_key) else None
    name = _str_child(by_key, "name")
    image_key = pkey is not None and bool(_IMAGE_KEY.match(pkey))
    hinted = any(k in by_key for k in ("registry", "tag", "version", "digest", "sha"))

    names: list[Part] = []
    kind_of_name = None
    if repository is not None:
        # ``{repository: nvcr.io/nvidia, image: gpu-operator}`` (NVIDIA, no version: the chart's
        # appVersion) is an image map by its two name keys alone
        if not (image_key or hinted or image is not None):
            return None
        names.append(Part(repository, "name", key="repository"))
        if image is not None:
            names.append(Part(image, "name", key="image"))
        elif (
            name is not None
            and image_key
            and _str_child(by_key, "registry") is not None
            and _ancestor_registry(ancestors, _CERT_MANAGER) == (None, None)
        ):
            # strimzi: ``{registry: quay.io, repository: strimzi, name: operator}`` renders
            # registry/repository/name (cert-manager, whose imageRegistry/imageNamespace sit
            # above, takes a set ``repository`` whole and ignores ``name``)
            names.append(Part(name, "name", key="name"))
        kind_of_name = "repository"
    elif image is not None:
        names.append(Part(image, "name", key="image"))
        kind_of_name = "image"
    elif (
        name is not None
        and image_key
        and ("repository" in by_key or "tag" in by_key or "registry" in by_key or _ancestor_registry(ancestors))
    ):
        names.append(Part(name, "name", key="name"))
        kind_of_name = "name"
    else:
        return None

    site = Site(path=path, kind="map", names=names)
    first = names[0].node
    host_in_name = split_name(first.value)[0] is not None
    registry = _str_child(by_key, "registry")
    if host_in_name and registry is not None:
        # charts render registry/repository whatever the repository looks like
        # (`{registry: docker.io, repository: my.org/app}` is docker.io/my.org/app)
        host_in_name = False
    if host_in_name and "imageRegistry" in glob:
        site.ambiguous = (
            f"'{first.value}' names a host, but global.imageRegistry is set: a chart that honours it would prepend it"
        )
    elif not host_in_name:
        if "imageRegistry" in glob:
            # bitnami & co: global.imageRegistry overrides every image's own registry
            site.names.insert(0, Part(glob["imageRegistry"], "registry", shared=True, key="global.imageRegistry"))
        elif registry is not None:
            site.names.insert(0, Part(registry, "registry", key="registry"))
        elif kind_of_name == "name":
            reg, namespace = _ancestor_registry(ancestors)
            if namespace is not None:
                site.names.insert(0, Part(namespace, "name", shared=True, key="imageNamespace"))
            if reg is not None:
                site.names.insert(0, Part(reg, "registry", shared=True, key="imageRegistry"))
            else:
                site.ambiguous = "no registry given: the chart decides it"
        elif "image.registry" in glob:
            site.names.insert(0, Part(glob["image.registry"], "registry", shared=True, key="global.image.registry"))
        else:
            site.ambiguous = (
                f"'{first.value}' has no registry key and no host: the chart decides the registry "
                "(add `registry:`, or run with --effective so imagemirror reads the chart)"
            )
    for key in TAG_KEYS:
        tag = _str_child(by_key, key)
        if tag is not None:
            site.tag = Part(tag, "tag", key=key)
            break
    for key in DIGEST_KEYS:
        digest = _str_child(by_key, key)
        if digest is not None:
            site.digest = Part(digest, "digest", key=key)
            break
    for part in (*site.names, site.tag, site.digest):
        if part is not None and not part.shared:
            site.lines.add(part.node.line)
    site.key_line = pline
    site.lines.add(site.key_line)
    return site


_PART_KEYS = frozenset(("registry", "repository", "image", "name", "tag", "version", "digest", "sha"))
_SHARED_KEYS = frozenset(("imageRegistry", "imageNamespace", "defaultImageRegistry", "defaultImageRepository"))


def image_positions(docs: list, sites: list[Site], nodes: set[int]) -> dict[int, list[tuple[str, bool]]]:
    """Every place each scalar of ``nodes`` (ids of aliased scalars) sits in: ``id -> [(dotted
    path, is an image key)]``.  An image key is one of an image site's own keys (``registry``,
    ``repository``, ...), an image string's key, a shared registry key (``global.imageRegistry``,
    ``imageRegistry``, ...); anything else (``imageCredentials.registry``, a list item, a key
    ``hub``) is not.  Each container is walked once."""
    maps = {id(site.holder) for site in sites if site.kind == "map" and site.holder is not None}
    strings = {(id(site.holder), site.path.rsplit(".", 1)[-1]) for site in sites if site.kind == "string"}
    out: dict[int, list[tuple[str, bool]]] = {}
    for root in docs:
        seen: set[int] = set()
        stack = [(root, "", "")]
        while stack:
            node, path, parent_key = stack.pop()
            if node.__class__ is Scalar or id(node) in seen:
                continue
            seen.add(id(node))
            if node.__class__ is Sequence:
                for i, item in enumerate(node.items):
                    if item.__class__ is Scalar and id(item) in nodes:
                        out.setdefault(id(item), []).append((f"{path}[{i}]", False))
                    stack.append((item, f"{path}[{i}]", parent_key))
                continue
            for k, v in node.pairs:
                kk = k.value if k.__class__ is Scalar else "?"
                where = f"{path}.{kk}" if path else kk
                if k.__class__ is Scalar and id(k) in nodes:
                    out.setdefault(id(k), []).append((f"{where} (a key)", False))
                if v.__class__ is Scalar:
                    if id(v) in nodes:
                        image = (
                            (id(node) in maps and kk in _PART_KEYS)
                            or (id(node), kk) in strings
                            or kk in _SHARED_KEYS
                            or (path == "global.image" and kk == "registry")
                        )
                        out.setdefault(id(v), []).append((where, image))
                else:
                    stack.append((v, where, kk))
    return out


# registry / namespace keys a level (or more) above ``{name: ...}`` image maps:
# cert-manager (imageRegistry, imageNamespace), strimzi (defaultImageRegistry, defaultImageRepository)
_ANCESTOR_KEYS = (("imageRegistry", "imageNamespace"), ("defaultImageRegistry", "defaultImageRepository"))


_CERT_MANAGER = _ANCESTOR_KEYS[:1]


def _ancestor_registry(ancestors, keys=_ANCESTOR_KEYS) -> tuple[Scalar | None, Scalar | None]:
    for by_key in reversed(ancestors):
        for reg_key, ns_key in keys:
            reg = _str_child(by_key, reg_key)
            ns = _str_child(by_key, ns_key)
            if reg is not None or ns is not None:
                return reg, ns
    return None, None


# --------------------------------------------------------------------------- one large values file


class _Whole(Exception):
    """A shape :func:`stream_values` leaves to the whole-tree reader (:func:`compose_text`)."""


# a root key's value that is a container: only that the key is there is read
_CONTAINER = Mapping(-1, False, -1, -1)
# root keys the detector reads (the root's own image map, an image string, the registry keys
# images below take from an ancestor), and those the sources and the Bitnami flag read
_ROOT_READ = _MAP_HINT_KEYS | {"image", "name"} | _SHARED_KEYS
_ROOT_KEEP = _ROOT_READ | {"global", "kind", "apiVersion"}
_HELMFILE_KEYS = frozenset(("releases", "repositories", "helmDefaults", "environments", "bases"))


class _Survey:
    """What the first pass keeps of one document (see :func:`stream_values`)."""

    __slots__ = ("root", "pairs", "by_key", "kept", "step", "probe")

    def __init__(self, root):
        self.root = root  # the document's Scalar, or its root Mapping with no pairs
        self.pairs: dict[int, tuple] = {}  # entry index -> (key, value): root scalars kept, ``global``
        self.by_key: dict = {}  # the root's keys the detector reads -> scalar (or _CONTAINER)
        self.kept: set[int] = set()  # entries composed whole: an alias, or an anchor some alias uses
        self.step = -1  # the first entry that shows the indentation step (yaml_edit.indent_step)
        self.probe = Mapping(0, False, 0, 0)  # ``kind``/``apiVersion``, for sources.kind_of


def _scalar(ev, inflow: bool = False) -> Scalar:
    sm = ev.start_mark
    node = Scalar(
        ev.value,
        ev.style or "",
        sm.index,
        ev.end_mark.index,
        ev.anchor is not None or ev.ctag is not None,
        sm.line,
        sm.column,
    )
    if node.style == "|" or node.style == ">":
        _block_value(node)
    node.inflow = inflow
    return node


def _container(first, it, anchors, aliased, count: list):
    """The node of the container ``first`` starts, from the events of ``it`` (as :func:`compose`
    makes it).  ``count[0]``: anchors defined so far; only those in ``aliased`` are remembered.
    ``anchors`` None: an anchor or an alias inside raises :class:`_Whole`."""
    from ruamel.yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent

    stack: list = []
    pending: list = []
    ev = first
    while True:
        cls = ev.__class__
        if cls is ScalarEvent:
            node = _scalar(ev)
            if ev.anchor is not None:
                if anchors is None:
                    raise _Whole
                count[0] += 1
                if count[0] in aliased:
                    anchors[ev.anchor] = node
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            sm = ev.start_mark
            node = (Mapping if cls is MappingStartEvent else Sequence)(
                sm.index, bool(ev.flow_style), sm.line, sm.column
            )
            if ev.anchor is not None:
                if anchors is None:
                    raise _Whole
                count[0] += 1
                if count[0] in aliased:
                    anchors[ev.anchor] = node
            stack.append(node)
            pending.append(None)
            ev = next(it)
            continue
        elif cls is AliasEvent:
            if anchors is None:
                raise _Whole
            node = anchors[ev.anchor]
            if node.__class__ is Scalar:
                node.aliased = True
        else:  # the end of a mapping or a sequence
            node = stack.pop()
            pending.pop()
            node.end = ev.end_mark.index
            if not stack:
                return node
        parent = stack[-1]
        if parent.flow and node.__class__ is Scalar:
            node.inflow = True
        if parent.__class__ is Sequence:
            parent.items.append(node)
        elif pending[-1] is None:
            pending[-1] = (node,)
        else:
            parent.pairs.append((pending[-1][0], node))
            pending[-1] = None
        ev = next(it)


def _survey(text: str) -> tuple[list[_Survey], set[int]]:
    """Pass 1: each document's root keys, the root scalars the detector reads, the ``global``
    subtree, and which anchors an alias uses -> (surveys, aliased anchors by their count).
    Raises :class:`_Whole` for a shape the stream does not handle."""
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    surveys: list[_Survey] = []
    aliased: set[int] = set()
    count = [0]
    defs: dict[str, tuple[int, int]] = {}  # anchor -> (its count, the entry it is in)
    it = event_stream(text)
    for ev in it:
        cls = ev.__class__
        if cls is DocumentStartEvent:
            defs = {}
            continue
        if cls is ScalarEvent:  # a document that is one scalar
            if ev.anchor is not None:
                count[0] += 1
            surveys.append(_Survey(_scalar(ev)))
            continue
        if cls is not MappingStartEvent:
            if cls is SequenceStartEvent or cls is AliasEvent:
                raise _Whole
            continue
        if ev.anchor is not None:
            raise _Whole
        sm = ev.start_mark
        root = Mapping(sm.index, bool(ev.flow_style), sm.line, sm.column)
        sv = _Survey(root)
        surveys.append(sv)
        flow = root.flow
        special: set[str] = set()
        idx = -1
        while True:
            kev = next(it)
            kc = kev.__class__
            if kc is MappingEndEvent:
                root.end = kev.end_mark.index
                break
            idx += 1
            if kc is not ScalarEvent or kev.anchor is not None or (kev.value == "<<" and not kev.style):
                raise _Whole
            name = kev.value
            if name in _HELMFILE_KEYS:
                special.add(name)
            vev = next(it)
            vc = vev.__class__
            if vc is AliasEvent:
                raise _Whole
            if vc is ScalarEvent:
                if vev.anchor is not None:
                    count[0] += 1
                    defs[vev.anchor] = (count[0], idx)
                if vev.anchor is not None or name in _ROOT_KEEP or _IMAGE_KEY.match(name):
                    key, value = _scalar(kev, flow), _scalar(vev, flow)
                    sv.pairs[idx] = (key, value)
                    if name in _ROOT_READ:
                        sv.by_key[name] = value
                    if name == "kind" or name == "apiVersion":
                        sv.probe.pairs.append((key, value))
                continue
            if name in _ROOT_READ:
                sv.by_key[name] = _CONTAINER
            if name == "global":
                value = _container(vev, it, None, aliased, count)
                sv.pairs[idx] = (_scalar(kev, flow), value)
                first = value.pairs[0][0] if value.__class__ is Mapping and value.pairs else None
                first = (first.line, first.column) if first is not None else None
            else:
                if vev.anchor is not None:
                    count[0] += 1
                    defs[vev.anchor] = (count[0], idx)
                first = None
                depth = 1
                e = None
                while depth:
                    e = next(it)
                    c = e.__class__
                    if first is None:
                        first = e
                    if c is ScalarEvent:
                        if e.anchor is not None:
                            count[0] += 1
                            defs[e.anchor] = (count[0], idx)
                    elif c is MappingStartEvent or c is SequenceStartEvent:
                        depth += 1
                        if e.anchor is not None:
                            count[0] += 1
                            defs[e.anchor] = (count[0], idx)
                    elif c is MappingEndEvent or c is SequenceEndEvent:
                        depth -= 1
                    elif c is AliasEvent:
                        where = defs.get(e.anchor)
                        if where is None:
                            raise _Whole  # an undefined alias: the whole reader says so
                        aliased.add(where[0])
                        sv.kept.add(where[1])
                        sv.kept.add(idx)
                if first.__class__ is MappingEndEvent or first.__class__ is SequenceEndEvent:
                    first = None  # empty
                elif first.__class__ is AliasEvent:
                    first = (-1, -1)  # an alias key sits where its anchor is: not a witness
                else:
                    first = (first.start_mark.line, first.start_mark.column)
            # yaml_edit.indent_step: the first nested block mapping whose first key sits right of
            # and below its key (a block mapping's keys always do)
            if vc is MappingStartEvent and not vev.flow_style and first is not None and sv.step < 0 and not flow:
                if first[0] > kev.start_mark.line and first[1] > kev.start_mark.column:
                    sv.step = idx
                else:
                    raise _Whole
        if "releases" in special and len(special) > 1:
            raise _Whole  # maybe a helmfile (sources.kind_of reads the releases)
    return surveys, aliased


def stream_values(text: str, accept, once: bool | None = None) -> tuple[list, list[Site]] | None:
    """The image sites of a large values text without its whole tree -> ``(docs, sites)``,
    the same sites :func:`find_sites` finds on ``compose_text(text)``; None when the text is
    not for this reader (then compose it whole): a document that ``accept(probe)`` refuses
    (``probe``: a mapping of the root's ``kind`` and ``apiVersion``), a sequence at the root,
    an anchor on the root, a key that is not a plain scalar or a merge key at the root, an
    alias among the root's values or in ``global``, or what libyaml refuses.

    Two passes over the parser's events.  The first (:func:`_survey`) keeps the root's keys
    the detector reads, ``global`` and which anchors some alias uses.  The second composes
    one top-level entry at a time, walks it (:func:`_walk`, the root as its ancestor) and
    drops it: what stays is the sites' own scalars.  ``docs`` are skeletons of the
    documents: each root with only ``global``, its scalars the detector reads, the entries
    that hold an alias or an anchor an alias uses (whole), and the first entry that shows the
    indentation step (its first key only) -- all that :func:`image_positions`,
    :func:`yaml_edit.edit` (the Bitnami flag) and the rewrite read of them.

    A text with no ``&`` (``once`` None) has no anchor, so no alias: one pass
    (:func:`_stream_once`) does, unless ``global`` or a registry key of the root comes after an
    entry that needed it."""
    from ruamel.yaml.error import YAMLError

    try:
        with gc_paused():
            if once if once is not None else "&" not in text:
                return _stream_once(text, accept)
            surveys, aliased = _survey(text)
            if not all(accept(sv.probe) for sv in surveys if sv.root.__class__ is Mapping):
                return None
            return _stream(text, surveys, aliased)
    except (_Whole, YAMLError, RecursionError):
        return None


def _stream(text: str, surveys: list[_Survey], aliased: set[int]) -> tuple[list, list[Site]]:
    """Pass 2 of :func:`stream_values`."""
    from ruamel.yaml.events import (
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    docs: list = []
    sites: list[Site] = []
    count = [0]
    anchors: dict = {}
    d = -1
    it = event_stream(text)
    for ev in it:
        cls = ev.__class__
        if cls is DocumentStartEvent:
            anchors = {}
            continue
        if cls is ScalarEvent:
            d += 1
            if ev.anchor is not None:
                count[0] += 1
            docs.append(surveys[d].root)
            continue
        if cls is not MappingStartEvent:
            continue
        d += 1
        sv = surveys[d]
        root = sv.root
        skel = Mapping(root.start, root.flow, root.line, root.column)
        skel.end = root.end
        docs.append(skel)
        flow = root.flow
        by_key = sv.by_key
        glob = _globals(_Mapping_of([pair for pair in sv.pairs.values() if pair[0].value == "global"]))
        # the root's own sites first, as find_sites walks it: its image map, then its image strings
        site = _map_site(skel, by_key, "", None, 0, (), glob)
        if site is not None:
            site.holder = skel
            sites.append(site)
        for key, value in sv.pairs.values():
            kk = key.value
            if value.__class__ is Scalar:
                if _IMAGE_KEY.match(kk) and value.string is not None and not _is_component(kk, by_key):
                    string_site = _string_site(value, kk, key, by_key, False)
                    string_site.holder = skel
                    sites.append(string_site)
        ancestors = (by_key,)
        seen: set[int] = {id(skel)}
        idx = -1
        while True:
            kev = next(it)
            if kev.__class__ is MappingEndEvent:
                break
            idx += 1
            vev = next(it)
            pair = sv.pairs.get(idx)
            if vev.__class__ is ScalarEvent:
                if vev.anchor is not None:
                    count[0] += 1
                    if count[0] in aliased:
                        anchors[vev.anchor] = pair[1]
                if pair is not None:
                    skel.pairs.append(pair)
                continue
            if pair is not None:  # ``global``, composed by the survey (no anchor or alias in it)
                depth = 1
                while depth:
                    c = next(it).__class__
                    if c is MappingStartEvent or c is SequenceStartEvent:
                        depth += 1
                    elif c is MappingEndEvent or c is SequenceEndEvent:
                        depth -= 1
                skel.pairs.append(pair)
                if pair[1].__class__ is not Scalar:
                    _walk([(pair[1], "global", "global", pair[0].line, ancestors, False)], seen, glob, sites)
                continue
            key = _scalar(kev, flow)
            value = _container(vev, it, anchors, aliased, count)
            whole = idx in sv.kept
            found: list[Site] = []
            _walk([(value, key.value, key.value, key.line, ancestors, False)], seen if whole else set(), glob, found)
            if whole:
                skel.pairs.append((key, value))
            else:
                for site in found:
                    site.holder = None  # (it goes with the entry; image_positions never meets it)
                if idx == sv.step:
                    witness = Mapping(value.start, value.flow, value.line, value.column)
                    witness.end = value.end
                    witness.pairs.append((value.pairs[0][0], LEAN))
                    skel.pairs.append((key, witness))
            for site in found:
                site.lines = tuple(site.lines)  # (a set takes three times the memory)
            sites.extend(found)
    return docs, sites


# root keys whose value the entries below read (as an ancestor's registry, or ``global``)
_ROOT_FOR_ENTRIES = frozenset(k for pair in _ANCESTOR_KEYS for k in pair) | {"global"}


def _stream_once(text: str, accept) -> tuple[list, list[Site]] | None:
    """:func:`stream_values` in one pass, for a text without anchors: what the survey keeps is
    gathered on the way; :class:`_Whole` when ``global`` or a registry key of the root comes
    after an entry that was walked without it (or an alias, which can only be undefined)."""
    from ruamel.yaml.events import (
        AliasEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceStartEvent,
    )

    docs: list = []
    sites: list[Site] = []
    it = event_stream(text)
    for ev in it:
        cls = ev.__class__
        if cls is ScalarEvent:  # a document that is one scalar
            docs.append(_scalar(ev))
            continue
        if cls is not MappingStartEvent:
            if cls is SequenceStartEvent or cls is AliasEvent:
                raise _Whole
            continue
        if ev.anchor is not None:
            raise _Whole
        sm = ev.start_mark
        skel = Mapping(sm.index, bool(ev.flow_style), sm.line, sm.column)
        docs.append(skel)
        flow = skel.flow
        by_key: dict = {}
        ancestors = (by_key,)  # (complete before any entry is walked: see _ROOT_FOR_ENTRIES)
        globals_: list = []
        glob: dict = {}
        probe = Mapping(0, False, 0, 0)
        special: set[str] = set()
        walked = False
        stepped = flow  # the witness of the indentation step is found (none is read in a flow root)
        found: list[Site] = []
        while True:
            kev = next(it)
            kc = kev.__class__
            if kc is MappingEndEvent:
                skel.end = kev.end_mark.index
                break
            if kc is not ScalarEvent or kev.anchor is not None or (kev.value == "<<" and not kev.style):
                raise _Whole
            name = kev.value
            if name in _HELMFILE_KEYS:
                special.add(name)
            if walked and name in _ROOT_FOR_ENTRIES:
                raise _Whole
            vev = next(it)
            vc = vev.__class__
            if vc is AliasEvent:
                raise _Whole
            if vc is ScalarEvent:
                if name in _ROOT_KEEP or _IMAGE_KEY.match(name):
                    key, value = _scalar(kev, flow), _scalar(vev, flow)
                    skel.pairs.append((key, value))
                    if name in _ROOT_READ:
                        by_key[name] = value
                    if name == "kind" or name == "apiVersion":
                        probe.pairs.append((key, value))
                        if len(probe.pairs) > 1 and not accept(probe):
                            return None  # (a large manifest: not read twice to the end)
                    elif name == "global":
                        globals_.append((key, value))
                        glob = _globals(_Mapping_of(globals_))
                continue
            if name in _ROOT_READ:
                by_key[name] = _CONTAINER
            key = _scalar(kev, flow)
            value = _container(vev, it, None, set(), [0])
            witness = None
            if not stepped and vc is MappingStartEvent and not value.flow and value.pairs:
                first = value.pairs[0][0]
                if not (first.line > key.line and first.column > key.column):
                    raise _Whole
                stepped = True
                witness = Mapping(value.start, value.flow, value.line, value.column)
                witness.end = value.end
                witness.pairs.append((first, LEAN))
            here: list[Site] = []
            if name == "global":
                globals_.append((key, value))
                glob = _globals(_Mapping_of(globals_))
                skel.pairs.append((key, value))
                _walk([(value, name, name, key.line, ancestors, False)], set(), glob, here)
            else:
                _walk([(value, name, name, key.line, ancestors, False)], set(), glob, here)
                for site in here:
                    site.holder = None
                if witness is not None:
                    skel.pairs.append((key, witness))
            for site in here:
                site.lines = tuple(site.lines)
            found.extend(here)
            walked = True
        if "releases" in special and len(special) > 1:
            raise _Whole
        if not accept(probe):
            return None
        # the root's own sites come first, as find_sites walks it
        site = _map_site(skel, by_key, "", None, 0, (), glob)
        if site is not None:
            site.holder = skel
            sites.append(site)
        for key, value in skel.pairs:
            kk = key.value
            if value.__class__ is Scalar:
                if _IMAGE_KEY.match(kk) and value.string is not None and not _is_component(kk, by_key):
                    string_site = _string_site(value, kk, key, by_key, False)
                    string_site.holder = skel
                    sites.append(string_site)
        sites.extend(found)
    return docs, sites


def _Mapping_of(pairs: list) -> Mapping:
    node = Mapping(0, False, 0, 0)
    node.pairs = pairs
    return node


# --------------------------------------------------------------------------- text helpers


def value_start(text: str, node: Scalar) -> int:
    """Offset of a scalar's value: past an anchor or tag, and for a one-word block scalar
    (``|-``, ``>``) the word on its content line."""
    i = content_start(text, node)
    if node.style in ("|", ">") and text.startswith(node.value, j := _block_word(text, i)):
        return j
    return i


def block_span(text: str, node: Scalar) -> tuple[int, int] | None:
    """``(start, end)`` of a one-word block scalar's word, when the content is exactly that
    word on the line after the header (then it can be replaced in place), else None."""
    if node.style not in ("|", ">") or not node.value:
        return None
    j = _block_word(text, content_start(text, node))
    end = j + len(node.value)
    if j < 0 or not text.startswith(node.value, j) or end > node.end or text[end : end + 1] not in ("", "\r", "\n"):
        return None
    return j, end


def _block_word(text: str, header: int) -> int:
    """The first non-blank character after a block scalar's header line (-1 when none)."""
    eol = text.find("\n", header)
    if eol < 0:
        return -1
    j = eol + 1
    while j < len(text) and text[j] in " \t":
        j += 1
    return j


def content_start(text: str, node: Scalar) -> int:
    """Offset of a scalar's content, past any anchor (``&a``) or tag (``!t``) before it."""
    i = node.start
    if not node.props:
        return i
    n = node.end
    while i < n:
        ch = text[i]
        if ch in "&!":
            while i < n and text[i] not in " \t\r\n":
                i += 1
        elif ch in " \t\r\n":
            i += 1
        elif ch == "#":
            while i < n and text[i] not in "\r\n":
                i += 1
        else:
            break
    return i


class LineIndex:
    """1-based line/column of character offsets."""

    def __init__(self, text: str):
        from itertools import accumulate

        # offsets just past each "\n", summed in C: len(line) + 1 per line but the last
        self.starts = [0, *accumulate(map((1).__add__, map(len, text.split("\n")[:-1])))]

    def position(self, offset: int) -> tuple[int, int]:
        from bisect import bisect_right

        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1
