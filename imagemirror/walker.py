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
    __slots__ = ("value", "style", "start", "end", "props", "line", "column", "inflow")

    def __init__(self, value, style, start, end, props, line, column):
        self.inflow = False  # inside a flow collection: a plain ':' needs quoting there
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
        """The value when it is a usable non-empty one-line string, else None."""
        if self.style in ("|", ">") or self.is_null or not self.value:
            return None
        return self.value


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


def compose(evts) -> list:
    """Light nodes for each document (aliases share the anchored node)."""
    with gc_paused():
        return _compose(evts)


def _compose(evts) -> list:
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
            if ev.anchor is not None:
                anchors[ev.anchor] = node
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            sm = ev.start_mark
            node = (Mapping if cls is MappingStartEvent else Sequence)(sm.index, bool(ev.flow_style), sm.line, sm.column)
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
        if parent.flow and node.__class__ is Scalar:
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

    __slots__ = ("path", "kind", "names", "tag", "digest", "key_line", "ambiguous", "lines")

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
        out = "/".join(p.node.value for p in self.names)
        if self.tag is not None:
            out += ":" + self.tag.node.value
        if self.digest is not None and self.digest.node.value not in out:
            out += "@" + normalise_digest(self.digest.node.value)
        return out


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
        seen: set[int] = set()
        # (container, path, parent key, its line, ancestors' item dicts, in-sequence);
        # only containers are pushed: a scalar is looked at from its mapping
        stack = [(root, "", None, 0, (), False)]
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
                sites.append(site)
            children = []
            below = None  # ancestors + (by_key,), made once for all the children
            for k, v in items:
                if k.__class__ is not Scalar:
                    continue
                kk = k.value
                if v.__class__ is Scalar:
                    if _IMAGE_KEY.match(kk) and v.string is not None and not _is_component(kk, by_key):
                        sites.append(_string_site(v, f"{path}.{kk}" if path else kk, k, by_key, in_seq))
                else:
                    if below is None:
                        below = ancestors + (by_key,)
                    children.append((v, f"{path}.{kk}" if path else kk, kk, k.line, below, False))
            children.reverse()
            stack.extend(children)
    return sites


def _is_component(key: str, by_key: dict) -> bool:
    """``image: name`` beside ``tag``/``registry``/... is a part of a map, not a reference."""
    return key == "image" and any(k in by_key for k in _MAP_HINT_KEYS if k != "pullPolicy")


def _string_site(node: Scalar, path: str, key: Scalar, by_key: dict, in_seq: bool) -> Site:
    site = Site(path=path, kind="string", names=[Part(node, "name", key=path.rsplit(".", 1)[-1])], key_line=key.line)
    site.lines = {key.line, node.line}
    value = node.value
    # a lone untagged word outside a container spec may be a name the chart composes
    # with a hub/registry of its own (istio's ``image: pilot``): don't guess.
    if "/" not in value and ":" not in value and "@" not in value and not in_seq and "name" not in by_key and "{{" not in value:
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
        if not (image_key or hinted):
            return None
        names.append(Part(repository, "name", key="repository"))
        if image is not None:
            names.append(Part(image, "name", key="image"))
        kind_of_name = "repository"
    elif image is not None:
        names.append(Part(image, "name", key="image"))
        kind_of_name = "image"
    elif name is not None and image_key and ("repository" in by_key or "tag" in by_key or "registry" in by_key or _ancestor_registry(ancestors)):
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
            f"'{first.value}' names a host, but global.imageRegistry is set: "
            "a chart that honours it would prepend it"
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


# registry / namespace keys a level (or more) above ``{name: ...}`` image maps:
# cert-manager (imageRegistry, imageNamespace), strimzi (defaultImageRegistry, defaultImageRepository)
_ANCESTOR_KEYS = (("imageRegistry", "imageNamespace"), ("defaultImageRegistry", "defaultImageRepository"))


def _ancestor_registry(ancestors) -> tuple[Scalar | None, Scalar | None]:
    for by_key in reversed(ancestors):
        for reg_key, ns_key in _ANCESTOR_KEYS:
            reg = _str_child(by_key, reg_key)
            ns = _str_child(by_key, ns_key)
            if reg is not None or ns is not None:
                return reg, ns
    return None, None


# --------------------------------------------------------------------------- text helpers


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
