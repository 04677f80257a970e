"""Image sites + rules -> classified references and the scalar edits a rewrite needs; and
the one seam for where references come from (:class:`Source`, :func:`scan`).

``analyse``/``scan_text`` are pure: text in, records and planned edits out.  ``scan`` runs a
source; the default source, :class:`ValuesText`, is the thin file-reading edge (parallel
across files for large inputs).

Sources
-------
A source decides where references come from; every command (``list``, ``check``, ``warm``,
``rewrite``) runs one and never detects images itself.  ``--effective`` picks
:class:`imagemirror.charts.source.EffectiveSource` (each release's merged chart values)
instead of :class:`ValuesText` (the text of the values files).  To add one (a Helm render,
plain manifests, kustomize, Argo CD, Flux, helmfile), implement the protocol:

- ``kind`` -- a short name (``"values"``, ``"effective"``, ``"render"``, ``"kustomize"``...),
  copied into :attr:`ImageRef.source` of what it yields.
- ``scan(paths, settings, jobs) -> Scan`` -- every reference under ``paths`` as
  :class:`~imagemirror.model.ImageRef` records (file, line, column, path, written, upstream,
  status, target, hint; ``context`` for the release that pulls it), grouped in
  :class:`~imagemirror.model.FileResult` records; a file that cannot be handled is a result with
  its ``error`` (``FileError``: file:line:column and a message), never an exception.
  Classification is the core's: call :func:`classify_site` on walker sites or
  :func:`scan_text` on a YAML text, so statuses and targets agree everywhere.  Suppression is
  the core's too: pass the text you read to :func:`imagemirror.suppress.annotate` (
  :func:`scan_text` does).  Notes for people go in ``Scan.notes``, never to a stream.
- ``files(paths, settings) -> (targets, problems, notes)`` -- the files ``rewrite`` edits,
  as ``(path, display name)``.
- ``plan(path, display, text, settings)`` -- for ``rewrite``: what this source adds to the
  core's own edits of ``text`` (the file's content after them), or None.  The answer is an
  object with ``assignments`` (key path -> value, for the YAML edit engine), ``notes``,
  ``settled`` (``{path: ImageRef}``: references the text alone left undecided, as the
  source resolved them) and ``verify(new_text)`` (raises ``FileError`` unless the edited text
  gives what the plan promised).  Sources that cannot move what they find return None.
- ``parallel`` -- whether ``rewrite`` may plan files in worker processes (False when a plan
  reads other files, e.g. a release's other values layers).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from typing import Sequence as Seq

from .config import Settings
from .errors import FileError
from .files import discover, read_text
from .model import FileResult, ImageRef
from .parallel import map_files
from .reference import InvalidReference, Reference, canonical_host, parse
from .rules import AMBIGUOUS, INVALID, MIRRORED, NO_RULE, TEMPLATED, UNMIRRORED, Rules, is_bitnami
from . import sources
from .sources import templates
from .sources.kustomize import SourceError
from .sources.related import scan_related
from .suppress import annotate, ignore_directives, is_ignored
from .walker import (
    LineIndex,
    Scalar,
    Site,
    YAMLSyntaxError,
    compose,
    compose_text,
    event_stream,
    gc_paused,
    image_positions,
    parse_events,
    stream_values,
    value_start,
)

# Texts from this size on are read by walker.stream_values when they are plain values files:
# memory then follows the largest top-level entry, not the file (issue 14: 40x a 200 MB file).
STREAM_FROM = 1 << 20


@lru_cache(maxsize=4096)
def _parse(text: str) -> Reference:
    """:func:`reference.parse`, cached: a repository names the same images in many files.

    Pure and the result is frozen, so sharing it is safe; an invalid reference raises each time.
    """
    return parse(text)


class Analysis:
    """Everything the rewrite needs to know about one text.

    (A plain slotted class, not a dataclass: ``check`` imports this at start-up.)
    """

    __slots__ = (
        "text",
        "events",
        "docs",
        "refs",
        "edits",
        "bitnami_relocated",
        "notes",
        "inserts",
        "embedded",
        "masked",
        "valuesfrom",
        "pure",
        "unedited",
        "prepared",
        "raw",
        "counted",
    )

    def __init__(self, text: str, events: list, docs: list):
        self.text = text  # without BOM
        self.events = events  # a list when given, else read again when needed (old_events)
        self.pure = False  # libyaml refused the text: the pure parser read it
        self.docs = docs
        self.refs: list[ImageRef] = []
        self.edits: dict[int, tuple[Scalar, str]] = {}  # id(node) -> new value
        self.bitnami_relocated = False
        self.unedited: list[ImageRef] = []  # refs a rewrite would fix that are left as written
        self.notes: list[str] = []
        self.inserts: list = []  # sources.kustomize.Insert: keys a rewrite adds
        self.embedded: list = []  # sources.embedded.Embedded: strings holding YAML, edited inside
        self.masked = False  # parsed with Go templates masked (sources.templates)
        self.valuesfrom: list = []  # Flux valuesFrom items, resolved against the repository by the scan
        # ``analyse(prepare=True)`` on a streamed file: the scalar edits as the edit engine's
        # (replacements, expected scalars) instead of ``edits`` (yaml_edit.plan_scalar): the
        # nodes are let go with their sites
        self.prepared: tuple[list, dict] | None = None
        self.raw: bytes | None = None  # the text's UTF-8 bytes, when the caller has them (read, not copied)
        self.counted = False  # ``analyse(count=...)`` was given each record: ``refs`` and ``unedited`` stay empty

    def old_events(self):
        """The text's events again, one at a time (the C parser, or the pure one's list)."""
        if self.events is not None:
            return iter(self.events)
        if self.pure:
            return iter(parse_events(self.text))
        return event_stream(self.text if self.raw is None else self.raw)


def analyse(
    text: str, file: str, settings: Settings, revert: bool = False, prepare: bool = False, count=None
) -> Analysis:
    """Find, classify and plan.  ``text`` has no BOM.  Raises walker.YAMLSyntaxError (and
    its subclass ``sources.kustomize.SourceError``: a file a kustomization names is missing).
    ``prepare`` (for ``rewrite``): a large values file's scalar edits are rendered as they are
    planned (:attr:`Analysis.prepared`; a value that cannot be written raises FileError);
    ``count(ref, kept)``: given each record of such a file instead of keeping it
    (:attr:`Analysis.counted`; ``kept``: left as written although a rewrite would fix it).

    Each document is read as what its content says it is (:mod:`imagemirror.sources`: a
    values file, a manifest, an Argo CD Application, a Flux HelmRelease, a kustomization, a
    helmfile); Go templates are masked in ``.gotmpl`` files and helmfiles."""
    masked = sources.is_templated_file(file) and templates.has_template(text)
    parse_text, spans = templates.mask(text) if masked else (text, [])
    pure = False
    streamed = None
    if masked:
        evts = parse_events(parse_text)
        docs = compose(evts)
    else:
        # from the parser's stream: the events are never all held (a 200 MB file's take
        # gigabytes); old_events reads them again when the rewrite verifies
        evts = None
        if len(parse_text) >= STREAM_FROM:  # a large values file: one top-level entry at a time
            streamed = stream_values(parse_text, lambda probe: sources.kind_of(probe, file) == "values")
        if streamed is not None:
            docs = streamed[0]
        else:
            docs, pure = compose_text(parse_text)
    if spans:
        templates.restore(docs, text, spans)
    analysis = Analysis(text, evts, docs)
    analysis.masked = masked
    analysis.pure = pure
    rules = settings.ruleset
    ctx = sources.Context(file, text, rules, revert)
    if streamed is not None:
        found: list = [sources.Found(site, "values") for site in streamed[1]]
        streamed = None
        if prepare:
            analysis.prepared = ([], {})
        if count is not None:  # each record handed to ``count(ref, kept)``, not kept
            analysis.counted = True
    else:
        found = sources.find(docs, ctx)
    analysis.embedded = ctx.embedded
    analysis.valuesfrom = ctx.valuesfrom
    if not found:
        return analysis
    lines: LineIndex | None = None
    strings: dict[str, str] = {}  # one string per distinct reference and target (most repeat)
    planned: list = []  # (site, _Plan), then None once its record is made
    # ``# imagemirror: ignore`` (or one naming the findings a rewrite fixes) keeps the reference
    # as written: its scalars are held, and an image sharing one of them is not rewritten either
    directives = ignore_directives(text)
    held: set[int] = set()
    # the sites are let go as they are planned, unless the anchors check below needs them all
    # (an image name part some alias uses) or a source adjusts them
    release = not any(item.adjust is not None or any(p.node.aliased for p in item.site.names) for item in found)
    for i in range(len(found)):
        item = found[i]
        if release:
            found[i] = None
        site = item.site
        status, upstream, target, hint, edits = classify_site(site, rules, revert)
        inserts: list | tuple = ()
        if item.adjust is not None:
            status, upstream, target, hint, edits, inserts = item.adjust(status, upstream, target, hint, edits)
        kept = False
        if item.why is not None and target is not None:  # the source leaves it as written (and says why)
            kept = True
            node = site.main.node
            if item.why:
                analysis.notes.append(
                    f"{file}:{node.line + 1}:{node.column + 1}: {site.written()} not rewritten: {item.why}"
                )
        if (edits or inserts) and directives and _held_back(site, directives):
            held.update(id(node) for node, _ in edits)
            edits, inserts, kept = [], [], True
        if edits and ctx.frozen and any(id(node) in ctx.frozen for node, _ in edits):
            edits = []
            hint = "inside a string that is not a literal block (`|`): rewrite it by hand"
        planned.append(
            (
                _Site(site, item.source == "values", strings, not analysis.counted),
                _Plan(
                    status,
                    upstream,
                    _one_of(strings, str(target)) if target is not None else None,
                    hint,
                    [(node, strings.setdefault(value, value)) for node, value in edits] if release else edits,
                    inserts,
                    item.source,
                    kept,
                    item.resolved,
                ),
            )
        )
    del item, site
    # Two images that need different values in one shared scalar (a global registry, an
    # anchored node) cannot both be served: report them, change neither.
    wanted: dict[int, str] = {}  # the first value each scalar is wanted to hold
    clashing: set[int] = set()
    for _site, info in planned:
        for node, value in info.edits:
            if wanted.setdefault(id(node), value) != value:
                clashing.add(id(node))
    del wanted
    # An anchored scalar that a non-image key aliases too (``hub: &hub docker.io`` used by
    # ``image.registry`` and ``imageCredentials.registry``) is never rewritten: that key would
    # change with it.  The image stays what it is (unmirrored: the gate still fails) with a hint.
    aliased = {id(node) for _site, info in planned for node, _value in info.edits if node.aliased}
    shared_with: dict[int, list[str]] = {}
    if aliased:
        for node_id, places in image_positions(docs, [item.site for item in found], aliased).items():
            others = [where for where, image in places if not image]
            if others:
                shared_with[node_id] = others
    del found
    for i in range(len(planned)):  # each site let go once its record is made (a large file has many)
        site, info = planned[i]
        planned[i] = None
        if held and any(id(node) in held for node, _ in info.edits):
            why = "it shares a scalar (an anchor, a global registry) with a suppressed image"
            info.update(edits=[], inserts=[], kept=True, hint="; ".join(x for x in (info.hint, why) if x))
            lines = lines or LineIndex(text)
            line, column = lines.position(value_start(text, site.main))
            analysis.notes.append(f"{file}:{line}:{column}: {site.written} not rewritten: {why}")
        if clashing and any(id(node) in clashing for node, _ in info.edits):
            info.update(
                status=AMBIGUOUS,
                target=None,
                edits=[],
                inserts=[],
                hint="shares a scalar (anchor or global registry) with an image that needs another value",
            )
        blocked = [(node, shared_with[id(node)]) for node, _ in info.edits if id(node) in shared_with]
        if blocked:
            node, others = blocked[0]
            why = (
                f"the anchored value {node.value!r} is also used by {', '.join(others[:3])}"
                f"{' and more' if len(others) > 3 else ''} (not an image key): rewriting it would change "
                "that too, so it is left; give the image its own value (break the alias) to rewrite it"
            )
            info.update(edits=[], kept=True, hint="; ".join(x for x in (info.hint, why) if x))
            lines = lines or LineIndex(text)
            line, column = lines.position(value_start(text, site.main))
            analysis.notes.append(f"{file}:{line}:{column}: {site.written} not rewritten: {why}")
        if analysis.prepared is not None:
            if info.edits:
                from .yaml_edit import plan_scalar  # (rewrite only: not at check's start-up)

                replacements, expected = analysis.prepared
                for node, value in info.edits:
                    if node.start not in expected:  # (a scalar several images share: once)
                        plan_scalar(text, node, value, file, replacements, expected)
        else:
            for node, value in info.edits:
                analysis.edits[id(node)] = (node, value)
        analysis.inserts.extend(info.inserts)
        if (
            (info.edits or info.inserts) and not revert and is_bitnami(info.upstream) and info.source == "values"
        ):  # (the flag is a values key)
            analysis.bitnami_relocated = True
        main = site.main
        if main.props or main.tail or main.style in ("|", ">"):  # find the value itself
            lines = lines or LineIndex(text)
            line, column = lines.position(value_start(text, main))
        else:
            line, column = main.line + 1, main.column + 1
        upstream = info.upstream
        hint = info.hint
        extra = site.extra
        if extra:
            hint = "; ".join(([hint] if hint else []) + extra)
        written = strings.setdefault(site.written, site.written)
        analysis.refs.append(
            ImageRef(
                file=file,
                line=line,
                column=column,
                path=site.path,
                written=written,
                upstream=_one_of(strings, _same_string(upstream.qualified(), written))
                if upstream is not None
                else None,
                status=info.status,
                target=info.target,
                hint=hint,
                lines=site.lines,
                source=None if info.source == "values" else info.source,
                resolved=info.resolved,
            )
        )
        if analysis.counted:
            count(analysis.refs.pop(), info.kept)
        elif info.kept:
            analysis.unedited.append(analysis.refs[-1])
    if any(ref.source is not None for ref in analysis.refs):
        analysis.refs.sort(key=lambda r: (r.line, r.column))
    return analysis


class _Site:
    """What a record needs of its site, taken when the site is planned (the site and the
    nodes of its own that no edit holds are then let go: a large file has one per image)."""

    __slots__ = ("main", "path", "written", "extra", "lines")

    def __init__(self, site: Site, values: bool, strings: dict[str, str], lines: bool = True):
        self.main = site.main.node
        self.path = site.path
        written = site.written()
        self.written = strings.setdefault(written, written)
        self.extra = site_hints(site, tagless=values) or None  # (other sources say it their way)
        self.lines = _own_lines(site) if lines else ()  # (for suppression, not counting)


class _Plan:
    """What :func:`analyse` plans for one site (slotted: a large file has one per image)."""

    __slots__ = ("status", "upstream", "target", "hint", "edits", "inserts", "source", "kept", "resolved")

    def __init__(self, status, upstream, target, hint, edits, inserts, source, kept, resolved=None):
        self.status = status
        self.upstream = upstream
        self.target = target
        self.hint = hint
        self.edits = edits
        self.inserts = inserts
        self.source = source
        self.kept = kept
        self.resolved = resolved

    def update(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self, key, value)


def _one_of(strings: dict[str, str], value: str) -> str:
    """The equal string already in ``strings`` (``value`` added if none is)."""
    return strings.setdefault(value, value)


def _same_string(value: str, other: str) -> str:
    """``other`` when it is equal (one string kept for both: a large file has many records)."""
    return other if value == other else value


NUMERIC_TAG_MARK = "is a number in YAML"  # (walker.Site.numeric_tag's wording; check's IM010)
NO_TAG_HINT = "no tag or digest here: the chart supplies the tag (often its appVersion), not :latest"


def site_hints(site: Site, tagless: bool = True) -> list[str]:
    """What the record should say beyond its status: a tag Helm reads as a number, a map with
    no tag (the chart's appVersion, not ``:latest``; when ``tagless``)."""
    out = []
    numeric = site.numeric_tag()
    if numeric:
        out.append(numeric)
    if tagless and site.kind == "map" and site.tag is None and site.digest is None:
        out.append(NO_TAG_HINT)
    return out


REWRITE_CODES = ("IM001", "IM002")  # the findings a rewrite fixes (check's codes)


def _held_back(site: Site, directives) -> bool:
    """A suppression on the reference's own lines that covers what a rewrite would fix."""
    own = _own_lines(site)
    return any(is_ignored(code, own, directives) for code in REWRITE_CODES)


def _own_lines(site: Site) -> tuple[int, ...]:
    """1-based lines the reference is written on, for suppression: its key and its own
    scalars.  A scalar shared through an alias sits where its anchor is, which comes before
    the alias in the text (YAML has no forward references): lines before the reference's key
    belong to another place, and a directive there must not silence this reference."""
    return tuple(sorted(n + 1 for n in site.lines if n >= site.key_line))


def classify_site(site: Site, rules: Rules, revert: bool):
    """-> (status, upstream, target, hint, edits) for one site."""
    parts = [p.node.value for p in site.names]
    extra = [p.node.value for p in (site.tag, site.digest) if p is not None]
    if any("{{" in v or "{%" in v for v in parts + extra):
        return TEMPLATED, None, None, "a template: the chart renders it", []
    if site.ambiguous:
        return AMBIGUOUS, None, None, site.ambiguous, []
    try:
        ref = _parse(site.written())
    except InvalidReference as exc:
        return INVALID, None, None, str(exc), []
    status, upstream, target = rules.classify(ref)
    if revert:
        if status != MIRRORED or upstream.host == canonical_host(rules.registry or ""):
            return status, upstream, None, None, []
        desired = upstream
    else:
        if status != UNMIRRORED:
            hint = f"no rule for {upstream.host}" if status == NO_RULE else None
            return status, upstream, None, hint, []
        desired = target
    edits = _edits(site, ref, upstream, desired, rules, revert)
    if edits is None:
        return AMBIGUOUS, upstream, None, f"cannot express {desired} with the keys this image is composed of", []
    return status, upstream, desired, None, edits


def _edits(site: Site, ref: Reference, upstream: Reference, desired: Reference, rules: Rules, revert: bool):
    """New values for the scalars of ``site`` so that it composes ``desired`` (name only).

    A registry key of the image's own becomes the bare host and the cache prefix moves
    into the repository (the convention charts expect).  A shared registry key (a global,
    or one an ancestor gives) applies to images this file never names, so it becomes
    ``<registry>/<prefix>``: every path relative to the upstream host stays right.
    """
    names = site.names
    if site.kind == "string":
        new = Reference(desired.host, desired.path, ref.tag, ref.digest)
        return _changed([(names[0].node, str(new))])
    values = [p.node.value for p in names]
    first = names[0]
    if first.role == "registry":
        if first.shared:
            if revert:
                head, body = upstream.host, upstream.path
            else:
                prefix, body = rules.rule_for(upstream) or (desired.path.partition("/")[0], upstream.path)
                if body != upstream.path:  # a rule for part of the host: other images share the key
                    return None
                head = f"{desired.host}/{prefix}"
        else:
            head, body = desired.host, desired.path
        if len(names) == 1:
            return None
        tail = "/".join(values[2:])
        new_second = _strip_tail(body, tail)
        if new_second is None:
            return None
        out = [(first.node, head), (names[1].node, new_second)]
    else:
        tail = "/".join(values[1:])
        new_first = _strip_tail(f"{desired.host}/{desired.path}", tail)
        if new_first is None:
            return None
        out = [(first.node, new_first)]
    # the result must compose exactly the desired name
    new_values = dict((id(n), v) for n, v in out)
    composed = "/".join(new_values.get(id(p.node), p.node.value) for p in names)
    try:
        check = _parse(composed)
    except InvalidReference:
        return None
    if check.name != desired.name and not (revert and check.name == upstream.name):
        return None
    return _changed(out)


def _strip_tail(full: str, tail: str) -> str | None:
    if not tail:
        return full
    if full.endswith("/" + tail) and len(full) > len(tail) + 1:
        return full[: -(len(tail) + 1)]
    return None


def _changed(edits: list[tuple[Scalar, str]]) -> list[tuple[Scalar, str]]:
    return [(node, value) for node, value in edits if node.value != value]


# --------------------------------------------------------------------------- sources


def scan_text(text: str, file: str, settings: Settings, generated: dict | None = None) -> FileResult:
    """Inventory of one in-memory text (a BOM is allowed), suppression applied.  ``generated``:
    the ConfigMaps and Secrets the repository's kustomizations generate (for Flux ``valuesFrom``)."""
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        with gc_paused():
            analysis = analyse(body, file, settings)
    except SourceError as exc:
        return FileResult(file, error=FileError(file, exc.message, exc.line, exc.column))
    except YAMLSyntaxError as exc:
        return FileResult(file, error=FileError(file, f"invalid YAML: {exc.message}", exc.line, exc.column))
    notes = analysis.notes
    if analysis.valuesfrom and generated is not None:
        notes = notes + sources.flux.valuesfrom_notes(file, analysis.valuesfrom, generated)
    return FileResult(file, refs=annotate(analysis.refs, body), notes=notes)


class Scan:
    """What a source found under PATHS.

    ``results``: one per file (or per release) with its references or its error.  ``notes``:
    for people (stderr), in order.  ``summary``: one more line ``check`` prints after its own
    (``2 releases, 9 images they pull``).  ``service_failed``: a registry or chart repository
    failed (exit 4).  ``rewrite_flags``: what ``rewrite`` needs to apply the fixes of this
    source (``("--effective",)``); the hint then names PATHS, not the files.
    (A plain slotted class, not a dataclass: ``check`` imports this at start-up.)
    """

    __slots__ = ("results", "notes", "summary", "service_failed", "rewrite_flags")

    def __init__(
        self,
        results: list[FileResult],
        notes: list[str] | None = None,
        summary: str | None = None,
        service_failed: bool = False,
        rewrite_flags: tuple[str, ...] = (),
    ):
        self.results = results
        self.notes = [] if notes is None else notes
        self.summary = summary
        self.service_failed = service_failed
        self.rewrite_flags = rewrite_flags

    @property
    def refs(self) -> list[ImageRef]:
        return [ref for result in self.results for ref in result.refs]


class Source(Protocol):
    """Where references come from (see the module documentation)."""

    kind: str
    parallel: bool

    def scan(self, paths: Seq[Path], settings: Settings, jobs: int = 0) -> Scan: ...

    def files(
        self, paths: Seq[Path], settings: Settings
    ) -> tuple[list[tuple[Path, str]], list[FileResult], list[str]]: ...

    def plan(self, path: Path, display: str, text: str, settings: Settings): ...


class ValuesText:
    """The repository's YAML under PATHS, read as text (the default source): values files by
    name, manifests, Argo CD, Flux, kustomize and helmfile files by content, and the files
    those name as values (:mod:`imagemirror.sources`)."""

    kind = "values"
    parallel = True

    def files(self, paths: Seq[Path], settings: Settings) -> tuple[list[tuple[Path, str]], list[FileResult], list[str]]:
        notes: list[str] = []
        targets, problems = discover(paths, settings, notes)
        return targets + scan_related(targets)[0], problems, notes

    def scan(self, paths: Seq[Path], settings: Settings, jobs: int = 0) -> Scan:
        notes: list[str] = []
        targets, results = discover(paths, settings, notes)
        extra, generated = scan_related(targets)
        targets = targets + extra

        def one(item):
            path, display = item
            try:
                text = read_text(path, display)
            except FileError as exc:
                return FileResult(display, error=exc)
            return scan_text(text, display, settings, generated)

        results.extend(map_files(one, targets, jobs))
        results.sort(key=lambda r: r.file)
        # what a file's sources found worth saying (a Flux valuesFrom the repository does not make)
        notes.extend(note for result in results for note in result.notes)
        return Scan(results, notes)

    def plan(self, path: Path, display: str, text: str, settings: Settings) -> None:
        return None  # the core's own edits are all there is


def settle(refs: list[ImageRef], settled: dict[str, ImageRef]) -> list[ImageRef]:
    """``refs`` with those the text left ``ambiguous`` replaced by what a source settled
    (``settled``: by path; its status, upstream, target and hint are taken)."""
    out = []
    for ref in refs:
        other = settled.get(ref.path)
        if ref.status == AMBIGUOUS and other is not None:
            ref = replace(ref, status=other.status, upstream=other.upstream, target=other.target, hint=other.hint)
        out.append(ref)
    return out


def scan(paths: Seq[Path], settings: Settings, jobs: int = 0, *, source: Source | None = None) -> Scan:
    """Every reference under ``paths`` (directories are searched), from ``source``
    (default: :class:`ValuesText`)."""
    return (source or ValuesText()).scan(paths, settings, jobs)
