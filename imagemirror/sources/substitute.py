"""Flux post-build variable substitution (``spec.postBuild`` of a Flux ``Kustomization``).

kustomize-controller builds ``spec.path``, then runs ``envsubst`` over every resource it built
(fluxcd/pkg ``kustomize.SubstituteVariables``, ``github.com/drone/envsubst``), unless the
resource is labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled``.  The
variables are those of ``spec.postBuild.substituteFrom`` (ConfigMaps and Secrets, in order, a
later one winning), then ``spec.postBuild.substitute`` (winning over them); line breaks are
removed from the values.  Substitution runs only when there is at least one variable.
``${var}`` is the value (an unset variable is the empty string, or an error when Flux runs
with strict substitution); ``${var:=default}``, ``${var:-default}`` (and ``=`` / ``-``) the
default when the value is empty.

An image reference written with ``${...}`` in a file that a Flux ``Kustomization`` with
``postBuild`` builds is resolved with what the repository says:

- inline ``substitute`` values, the defaults written in the reference, and ConfigMaps of the
  repository (a ``ConfigMap`` manifest's ``data``, a kustomize ``configMapGenerator``'s
  ``literals`` and ``envs`` files) named in ``substituteFrom``;
- a variable set nowhere in the repository while a Secret or a ConfigMap outside it may set it
  (or not set at all, or an expression other than the four above) is *unresolved*: ``check``
  fails on it (IM011) and names the variable and where it would come from.

The resolved reference is classified.  ``rewrite`` edits the text of the reference where the
change falls (a literal part, or the default inside ``${var:=...}``); a change that falls on a
variable set in a ``substitute:`` of another file is reported with the value to set there.
Pure but for reading the repository's Flux Kustomizations and ConfigMaps (cached per run).
"""

from __future__ import annotations

import os
import re

from ..walker import Mapping, Scalar, Sequence, Site, YAMLSyntaxError, compose, parse_events
from . import Context, Found, by_key, local_folder, string, templates

UNRESOLVED = "unresolved"
DISABLED = "disabled"
ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"
_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPS = (":=", ":-", "=", "-")


class Token:
    """One part of a reference's text: a literal, or a ``${name[op default]}`` expression."""

    __slots__ = ("start", "end", "name", "default", "dstart")

    def __init__(self, start: int, end: int, name: str | None = None, default: str | None = None, dstart: int = -1):
        self.start = start
        self.end = end
        self.name = name  # None: a literal
        self.default = default
        self.dstart = dstart  # offset of the default's first character


def tokens(text: str) -> list[Token] | None:
    """The text cut into literals and expressions, or None when a ``$`` starts anything else
    (``$var``, ``$${...}``, ``${var/a/b}``, nested ``${}``: not resolved here)."""
    out: list[Token] = []
    pos = 0
    lit = 0
    while True:
        i = text.find("$", pos)
        if i < 0:
            break
        if not text.startswith("${", i):
            return None
        m = _NAME.match(text, i + 2)
        if m is None:
            return None
        j = m.end()
        default = None
        dstart = -1
        if text.startswith("}", j):
            end = j + 1
        else:
            op = next((o for o in _OPS if text.startswith(o, j)), None)
            if op is None:
                return None
            dstart = j + len(op)
            close = text.find("}", dstart)
            if close < 0 or "$" in text[dstart:close] or "{" in text[dstart:close]:
                return None
            default = text[dstart:close]
            end = close + 1
        if i > lit:
            out.append(Token(lit, i))
        out.append(Token(i, end, m.group(), default, dstart))
        pos = lit = end
    if lit < len(text):
        out.append(Token(lit, len(text)))
    return out


class Origin:
    """Where a variable's value is written: ``where`` for people, ``node`` when it is a
    scalar of an inline ``substitute`` (in ``file``)."""

    __slots__ = ("value", "where", "file", "node")

    def __init__(self, value: str, where: str, file: str | None = None, node: Scalar | None = None):
        self.value = value
        self.where = where
        self.file = file
        self.node = node


