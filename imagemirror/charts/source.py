"""``--effective``: the source (:class:`imagemirror.inventory.Source`) of every image the
releases pull, from their charts' merged values.

The values files under PATHS are those the core finds plus every file a release of the
repository reads (Argo CD ``valueFiles``, Flux ``valuesFrom``, helmfile ``values``...).  Each
release that reads one of them is evaluated once (:mod:`.effective`), on the texts this source
read (strict UTF-8, as the core reads; suppression comments come from the same texts); a file
no release reads is scanned as text, as without ``--effective``.  Images named only by chart
defaults are reported against the release's last values file (where ``rewrite --effective``
puts their overrides).  Every reference carries its release as
:class:`~imagemirror.model.Context`; ``check`` appends it to the message and only warns about
an image under an ``enabled: false`` key.

For ``rewrite``, :meth:`EffectiveSource.plan` returns the chart overrides of one file (the
assignments :mod:`.plan` computes on the core's result) and how to verify them; the command
applies them with the core's edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .. import output
from ..config import Settings
from ..errors import FileError, ImagemirrorError, ServiceError
from ..files import discover, display_name, read_text
from ..inventory import Scan, scan_text
from ..model import Context, FileResult, ImageRef
from ..rules import UNMIRRORED
from ..suppress import annotate
from ..yaml_edit import Assignment
from .discover import Layer, index, releases_for, repo_root, validate_settings, values_files
from .effective import EffectiveImage, ReleaseView, evaluate
from .fetch import Fetcher
from .plan import FilePlan, assignments_for_file, make_fetcher, verify_plan

TEXT_ONLY = "no chart known: the file's text only"


def _progress(message: str) -> None:
    output.err(f"imagemirror: {message}")


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _where(view: ReleaseView, image: EffectiveImage) -> tuple[str, int, int]:
    if image.origin_file is not None:
        return display_name(image.origin_file), image.line or 1, image.column or 1
    files = view.release.files()
    if files:
        return display_name(files[-1]), 1, 1
    return view.release.origin, 1, 1


def context_label(view: ReleaseView, image: EffectiveImage) -> str:
    bits = [f"release {view.release.name}"]
    if image.default_only:
        bits.append(f"{image.path}: chart default of {image.chart}")
    elif image.origin_file is None and image.origin:
        bits.append(image.origin)
    if image.disabled:
        bits.append("under enabled: false")
    return ", ".join(bits)


def to_refs(view: ReleaseView) -> list[ImageRef]:
    """The release's images as the core's records (its release as their context)."""
    out = []
    for image in view.images:
        file, line, column = _where(view, image)
        context = Context(
            label=context_label(view, image),
            release=image.release,
            chart=image.chart,
            origin=image.origin,
            default_only=image.default_only,
            disabled=image.disabled,
        )
        out.append(
            ImageRef(
                file=file,
                line=line,
                column=column,
                path=image.path,
                written=image.written,
                upstream=image.upstream,
                status=image.status,
                target=image.target,
                hint=image.hint,
                lines=(line,) if image.origin_file is not None else (0,),
                source="effective",
                context=context,
            )
        )
    return out


@dataclass
class ChartEdits:
    """What ``rewrite --effective`` adds to the core's edits of one file (see
    :class:`imagemirror.inventory.Source`)."""

    assignments: list[Assignment]
    notes: list[str] = field(default_factory=list)
    settled: dict[str, ImageRef] = field(default_factory=dict)
    relocated_bitnami: bool = False
    closing: list[str] = field(default_factory=list)  # notes after the core's, when the text changed
    verify: Callable[[str], None] = lambda text: None


class EffectiveSource:
    """Each release's effective values (chart defaults, subcharts, globals, its values files)."""

    kind = "effective"
    parallel = False  # a file's plan reads the release's other values layers

    def __init__(
        self,
        offline: bool = False,
        progress: Callable[[str], None] | None = None,
        renderer: str = "model",
        unrendered: bool = False,
        fallback: bool = False,
        announce: str | None = None,
        connect: Callable[[], object] | None = None,
    ):
        # fallback (``warm`` without --effective/--no-effective): "a chart is found" means the
        # release's chart is a folder here, vendored, or in the cache -- never fetched -- and it
        # renders; any other release leaves the files it reads to their values text.
        self.fallback = fallback
        self.offline = offline or fallback
        # announce: the command whose stderr gets one line per release (and per set of files
        # read as text) saying which mode gave its images
        self.announce = announce
        self.unrendered = unrendered  # list --all: also what the values name but the release does not render
        self.progress = progress or _progress
        #: makes the registry client at the first chart fetch (``commands.clients.chart_client``)
        self.connect = connect
        self._fetcher: Fetcher | None = None
        self.renderer_name = renderer  # auto | helm | sdk | model (imagemirror.charts.render)
        self._renderer = None
        self._picked = False

    def renderer(self):
        """Real Helm (:mod:`.render`), or None for the model -- ``auto`` without either says so once."""
        if not self._picked:
            from .render import MODEL_NOTE, choose

            self._renderer = choose(self.renderer_name)
            self._picked = True
            if self._renderer is None and self.renderer_name == "auto":
                output.err(MODEL_NOTE)
        return self._renderer

    def fetcher(self, settings: Settings, start: Path) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = make_fetcher(
                settings, start, offline=self.offline, progress=self.progress, connect=self.connect
            )
        return self._fetcher

    # ----------------------------------------------------------------- files

    def files(self, paths, settings: Settings) -> tuple[list[tuple[Path, str]], list[FileResult], list[str]]:
        """The core's values files under PATHS plus every file a release reads there."""
        validate_settings(settings)
        notes: list[str] = []
        targets, problems = discover(paths, settings, notes)
        roots = [Path(p).resolve() for p in paths]
        have = {p.resolve() for p, _ in targets}
        out = list(targets)
        root = repo_root(roots[0], settings)
        for file in values_files(root, settings):
            if file not in have and _under(file, roots) and file.is_file():
                out.append((file, display_name(file)))
                have.add(file)
        self.fetcher(settings, roots[0])
        return out, problems, notes

    # ----------------------------------------------------------------- scan

    def scan(self, paths, settings: Settings, jobs: int = 0) -> Scan:
        validate_settings(settings)
        roots = [Path(p).resolve() for p in paths]
        notes: list[str] = []
        targets, problems = discover(paths, settings, notes)
        found_by_discover = len(problems)
        files = {p.resolve(): d for p, d in targets}
        root = repo_root(roots[0], settings)
        for file in values_files(root, settings):
            if _under(file, roots) and file.is_file():
                files.setdefault(file, display_name(file))
        fetcher = self.fetcher(settings, roots[0])
        renderer = None  # picked at the first release (a tree without one says nothing about Helm)
        texts: dict[Path, str] = {}
        views: list = []  # ReleaseView (the model) or rendered.RenderedRelease (real Helm)
        pending: list[tuple] = []  # (index in views, release, chart, shown file) to render
        seen: set = set()
        text_results: list[FileResult] = []
        as_text: list[tuple[Path, str]] = []  # files no release reads (fallback: or one without a chart)
        readers: dict[Path, list] = {}  # file -> the keys of the releases reading it
        fell_back: dict = {}  # fallback: release key -> (release, why its files are read as text)
        service_failed = False
        for file, shown in sorted(files.items()):
            try:
                releases = releases_for(file, settings)
            except FileError as exc:
                problems.append(FileResult(shown, error=exc))
                continue
            if not releases:
                as_text.append((file, shown))
                continue
            for release in releases:
                key = _key(release)
                readers.setdefault(file, []).append(key)
                if key in seen:
                    continue
                seen.add(key)
                renderer = self.renderer()
                try:
                    _read_layers(release.layers, texts)
                    chart = fetcher.chart(release.chart)
                    if renderer is not None:  # rendered below, releases in parallel
                        pending.append((len(views), release, chart, shown))
                        views.append(None)
                    else:
                        views.append(evaluate(release, chart, settings, texts))
                except (ServiceError, FileError) as exc:
                    if self.fallback:
                        fell_back[key] = (release, _reason(exc))
                        continue
                    service_failed |= isinstance(exc, ServiceError)
                    problems.append(_failure(exc, release, shown))
        # releases written with inline values only (a HelmRelease's spec.values, an Application's
        # helm.values, kustomize helmCharts): no values file names them, their manifest does
        for release in index(root).releases:
            key = _key(release)
            if key in seen or release.files() or not _under((root / release.origin).resolve(), roots):
                continue
            seen.add(key)
            renderer = self.renderer()
            try:
                chart = fetcher.chart(release.chart)
                if renderer is not None:
                    pending.append((len(views), release, chart, release.origin))
                    views.append(None)
                else:
                    views.append(evaluate(release, chart, settings, texts))
            except (ServiceError, FileError) as exc:
                if self.fallback:  # no values file to read as written: the announcement says so
                    fell_back[key] = (release, _reason(exc))
                    continue
                service_failed |= isinstance(exc, ServiceError)
                if isinstance(exc, FileError):
                    problems.append(_failure(exc, release, release.origin))
                else:
                    problems.append(
                        FileResult(release.origin, error=FileError(release.origin, f"release {release.name}: {exc}"))
                    )
        if pending:
            service_failed |= self._render_all(pending, views, problems, fetcher, renderer, texts, fell_back)
        views = [v for v in views if v is not None]
        if self.fallback:
            # everything the default source reads (values files, manifests, kustomizations...), as
            # without --effective, except the values files whose every release rendered
            from ..inventory import ValuesText

            plain = ValuesText().scan(paths, settings, jobs)
            covered = {files[f] for f, keys in readers.items() if not any(k in fell_back for k in keys)}
            del problems[:found_by_discover]  # the default source reports them again
            text_results = [r for r in plain.results if r.file not in covered]
            notes.extend(plain.notes)
            shown_as_text = [r.file for r in text_results if r.error is None]
        else:
            for file, shown in as_text:
                try:
                    text = read_text(file, shown)
                except FileError as exc:
                    problems.append(FileResult(shown, error=exc))
                    continue
                result = scan_text(text, shown, settings)
                result.refs = [_text_only(ref) for ref in result.refs]
                text_results.append(result)
            shown_as_text = [shown for _, shown in as_text]
        if self.announce:
            self._announce(views, fell_back, shown_as_text, renderer)
        results: list[FileResult] = list(problems)
        placed: list[tuple] = []  # (release, its refs) for :func:`place_inline`
        for view in views:
            if isinstance(view, ReleaseView):
                refs = to_refs(view)
                origins = {image.origin_file for image in view.images if image.origin_file is not None}
            else:
                from .rendered import newer_chart_hints
                from .rendered import to_refs as rendered_refs

                items = rendered_refs(view, settings, texts)
                if renderer is not None:  # IM007: a newer chart version here that exposes a key
                    newer_chart_hints(view, items, fetcher, renderer)
                refs = [item.ref for item in items]
                origins = set(view.release.files())
                if self.unrendered:
                    from .rendered import unrendered_refs

                    refs += unrendered_refs(view, evaluate(view.release, view.chart, settings, texts), to_refs)
            for path in origins:
                if path in texts:
                    refs = annotate(refs, texts[path], file=display_name(path))
            result = FileResult(f"release {view.release.name}", refs=refs)
            placed.append((view.release, result))
            results.append(result)
        text_results = place_inline(placed, text_results, root)
        results.extend(text_results)
        n = sum(len(v.images) for v in views)
        summary = (
            f"imagemirror check --effective: {len(views)} release{'s' if len(views) != 1 else ''}, "
            f"{n} image{'s' if n != 1 else ''} they pull"
        )
        return Scan(results, notes, summary=summary, service_failed=service_failed, rewrite_flags=("--effective",))

    def _announce(self, views, fell_back: dict, as_text: list[str], renderer) -> None:
        """One stderr line per release (rendered, modelled, or read as text) and one for the
        files no release reads: which mode gave the command its images."""
        how = f"rendered by {renderer.label}" if renderer is not None else "the chart model (values only)"
        for view in views:
            release = view.release
            chart = display_name(release.chart.path) if release.chart.path else release.chart.describe()
            output.err(f"imagemirror {self.announce}: release {release.name} ({release.origin}): {how}, chart {chart}")
        for release, why in fell_back.values():
            output.err(
                f"imagemirror {self.announce}: release {release.name} ({release.origin}): its values "
                f"as written ({why}; --effective fetches the chart)"
            )
        read = {display_name(path) for release, _ in fell_back.values() for path in release.files()}
        lone = sum(1 for shown in as_text if shown not in read)
        if lone:
            output.err(
                f"imagemirror {self.announce}: {lone} other file{'s' if lone != 1 else ''} read as "
                "written (no release with a chart reads it)"
            )

    def _render_all(self, pending, views, problems, fetcher, renderer, texts, fell_back=None) -> bool:
        """Render the releases, in parallel across cores (Helm runs outside the GIL: the SDK's
        ctypes calls release it, ``helm`` is a process); results keep the scan's order."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        from .rendered import render_release

        def one(job):
            slot, release, chart, shown = job
            try:
                return slot, render_release(release, chart, fetcher, renderer, texts), None
            except (ServiceError, FileError) as exc:
                return slot, None, exc

        failed = False
        workers = max(1, min(len(pending), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(one, pending)) if workers > 1 else [one(job) for job in pending]
        for (slot, release, _chart, shown), (_, rendered, exc) in zip(pending, outcomes):
            if rendered is not None:
                for note in rendered.notes:
                    self.progress(note)
                views[slot] = rendered
            elif self.fallback and fell_back is not None:
                fell_back[_key(release)] = (release, _reason(exc))
            else:
                failed |= isinstance(exc, ServiceError)
                problems.append(_failure(exc, release, shown))
        return failed

    # ----------------------------------------------------------------- rewrite

    def plan(self, path: Path, display: str, text: str, settings: Settings) -> ChartEdits | None:
        """The chart overrides ``path`` needs once the core's edits (giving ``text``) are made."""
        fetcher = self.fetcher(settings, path)
        try:
            plan = assignments_for_file(path, text, settings, fetcher)
        except FileError:
            raise
        except ImagemirrorError as exc:
            raise FileError(display, f"chart: {exc}") from None
        if not plan.before:
            return None
        edits = ChartEdits(list(plan.assignments), list(plan.notes), relocated_bitnami=plan.relocated_bitnami)
        defaults = sum(1 for image in plan.covered if image.default_only)
        if plan.assignments and defaults:
            edits.closing.append(
                f"{display}: overrode {defaults} image{'s' if defaults != 1 else ''} named only by chart defaults"
            )
        if plan.assignments:
            # the core left these ``ambiguous``; the chart settles them and the plan moves them
            for image in plan.covered:
                if not image.default_only:
                    edits.settled[image.path] = _settled(image)

        renderer = self.renderer()

        def verify(new_text: str, plan: FilePlan = plan) -> None:
            try:
                verify_plan(plan, new_text, settings, fetcher)
                if renderer is not None:
                    from ..rewrite import allow_insecure
                    from .rendered import prove_rewrite

                    # what will be written: the command adds Bitnami's flag after this check
                    final = allow_insecure(new_text, display, settings)[0] if edits.relocated_bitnami else new_text
                    prove_rewrite(path, display, final, settings, fetcher, renderer)
            except FileError:
                raise
            except ImagemirrorError as exc:
                raise FileError(display, f"chart: {exc}") from None
            edits.notes.extend(n for n in plan.notes if n not in edits.notes)

        edits.verify = verify
        return edits


