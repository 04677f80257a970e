"""``list --effective`` and ``check --effective``: every image the releases pull.

The values files under PATHS are those the core finds plus every file a release of the
repository reads (Argo CD ``valueFiles``, Flux ``valuesFrom``, helmfile ``values``...).  Each
release that reads one of them is evaluated once (:mod:`.effective`); a file no release reads
is scanned as text, as without ``--effective``.  Images named only by chart defaults are
reported against the release's last values file (where ``rewrite --effective`` puts their
overrides).  An image under an ``enabled: false`` key is reported, but only as a warning.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import Exit, FileError, ServiceError
from ..files import discover, display_name
from ..model import FileResult, ImageRef
from ..report import printable
from .discover import repo_root, values_files, releases_for
from .effective import EffectiveImage, ReleaseView
from .plan import make_fetcher


def _progress(message: str) -> None:
    print(f"imagemirror: {message}", file=sys.stderr)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def gather(paths, settings, offline: bool = False):
    """-> (views, text-only results, problems, service_failed)."""
    from ..inventory import scan_text

    from .discover import validate_settings

    validate_settings(settings)
    roots = [Path(p).resolve() for p in paths]
    targets, problems = discover(paths, settings)
    files = {p.resolve(): d for p, d in targets}
    root = repo_root(roots[0], settings)
    for file in values_files(root, settings):
        if _under(file, roots) and file.is_file():
            files.setdefault(file, display_name(file))
    fetcher = make_fetcher(settings, roots[0], offline=offline, progress=_progress)
    views: list[ReleaseView] = []
    seen: set = set()
    text_results: list[FileResult] = []
    service_failed = False
    for file, shown in sorted(files.items()):
        try:
            releases = releases_for(file, settings)
        except FileError as exc:
            problems.append(FileResult(shown, error=exc))
            continue
        if not releases:
            try:
                text = file.read_bytes().decode("utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(FileResult(shown, error=FileError(shown, f"cannot read: {exc}")))
                continue
            text_results.append(scan_text(text, shown, settings))
            continue
        for release in releases:
            key = (release.origin, release.name, tuple(release.files()), release.chart)
            if key in seen:
                continue
            seen.add(key)
            try:
                from .effective import evaluate

                chart = fetcher.chart(release.chart)
                views.append(evaluate(release, chart, settings))
            except ServiceError as exc:
                service_failed = True
                problems.append(FileResult(shown, error=FileError(shown, f"release {release.name} ({release.origin}): {exc}")))
            except FileError as exc:
                problems.append(FileResult(shown, error=FileError(
                    exc.path, f"release {release.name} ({release.origin}): {exc.message}", exc.line, exc.column)))
    return views, text_results, problems, service_failed


def _where(view: ReleaseView, image: EffectiveImage) -> tuple[str, int, int]:
    if image.origin_file is not None:
        return display_name(image.origin_file), image.line or 1, image.column or 1
    files = view.release.files()
    if files:
        return display_name(files[-1]), 1, 1
    return view.release.origin, 1, 1


def _context(view: ReleaseView, image: EffectiveImage) -> str:
    bits = [f"release {view.release.name}"]
    if image.default_only:
        bits.append(f"{image.path}: chart default of {image.chart}")
    elif image.origin_file is None and image.origin:
        bits.append(image.origin)
    if image.disabled:
        bits.append("under enabled: false")
    return ", ".join(bits)


def to_refs(view: ReleaseView) -> list[tuple[ImageRef, EffectiveImage]]:
    out = []
    for image in view.images:
        file, line, column = _where(view, image)
        ref = ImageRef(file=file, line=line, column=column, path=image.path, written=image.written,
                       upstream=image.upstream, status=image.status, target=image.target, hint=image.hint,
                       lines=(line,) if image.origin_file is not None else (0,))
        out.append((ref, image))
    return out


def list_effective(paths, config=None, registry=None, fmt: str = "text", offline: bool = False) -> int:
    from ..commands.common import report_errors, settings_for

    settings = settings_for(paths, config, registry)
    views, text_results, problems, service_failed = gather(paths, settings, offline)
    rows = []
    for view in views:
        for ref, image in to_refs(view):
            rows.append((ref, image, _context(view, image)))
    for result in text_results:
        for ref in result.refs:
            rows.append((ref, None, "no chart known: the file's text only"))
    out = sys.stdout
    if fmt == "json":
        data = []
        for ref, image, context in rows:
            item = ref.to_json()
            if image is not None:
                item.update(release=image.release, chart=image.chart, origin=image.origin,
                            default_only=image.default_only, disabled=image.disabled)
            data.append(item)
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        for ref, image, context in rows:
            line = f"{ref.file}:{ref.line}:{ref.column}: {ref.status:<10} {ref.path}  {ref.written}"
            if ref.target:
                line += f"  ->  {ref.target}"
            elif ref.hint and ref.status in ("ambiguous", "invalid", "no-rule"):
                line += f"  ({ref.hint})"
            out.write(printable(f"{line}  [{context}]") + "\n")
    failed = report_errors(problems + text_results)
    if service_failed:
        return Exit.SERVICE_ERROR
    return Exit.FILE_ERROR if failed else Exit.OK


def check_effective(paths, *, config=None, registry=None, fmt=None, deny=(), strict: bool = False,
                    offline: bool = False, color=None, env=None) -> int:
    import click

    from ..commands.check import _read_text, build_report, canonical_deny, exit_code, print_report
    from ..commands.common import settings_for
    from ..report import WARNING

    env = os.environ if env is None else env
    settings = settings_for(paths, config, registry)
    all_deny = canonical_deny(deny) | frozenset(settings.deny)
    views, text_results, problems, service_failed = gather(paths, settings, offline)
    results: list[FileResult] = list(problems)
    extra: dict[tuple, tuple[ReleaseView, EffectiveImage]] = {}
    for view in views:
        pairs = to_refs(view)
        for ref, image in pairs:
            extra[(ref.file, ref.line, ref.column, ref.path, ref.written)] = (view, image)
        results.append(FileResult(f"release {view.release.name}", refs=[r for r, _ in pairs]))
    results.extend(text_results)
    report = build_report(results, all_deny, strict, _read_text)
    findings = []
    for finding in report.findings:
        hit = extra.get((finding.file, finding.line, finding.column, finding.path, finding.reference))
        if hit is None:
            hit = next((v for k, v in extra.items() if k[:4] == (finding.file, finding.line, finding.column, finding.path)), None)
        if hit is not None:
            view, image = hit
            finding = replace(finding, message=f"{finding.message} [{_context(view, image)}]")
            if image.disabled and finding.level == "error" and not strict:
                finding = replace(finding, level=WARNING)
        findings.append(finding)
    report.findings = findings
    fmt = print_report(report, fmt, color, env)
    code = exit_code(report)
    if fmt in ("text", "github"):
        n = sum(len(v.images) for v in views)
        click.echo(f"imagemirror check --effective: {len(views)} release{'s' if len(views) != 1 else ''}, "
                   f"{n} image{'s' if n != 1 else ''} they pull", err=True)
        if any(f.code in ("IM001", "IM002") for f in report.active):
            click.echo("imagemirror check: to apply the fixes: imagemirror rewrite --effective "
                       + " ".join(str(p) for p in paths), err=True)
    if service_failed:
        return max(code, Exit.SERVICE_ERROR)
    return code


def effective_targets(paths, settings, targets, offline: bool = False):
    """``rewrite --effective``: the core's targets plus every file a release reads under PATHS,
    and the fetcher to use -> ``(targets, fetcher)``."""
    from .discover import validate_settings

    validate_settings(settings)
    roots = [Path(p).resolve() for p in paths]
    have = {p.resolve() for p, _ in targets}
    out = list(targets)
    root = repo_root(roots[0], settings)
    for file in values_files(root, settings):
        if file not in have and _under(file, roots) and file.is_file():
            out.append((file, display_name(file)))
            have.add(file)
    return out, make_fetcher(settings, roots[0], offline=offline, progress=_progress)
