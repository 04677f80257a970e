"""kustomize: ``images:`` entries, ``helmCharts[].valuesInline``, inline patches (:mod:`.patches`),
and the files it lists.

``images:`` entries (``name``, ``newName``, ``newTag``, ``digest``) change the images of the
resources whose image *name* is exactly ``name`` (kustomize compares the written strings:
``nginx`` is not ``docker.io/library/nginx``).  An entry deploys ``newName`` (else the
resource's name) with ``newTag``/``digest`` (else the resource's tag).  The rewrite keeps
each overlay deploying what it deployed, from the cache:

- ``newName`` present: it is a reference; it is rewritten like any other (tag and digest kept).
- ``name`` *follows its base*: when a resource of this kustomization (a manifest, or the output
  of a base kustomization after its own ``images:``) names the image ``name`` and the rewrite
  moves that resource to the cache, ``name`` becomes the resource's new name, so that it
  still matches (and, when the base was moved already, ``name`` is moved to match it).
- ``newName`` absent and ``name`` not followed (nothing in the repository names it: a remote
  base, a ``helmCharts`` chart): ``newName: <cache name>`` is inserted after ``name``.

A file or folder the kustomization names (``resources``, ``components``, patches,
generators' files, ``helmCharts`` values files) that does not exist is an error at its
line and column; URLs and remote bases are not followed.
"""

from __future__ import annotations

import os
import stat

from ..reference import InvalidReference, parse
from ..rules import MIRRORED, UNMIRRORED
from ..walker import Mapping, Part, Scalar, Sequence, Site, YAMLSyntaxError, compose, parse_events
from . import KUSTOMIZATION_NAMES, Context, Found, by_key, string, templates, values_sites
from .manifests import container_images


class SourceError(YAMLSyntaxError):
    """Not a YAML error: a source names something that is not there."""


class Insert:
    """Insert ``key: value`` right after the scalar ``after`` (a new line at ``column`` in a
    block mapping, ``, key: value`` in a flow one)."""

    __slots__ = ("after", "key", "value", "column", "flow")

    def __init__(self, after: Scalar, key: str, value: str, column: int, flow: bool):
        self.after = after
        self.key = key
        self.value = value
        self.column = column
        self.flow = flow


def _remote(entry: str) -> bool:
    return (
        "://" in entry or entry.startswith(("github.com/", "gitlab.com/", "bitbucket.org/", "git@")) or "?ref=" in entry
    )


_PATCH_KEYS = frozenset({"patches", "patchesJson6902", "patchesStrategicMerge"})


def find(doc: Mapping, ctx: Context) -> list[Found]:
    keys = by_key(doc)
    base = os.path.dirname(ctx.file) or "."
    _check_paths(keys, base, ctx)
    out: list[Found] = []
    charts = keys.get("helmCharts")
    if charts.__class__ is Sequence:
        for i, chart in enumerate(charts.items):
            inline = by_key(chart).get("valuesInline")
            if inline.__class__ is Mapping:
                out.extend(values_sites(inline, f"helmCharts[{i}].valuesInline", "kustomize"))
    if keys.keys() & _PATCH_KEYS:
        out.extend(patches.find(keys, "", ctx, "kustomize"))
    images = keys.get("images")
    if images.__class__ is Sequence:
        for i, entry in enumerate(images.items):
            found = image_entry(entry, f"images[{i}]", base, ctx, keys)
            if found is not None:
                out.append(found)
    return out