def place_inline(placed: list[tuple], text_results: list[FileResult], root: Path) -> list[FileResult]:
    """Each image a release takes from its inline values (an Application's ``helm.values`` /
    ``valuesObject`` / ``parameters``, a HelmRelease's ``spec.values``, kustomize
    ``valuesInline``, helmfile ``values``/``set``) once, where it is written.

    The manifest that writes them is also scanned as text (it is no values file a release
    reads), so the release's image and the text's site would both be reported, the release's
    at the manifest's 1:1.  The release's record takes the text's place (file, line, column,
    the lines its suppression comments apply to) and the text's record goes.  A text record
    under the inline values of an evaluated release that none of its images matches is not
    pulled by the release (overridden by a later layer, or not rendered: ``list --all`` shows
    it): it goes too.  ``placed``: ``(release, its FileResult)``; returns the text results."""
    by_file: dict[str, list[tuple]] = {}
    for release, result in placed:
        sites = {layer.label: layer.site for layer in release.layers if layer.path is None and layer.site}
        if sites:
            by_file.setdefault(display_name(root / release.origin), []).append((result, sites))
    if not by_file:
        return text_results
    out = []
    for text in text_results:
        users = by_file.get(text.file)
        if not users or not text.refs:
            out.append(text)
            continue
        taken: set[int] = set()
        for result, sites in users:
            moved = []
            for ref in result.refs:
                site = sites.get(ref.context.origin) if ref.context is not None and ref.context.origin else None
                match = _inline_match(ref, site, text.refs) if site else None
                if match is None:
                    moved.append(ref)
                    continue
                taken.add(id(match))
                moved.append(
                    replace(
                        ref,
                        file=match.file,
                        line=match.line,
                        column=match.column,
                        lines=match.lines,
                        suppressed=match.suppressed,
                        ignored=match.ignored,
                        fix_span=match.fix_span if (match.written, match.target) == (ref.written, ref.target) else None,
                    )
                )
            result.refs = moved
        under = [site + "." for _result, sites in users for site in sites.values()]
        keep = [r for r in text.refs if id(r) not in taken and not any(r.path.startswith(p) for p in under)]
        out.append(replace(text, refs=keep) if len(keep) != len(text.refs) else text)
    return out