class Subst:
    """One Flux Kustomization with ``postBuild``: its variables and what it builds."""

    __slots__ = ("file", "line", "vars", "unknown", "files")

    def __init__(self, file: str, line: int):
        self.file = file
        self.line = line
        self.vars: dict[str, Origin] = {}
        self.unknown: list[str] = []  # sources of variables not in the repository
        self.files: set[str] = set()  # real paths of the files it builds


# --------------------------------------------------------------------------- the repository

_INDEX: dict[str, tuple[dict, list[Subst]]] = {}  # root -> (the files it read: their stamps, the index)


def clear_cache() -> None:
    _INDEX.clear()


def _root(file: str) -> str | None:
    here = os.path.dirname(os.path.abspath(file))
    while True:
        if os.path.exists(os.path.join(here, ".git")) or os.path.exists(os.path.join(here, ".imagemirror.yaml")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _read(path: str) -> str | None:
    if os.path.islink(path) or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text[1:] if text.startswith("\ufeff") else text


def _docs(text: str) -> list:
    try:
        return compose(parse_events(templates.mask(text)[0]))
    except YAMLSyntaxError:
        return []


def _yaml_files(root: str):
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(here, d)))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) or name == "Kustomization":
                yield os.path.join(here, name)


def _env_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value
    return out


def index(root: str) -> list[Subst]:
    """Every Flux Kustomization under ``root`` (with ``postBuild``: its variables, resolved
    against the ConfigMaps the repository writes or generates; without: none)."""
    hit = _INDEX.get(root)
    if hit is not None and all(_stamp(path) == stamp for path, stamp in hit[0].items()):
        return hit[1]
    read: dict[str, tuple] = {}
    flux: list[tuple[str, Mapping, dict]] = []
    configmaps: dict[str, dict[str, str]] = {}
    for path in _yaml_files(root):
        text = _read(path)
        if text is None:
            continue
        flux_file = "kustomize.toolkit.fluxcd.io" in text  # (those without postBuild: they build, not substitute)
        if not (flux_file or "ConfigMap" in text or "configMapGenerator" in text):
            continue
        read[path] = _stamp(path)
        for doc in _docs(text):
            keys = by_key(doc)
            kind, api = string(keys.get("kind")), string(keys.get("apiVersion")) or ""
            if kind == "Kustomization" and api.startswith("kustomize.toolkit.fluxcd.io/"):
                flux.append((path, doc, by_key(by_key(keys.get("spec")).get("postBuild"))))
            elif kind == "ConfigMap" and api == "v1":
                name = string(by_key(keys.get("metadata")).get("name"))
                data = by_key(keys.get("data"))
                if name:
                    configmaps[name] = {k: v.value for k, v in data.items() if v.__class__ is Scalar}
            gens = keys.get("configMapGenerator")
            if os.path.basename(path) in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
                for gen in gens.items if gens.__class__ is Sequence else ():
                    g = by_key(gen)
                    name = string(g.get("name"))
                    if not name:
                        continue
                    data = configmaps.setdefault(name, {})
                    lits = g.get("literals")
                    for lit in lits.items if lits.__class__ is Sequence else ():
                        if lit.__class__ is Scalar and "=" in lit.value:
                            k, _, v = lit.value.partition("=")
                            data[k] = v
                    envs = g.get("envs")
                    for env in envs.items if envs.__class__ is Sequence else ():
                        if env.__class__ is Scalar:
                            env_path = os.path.join(os.path.dirname(path), env.value)
                            env_text = _read(env_path)
                            read[env_path] = _stamp(env_path)
                            if env_text is not None:
                                data.update(_env_lines(env_text))
    out = []
    for path, doc, post in flux:
        rel = os.path.relpath(path, root)
        subst = Subst(rel, doc.line + 1)
        items = post.get("substituteFrom")
        for item in items.items if items.__class__ is Sequence else ():
            k = by_key(item)
            kind, name = string(k.get("kind")), string(k.get("name"))
            if kind == "ConfigMap" and name in configmaps:
                for var, value in configmaps[name].items():
                    subst.vars[var] = Origin(value.replace("\n", ""), f"ConfigMap {name!r} of this repository")
            elif kind in ("ConfigMap", "Secret") and name:
                optional = string(k.get("optional")) in ("true", "True")
                subst.unknown.append(
                    f"{kind} {name!r}{' (optional)' if optional else ''} (substituteFrom, {rel}:{item.line + 1})"
                )
        inline = post.get("substitute")
        if inline.__class__ is Mapping:
            for key, value in inline.items():
                if key.__class__ is Scalar and value.__class__ is Scalar:
                    subst.vars[key.value] = Origin(
                        value.value.replace("\n", ""),
                        f"postBuild.substitute of {rel}:{value.line + 1}:{value.column + 1}",
                        rel,
                        value,
                    )
        folder = local_folder(string(by_key(by_key(doc).get("spec")).get("path")) or ".", path)
        if folder is not None:
            subst.files = built_files(folder, set())
        out.append(subst)
    _INDEX[root] = (read, out)
    return out


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size)