def _check_paths(keys: dict, base: str, ctx: Context) -> None:
    def need(node, what: str, folder_ok: bool = True) -> None:
        value = string(node)
        if value is None or _remote(value):
            return
        path = os.path.join(base, value)
        if os.path.isfile(path) or (folder_ok and os.path.isdir(path)):
            return
        why = "is not a regular file" if os.path.lexists(path) and not os.path.isdir(path) else "not found"
        raise SourceError(f"{what} {value!r} {why}", node.line + 1, node.column + 1)

    for key in ("resources", "bases", "components"):
        seq = keys.get(key)
        if seq.__class__ is Sequence:
            for item in seq.items:
                need(item, key[:-1] if key != "bases" else "base")
    for key in ("patchesStrategicMerge",):
        seq = keys.get(key)
        if seq.__class__ is Sequence:
            for item in seq.items:
                if string(item) and "\n" not in item.value and ":" not in item.value:
                    need(item, "patch", False)
    for key in ("patches", "patchesJson6902"):
        seq = keys.get(key)
        if seq.__class__ is Sequence:
            for item in seq.items:
                need(by_key(item).get("path"), "patch", False)
    for key in ("configMapGenerator", "secretGenerator"):
        seq = keys.get(key)
        if seq.__class__ is Sequence:
            for gen in seq.items:
                g = by_key(gen)
                for list_key in ("files", "envs"):
                    files = g.get(list_key)
                    if files.__class__ is Sequence:
                        for item in files.items:
                            value = string(item)
                            if value is not None:
                                _, eq, rest = value.partition("=")
                                sub = Scalar(
                                    rest if eq else value,
                                    item.style,
                                    item.start,
                                    item.end,
                                    item.props,
                                    item.line,
                                    item.column,
                                )
                                need(sub, f"{key} file", False)
                need(g.get("env"), f"{key} file", False)
    charts = keys.get("helmCharts")
    if charts.__class__ is Sequence:
        for chart in charts.items:
            c = by_key(chart)
            need(c.get("valuesFile"), "helmCharts valuesFile", False)
            extra = c.get("additionalValuesFiles")
            if extra.__class__ is Sequence:
                for item in extra.items:
                    need(item, "helmCharts additionalValuesFiles entry", False)


# --------------------------------------------------------------------------- images


def split_name(image: str) -> str:
    """The name kustomize matches ``images[].name`` against: the image without tag/digest."""
    at = image.find("@")
    if at >= 0:
        image = image[:at]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


_FUTURE: dict[tuple, tuple] = {}  # (id(rules), revert, name) -> (rules, future name)


def future(name: str, rules, revert: bool) -> str:
    """The name a rewrite gives an image named ``name`` (itself when it stays); remembered per
    rules: a repository's kustomizations name the same images again and again."""
    key = (id(rules), revert, name)
    hit = _FUTURE.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    moved = _future(name, rules, revert)
    _FUTURE[key] = (rules, moved)
    return moved


def _future(name: str, rules, revert: bool) -> str:
    try:
        status, upstream, target = rules.classify(parse(name))
    except (InvalidReference, TypeError, KeyError):
        return name
    if revert:
        if status == MIRRORED and upstream.host != rules.registry:
            return upstream.name
        return name
    if status == UNMIRRORED and target is not None:
        return target.name
    return name