def _inline_match(ref: ImageRef, site: str, refs: list[ImageRef]) -> ImageRef | None:
    """The text record at the inline values key ``ref`` (of the release) comes from: its path
    is the site's plus the key path (a map's: the key path's parent), the same image first."""
    paths = {f"{site}.{ref.path}"}
    if "." in ref.path:
        paths.add(f"{site}.{ref.path.rsplit('.', 1)[0]}")
    found = [r for r in refs if r.path in paths]
    same = [r for r in found if r.upstream == ref.upstream]
    return (same or found or [None])[0]


def _settled(image: EffectiveImage) -> ImageRef:
    return ImageRef(
        file="",
        line=0,
        column=0,
        path=image.path,
        written=image.written,
        upstream=image.upstream,
        status=UNMIRRORED,
        target=image.target,
        hint=f"resolved from chart {image.chart}",
    )


def _key(release) -> tuple:
    return (release.origin, release.name, tuple(release.files()), release.chart)


def _failure(exc: ImagemirrorError, release, shown: str) -> FileResult:
    """A release that failed, as the file's error naming the release."""
    if isinstance(exc, FileError):
        return FileResult(
            shown,
            error=FileError(
                exc.path, f"release {release.name} ({release.origin}): {exc.message}", exc.line, exc.column
            ),
        )
    return FileResult(shown, error=FileError(shown, f"release {release.name} ({release.origin}): {exc}"))


def _reason(exc: ImagemirrorError) -> str:
    """Why a release's chart was not used (fallback), in a few words."""
    from .fetch import FetchError

    if isinstance(exc, FetchError):
        return "chart neither vendored nor cached"
    text = exc.message if isinstance(exc, FileError) else str(exc)
    return "chart not used: " + (text.splitlines()[0] if text else type(exc).__name__)


def _text_only(ref: ImageRef) -> ImageRef:
    return replace(ref, source="effective", context=Context(label=TEXT_ONLY))


def _read_layers(layers: list[Layer], texts: dict[Path, str]) -> None:
    """Read each values file of a release once, strictly (as the core reads); a missing file is
    left to the evaluation, which names the release."""
    for layer in layers:
        path = layer.path
        if path is None or path in texts or not path.exists():
            continue
        texts[path] = read_text(path, layer.label)