def _kustomization_file(folder: str) -> str | None:
    for name in ("Kustomization", "kustomization.yaml", "kustomization.yml"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def built_files(folder: str, stack: set) -> set[str]:
    """Real paths of the files a build of ``folder`` reads resources and patches from (a
    folder without a kustomization: every YAML file below it, as kustomize-controller
    generates one)."""
    real = os.path.realpath(folder)
    if real in stack:
        return set()
    stack = stack | {real}
    kfile = _kustomization_file(folder)
    out: set[str] = set()
    if kfile is None:
        for here, dirs, files in os.walk(folder):
            keep = []
            for d in sorted(dirs):
                sub = os.path.join(here, d)
                if os.path.islink(sub):
                    continue
                if _kustomization_file(sub) is not None:
                    out |= built_files(sub, stack)
                else:
                    keep.append(d)
            dirs[:] = keep
            out |= {os.path.realpath(os.path.join(here, n)) for n in files if n.endswith((".yaml", ".yml"))}
        return out
    out.add(os.path.realpath(kfile))
    text = _read(kfile)
    docs = _docs(text) if text is not None else []
    keys = by_key(docs[0]) if docs else {}
    entries: list[str] = []
    for key in ("resources", "bases", "components", "patchesStrategicMerge"):
        seq = keys.get(key)
        for item in seq.items if seq.__class__ is Sequence else ():
            if string(item) and "\n" not in item.value:
                entries.append(item.value)
    for key in ("patches", "patchesJson6902"):
        seq = keys.get(key)
        for item in seq.items if seq.__class__ is Sequence else ():
            if string(by_key(item).get("path")):
                entries.append(by_key(item)["path"].value)
    for entry in entries:
        if "://" in entry or "?ref=" in entry:
            continue
        path = os.path.join(folder, entry)
        if os.path.islink(path):
            continue
        if os.path.isdir(path):
            out |= built_files(path, stack)
        elif os.path.isfile(path):
            out.add(os.path.realpath(path))
    return out


def covering(file: str) -> list[Subst]:
    root = _root(file)
    if root is None:
        return []
    real = os.path.realpath(file)
    return [s for s in index(root) if real in s.files]


# --------------------------------------------------------------------------- resolution


def disabled(doc) -> bool:
    meta = by_key(by_key(doc).get("metadata"))
    return any(string(by_key(meta.get(k)).get(ANNOTATION)) == DISABLED for k in ("annotations", "labels"))


class Resolution:
    __slots__ = ("value", "missing", "origins")

    def __init__(self, value: str, missing: list[str], origins: list):
        self.value = value
        self.missing = missing  # variables the repository does not set
        self.origins = origins  # per token: None (literal), "default", or an Origin


def resolve(text: str, toks: list[Token], subst: Subst) -> Resolution:
    out: list[str] = []
    missing: list[str] = []
    origins: list = []
    for tok in toks:
        if tok.name is None:
            out.append(text[tok.start : tok.end])
            origins.append(None)
            continue
        origin = subst.vars.get(tok.name)
        if origin is not None and origin.value != "":
            out.append(origin.value)
            origins.append(origin)
        elif tok.default is not None and not (origin is None and subst.unknown):
            out.append(tok.default)
            origins.append("default")
        else:
            missing.append(tok.name)
            out.append("")
            origins.append(None)
    return Resolution("".join(out), missing, origins)


def _spans(toks: list[Token], res: Resolution, text: str, subst: Subst) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for tok, origin in zip(toks, res.origins):
        if tok.name is None:
            n = tok.end - tok.start
        elif origin == "default":
            n = len(tok.default or "")
        else:
            n = len(origin.value) if origin is not None else 0  # (None: a missing variable)
        spans.append((pos, pos + n))
        pos += n
    return spans


def retemplate(text: str, toks: list[Token], res: Resolution, new: str, subst: Subst):
    """-> (new text, None, None) when the change from ``res.value`` to ``new`` falls in one
    literal or one default of ``text``; (None, (variable, origin, its new value), None) when it
    falls in a variable's value; else (None, None, why)."""
    old = res.value
    p = 0
    while p < len(old) and p < len(new) and old[p] == new[p]:
        p += 1
    s = 0
    while s < len(old) - p and s < len(new) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    a, b = p, len(old) - s
    spans = _spans(toks, res, text, subst)
    candidates = []
    for i, (lo, hi) in enumerate(spans):
        if lo <= a and b <= hi:
            candidates.append(i)
    # an insertion at a boundary may go to either side: a literal or a default first
    candidates.sort(key=lambda i: 0 if res.origins[i] is None and toks[i].name is None else 1)
    for i in candidates:
        tok, origin = toks[i], res.origins[i]
        lo = spans[i][0]
        if tok.name is None:
            piece = text[tok.start : tok.end]
            return (
                text[: tok.start] + piece[: a - lo] + new[a : len(new) - s] + piece[b - lo :] + text[tok.end :],
                None,
                None,
            )
        if origin == "default":
            piece = tok.default or ""
            start = tok.dstart
            return (
                text[:start] + piece[: a - lo] + new[a : len(new) - s] + piece[b - lo :] + text[start + len(piece) :],
                None,
                None,
            )
    for i in candidates:
        origin = res.origins[i]
        if isinstance(origin, Origin):
            lo = spans[i][0]
            value = origin.value[: a - lo] + new[a : len(new) - s] + origin.value[b - lo :]
            return None, (toks[i].name, origin, value), None
    return None, None, "the change spans several variables"


def _parts(site: Site) -> list:
    return [p for p in (*site.names, site.tag, site.digest) if p is not None]


def substituted(found: list[Found], doc, ctx: Context) -> None:
    """Give the references of ``doc`` written with ``${...}`` the resolution of the Flux
    Kustomizations that build this file (in place: an ``adjust`` step)."""
    substs = None
    built = True
    for item in found:
        site = item.site
        if item.adjust is not None or not any("$" in p.node.value for p in _parts(site)):
            continue
        if disabled(doc):
            return
        if substs is None:
            builders = covering(ctx.file)
            substs = [s for s in builders if s.vars or s.unknown]
            built = bool(builders)
        if substs:
            item.adjust = _adjust(item, substs, ctx)
        elif not built:
            item.adjust = _elsewhere


UNSUBSTITUTED = (
    "no Flux Kustomization of this repository builds this file: a variable substituted elsewhere "
    "(another repository's Flux, envsubst in a pipeline) cannot be checked; resolve it or suppress it"
)


def _elsewhere(status, upstream, target, hint, edits):
    """A ``${...}`` reference no Flux Kustomization of the repository builds: what it pulls is
    decided elsewhere, so it fails closed (unresolved) instead of passing as merely invalid."""
    from ..rules import INVALID

    if status == INVALID:
        return UNRESOLVED, None, None, UNSUBSTITUTED, [], []
    return status, upstream, target, hint, edits, []


class Plan:
    """What one reference resolves to for one Flux Kustomization, and what a rewrite does."""

    __slots__ = ("status", "upstream", "target", "hint", "edits", "why", "variables", "value")

    def __init__(self, status, upstream=None, target=None, hint=None, value=None):
        self.status = status
        self.upstream = upstream
        self.target = target
        self.hint = hint
        self.value = value  # the reference as Flux substitutes it
        self.edits: list = []  # (scalar of this file, new value)
        self.why: str | None = None  # why a change is not made here
        self.variables: list = []  # (name, Origin, new value): changes to a variable's value


def plan(site: Site, subst: Subst, ctx: Context) -> Plan:
    from ..inventory import classify_site  # (the inventory imports this package)
    from ..walker import Part

    resolved: dict[int, tuple] = {}  # id(part) -> (tokens, resolution)
    for part in _parts(site):
        text = part.node.value
        if "$" not in text:
            continue
        toks = tokens(text)
        if toks is None:
            return Plan(
                UNRESOLVED, hint=f"{text!r}: a substitution Flux makes ({subst.file}) that is not resolved here"
            )
        res = resolve(text, toks, subst)
        if res.missing:
            names = ", ".join(f"${{{name}}}" for name in dict.fromkeys(res.missing))
            if subst.unknown:
                whence = f"it may come from {' or '.join(subst.unknown)}"
            else:
                whence = "it is set nowhere, so Flux substitutes an empty string"
            return Plan(UNRESOLVED, hint=f"{names} not set in the repository for {subst.file}: {whence}")
        resolved[id(part)] = (toks, res)
    probes: dict[int, tuple] = {}  # id(probe node) -> (original part, tokens, resolution)

    def probe(part):
        if part is None:
            return None
        node = part.node
        toks, res = resolved.get(id(part), (None, None))
        value = res.value if res is not None else node.value
        copy = Scalar(value, node.style, node.start, node.end, node.props, node.line, node.column)
        probes[id(copy)] = (part, toks, res)
        return Part(copy, part.role, part.shared, part.key)

    psite = Site(site.path, site.kind, [probe(p) for p in site.names], probe(site.tag), probe(site.digest))
    psite.key_line = site.key_line
    st, up, tg, hn, ed = classify_site(psite, ctx.rules, ctx.revert)
    out = Plan(st, up, tg, "; ".join(x for x in (f"Flux substitutes {psite.written()} ({subst.file})", hn) if x))
    out.value = psite.written()
    for pnode, value in ed:
        part, toks, res = probes[id(pnode)]
        if res is None:
            out.edits.append((part.node, value))
            continue
        new_text, var, why = retemplate(part.node.value, toks, res, value, subst)
        if var is not None:
            out.variables.append(var)
            name, origin, new_value = var
            if origin.node is None:
                out.why = f"set {name} to {new_value!r} in {origin.where}"
            else:  # the Flux Kustomization's own analysis edits it (see ``value_sites``)
                out.why = f"the rewrite of {origin.file} sets {name} to {new_value!r}"
        elif new_text is not None:
            again = tokens(new_text)
            if again is None or resolve(new_text, again, subst).value != value:
                out.why = "the new text would not substitute to the target"
            else:
                out.edits.append((part.node, new_text))
        else:
            out.why = why
    if out.why is not None:
        out.edits = []
    return out


def _adjust(item: Found, substs: list[Subst], ctx: Context):
    from ..rules import AMBIGUOUS

    def adjust(status, upstream, target, hint, edits):
        plans = [plan(item.site, subst, ctx) for subst in substs]
        for p in plans:
            if p.status == UNRESOLVED:
                return p.status, None, None, p.hint, [], []
        if len({p.value for p in plans}) > 1:
            where = ", ".join(f"{s.file} ({p.value})" for s, p in zip(substs, plans))
            return AMBIGUOUS, None, None, f"resolves differently for {where}", [], []
        p = plans[0]
        item.resolved = p.value
        if p.why is not None and p.target is not None:
            # (no note when the Flux Kustomization's own rewrite makes the change: see ``value_sites``)
            item.why = "" if p.variables and all(o.node is not None for _, o, _ in p.variables) else p.why
            return p.status, p.upstream, p.target, f"{p.hint}; not rewritten here: {p.why}", [], []
        return p.status, p.upstream, p.target, p.hint, p.edits, []

    return adjust


def value_sites(doc, ctx: Context) -> list[Found]:
    """The inline ``postBuild.substitute`` values of this Flux Kustomization that a rewrite
    changes: each value the images it composes (in the files the Kustomization builds) need
    changed, when the change falls on that value.  Two images needing two values: ambiguous."""

    inline = by_key(by_key(by_key(doc).get("spec")).get("postBuild")).get("substitute")
    if inline.__class__ is not Mapping:
        return []
    root = _root(ctx.file)
    if root is None:
        return []
    rel = os.path.relpath(os.path.abspath(ctx.file), root)
    subst = next((s for s in index(root) if s.file == rel and s.line == doc.line + 1), None)
    if subst is None or not subst.files or (rel, subst.line) in _ACTIVE:
        return []  # (a Kustomization that builds its own file: read once)
    _ACTIVE.add((rel, subst.line))
    try:
        return _value_sites(subst, inline, root, ctx)
    finally:
        _ACTIVE.discard((rel, subst.line))


_ACTIVE: set[tuple[str, int]] = set()


def _value_sites(subst: Subst, inline: Mapping, root: str, ctx: Context) -> list[Found]:
    from . import find as find_sites
    from ..rules import AMBIGUOUS
    from ..walker import Part

    nodes = {k.value: v for k, v in inline.items() if k.__class__ is Scalar and v.__class__ is Scalar}
    needs: dict[str, list] = {}
    for path in sorted(subst.files):
        text = _read(path)
        if text is None or "${" not in text:
            continue
        shown = os.path.relpath(path, root)
        sub_ctx = Context(path, text, ctx.rules, ctx.revert)
        for found in find_sites(_docs(text), sub_ctx):
            site = found.site
            if found.adjust is None or not any("${" in p.node.value for p in _parts(site)):
                continue  # (``substituted`` gave every one Flux substitutes an adjust step)
            p = plan(site, subst, ctx)
            node = site.main.node
            for name, origin, value in p.variables:
                if origin.node is not None and name in nodes and origin.file == subst.file:
                    where = f"{shown}:{node.line + 1}:{node.column + 1}"
                    needs.setdefault(name, []).append((value, p.status, p.upstream, p.target, where))
    out = []
    for name, items in needs.items():
        node = nodes[name]
        site = Site(path=f"spec.postBuild.substitute.{name}", kind="string", names=[Part(node, "name", key=name)])
        site.key_line = node.line
        site.lines = {node.line}
        out.append(Found(site, "flux", _value_adjust(node, items, AMBIGUOUS)))
    return out


def _value_adjust(node: Scalar, items: list, ambiguous: str):
    def adjust(status, upstream, target, hint, edits):
        values = sorted({v for v, *_ in items})
        where = ", ".join(w for *_, w in items)
        if len(values) > 1:
            return ambiguous, None, None, f"the images it composes need different values ({where})", [], []
        value, st, up, tg, _ = items[0]
        return st, up, tg, f"Flux substitutes it into {where}", [(node, value)], []

    return adjust