def image_entry(
    entry, path: str, base: str | None, ctx: Context, kkeys: dict | None = None, source: str = "kustomize"
) -> Found | None:
    """One ``images:`` entry.  ``base``: the folder of the kustomization whose resources it
    matches (None: none in this repository); ``kkeys``: that kustomization's document when
    the entry is its own.  A Flux ``Kustomization``'s ``spec.images`` are entries of the
    kustomization at its ``spec.path`` (``source="flux"``)."""
    if entry.__class__ is not Mapping:
        return None
    keys = by_key(entry)
    name = keys.get("name")
    if string(name) is None:
        return None
    name_key = next(k for k, v in entry.items() if v is name)
    new_name = keys.get("newName")
    new_name = new_name if string(new_name) is not None else None
    tag = keys.get("newTag")
    digest = keys.get("digest")
    main = new_name if new_name is not None else name
    site = Site(
        path=f"{path}.{'newName' if new_name is not None else 'name'}",
        kind="map",
        names=[Part(main, "name", key="newName" if new_name is not None else "name")],
    )
    if string(tag) is not None:
        site.tag = Part(tag, "tag", key="newTag")
    if string(digest) is not None:
        site.digest = Part(digest, "digest", key="digest")
    site.key_line = entry.line
    site.lines = {p.node.line for p in (*site.names, site.tag, site.digest) if p is not None} | {name.line, entry.line}

    def adjust(status, upstream, target, hint, edits):
        incoming = resolved(base, ctx, kkeys, generate=source == "flux") if base is not None else []
        n = name.value
        follows = {a for b, a in incoming if b == n and a != n}
        moved = future(n, ctx.rules, ctx.revert)
        if not follows and moved != n and any(b == moved for b, _ in incoming):
            follows = {moved}  # the base was moved already: match it again
        if len(follows) > 1:
            return (
                "ambiguous",
                upstream,
                None,
                f"{n!r} matches images that move to different names: {', '.join(sorted(follows))}",
                [],
                [],
            )
        follow = follows.pop() if follows else None
        out_edits = [(node, value) for node, value in edits if node is not name]
        inserts = []
        if follow is not None:
            out_edits.append((name, follow))
            if status == MIRRORED and not ctx.revert:
                # the entry deploys the cache, but no longer (or soon will not) match its base:
                # the file must change, so ``check`` says so as ``rewrite --check`` does
                status, target = UNMIRRORED, parse(site.written())
                hint = f"images[].name must become {follow!r} to match its base"
        elif new_name is None and edits and not ctx.revert:
            value = next(v for node, v in edits if node is name)
            inserts.append(Insert(name, "newName", value, name_key.column, entry.flow))
            out_edits = []
        elif new_name is None:
            out_edits = []
        return status, upstream, target, hint, out_edits, inserts

    return Found(site, source, adjust)


# --------------------------------------------------------------------------- resources

_RESOLVED: dict[tuple, list[tuple[str, str]]] = {}


def resolved(folder: str, ctx: Context, keys: dict | None = None, generate: bool = False) -> list[tuple[str, str]]:
    """``(name now, name after the rewrite)`` of every container image the resources of the
    kustomization in ``folder`` give it (its ``images:`` not applied).  ``keys``: the
    kustomization's document, when the caller has it.  ``generate``: a folder without one is
    read as Flux generates it (:func:`_generated`)."""
    key = (os.path.abspath(folder), id(ctx.rules), ctx.revert, generate)
    if key not in _RESOLVED:
        if generate and keys is None and _kustomization_file(folder) is None:
            _RESOLVED[key] = _generated(folder, ctx)
        else:
            _RESOLVED[key] = _incoming(folder, ctx, set(), keys)
    return _RESOLVED[key]


def clear_cache() -> None:
    _RESOLVED.clear()
    _IMAGES.clear()
    _FUTURE.clear()


def _read(path: str) -> str | None:
    """A resource's text (strict UTF-8, as the scan reads it), or None.  (Not through
    ``files``: ``files`` finds manifests with ``sources.detect``, which loads this package.)"""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None  # symbolic links are never followed; a FIFO would block
    except OSError:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        return data.decode("utf-8") if b"\x00" not in data else None
    except (OSError, UnicodeDecodeError):
        return None


def _read_docs(path: str, ctx: Context) -> list:
    text = _read(path)
    if text is None:
        return []
    text = text[1:] if text.startswith("\ufeff") else text
    try:
        return compose(parse_events(templates.mask(text)[0]))
    except YAMLSyntaxError:
        return []


_IMAGES: dict[str, tuple[int, list[str]]] = {}  # real path -> (hash of its text, image names)


def remember(file: str, text: str, images: list[str]) -> None:
    """Keep the container images of a manifest the scan has parsed anyway, so that a
    kustomization listing it does not parse it again (the scan reads a folder's files one
    after another)."""
    _IMAGES[os.path.abspath(file)] = (hash(text), [split_name(image) for image in images])


def _image_names(path: str, ctx: Context) -> list[str]:
    text = _read(path)
    if text is None:
        return []
    text = text[1:] if text.startswith("\ufeff") else text
    real = os.path.abspath(path)
    hit = _IMAGES.get(real)
    if hit is not None and hit[0] == hash(text):
        return hit[1]
    if "ontainers" not in text:
        return []  # no container list, no image kustomize would change
    try:
        docs = compose(parse_events(templates.mask(text)[0]))
    except YAMLSyntaxError:
        docs = []
    names = [split_name(img.value) for doc in docs for img in container_images(doc)]
    _IMAGES[real] = (hash(text), names)
    return names


def _kustomization_file(folder: str) -> str | None:
    for name in sorted(KUSTOMIZATION_NAMES):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _incoming(folder: str, ctx: Context, stack: set, keys: dict | None = None) -> list[tuple[str, str]]:
    real = os.path.realpath(folder)
    if real in stack:
        return []
    stack = stack | {real}
    if keys is None:
        kfile = _kustomization_file(folder)
        if kfile is None:
            return []
        docs = _read_docs(kfile, ctx)
        keys = by_key(docs[0]) if docs else {}
    out: list[tuple[str, str]] = []
    for list_key in ("resources", "bases", "components"):
        seq = keys.get(list_key)
        if seq.__class__ is not Sequence:
            continue
        for item in seq.items:
            value = string(item)
            if value is None or _remote(value):
                continue
            path = os.path.join(folder, value)
            try:
                mode = os.lstat(path).st_mode  # one system call for islink, isdir and isfile
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue  # never followed
            if stat.S_ISDIR(mode):
                out.extend(_output(path, ctx, stack))
            elif stat.S_ISREG(mode):
                for n in _image_names(path, ctx):
                    out.append((n, future(n, ctx.rules, ctx.revert)))
    return out


def _output(folder: str, ctx: Context, stack: set) -> list[tuple[str, str]]:
    """The images a base kustomization outputs: its incoming ones after its ``images:``."""
    incoming = _incoming(folder, ctx, stack)
    kfile = _kustomization_file(folder)
    docs = _read_docs(kfile, ctx) if kfile else []
    images = by_key(docs[0]).get("images") if docs else None
    if images.__class__ is not Sequence:
        return incoming
    entries = {}
    for entry in images.items:
        k = by_key(entry)
        if string(k.get("name")) is not None:
            # an entry matches its base as it is, or as the rewrite leaves it (when the base
            # was rewritten first, the entry is made to follow it: see ``image_entry``)
            name = k["name"].value
            entries.setdefault(future(name, ctx.rules, ctx.revert), string(k.get("newName")))
            entries[name] = string(k.get("newName"))
    out = []
    for before, after in incoming:
        if before in entries:
            new = entries[before]
            if new is not None:
                out.append((new, future(new, ctx.rules, ctx.revert)))
            else:
                out.append((before, future(before, ctx.rules, ctx.revert)))
        else:
            out.append((before, after))
    return out


def _generated(folder: str, ctx: Context) -> list[tuple[str, str]]:
    """A folder without a kustomization, as Flux's kustomize-controller builds it (fluxcd/pkg
    ``kustomize.Generator``): every ``.yaml``/``.yml`` file below it is a resource, and a
    sub-folder holding a kustomization is a resource of its own (not descended into).
    Symbolic links are not followed."""
    out: list[tuple[str, str]] = []
    for here, dirs, files in os.walk(folder):
        keep = []
        for d in sorted(dirs):
            sub = os.path.join(here, d)
            if os.path.islink(sub):
                continue
            if _kustomization_file(sub) is not None:
                out.extend(_output(sub, ctx, {os.path.realpath(folder)}))
            else:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                for n in _image_names(os.path.join(here, name), ctx):
                    out.append((n, future(n, ctx.rules, ctx.revert)))
    return out


from . import patches  # noqa: E402  (it reads manifests' container lists too)
