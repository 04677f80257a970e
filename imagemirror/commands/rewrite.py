"""``imagemirror rewrite``: rewrite references to the cache, byte-exactly, atomically.

The core's edits of each file, plus what the source adds (``--effective``: the chart
overrides, :meth:`imagemirror.charts.source.EffectiveSource.plan`), applied as one plan.
"""

from __future__ import annotations

from pathlib import Path

from .. import output
from ..config import Settings
from ..errors import ConfigError, Exit, FileError
from ..files import BackgroundWrites, decode, read_bytes, selected, write_atomic
from ..inventory import Source, ValuesText, settle
from ..model import FileResult
from ..parallel import map_files, worth_forking
from ..rewrite import Rewritten, allow_insecure, rewrite_text
from ..rules import AMBIGUOUS, INVALID, MIRRORED, UNMIRRORED
from ..yaml_edit import set_values
from .common import report_errors, settings_for, unified_diff, warn


def with_source_plan(source: Source, path: Path, display: str, done: Rewritten, settings: Settings) -> Rewritten:
    """``done`` (the core's rewrite of one file) with the source's own edits applied on top."""
    extra = source.plan(path, display, done.text, settings)
    if extra is None:
        return done
    notes = list(done.result.notes)
    if not extra.assignments:
        notes.extend(n for n in extra.notes if n not in notes)
        return Rewritten(
            done.text, FileResult(display, refs=done.result.refs, notes=notes), done.changed, unedited=done.unedited
        )
    text = set_values(done.text, extra.assignments, str(path), what="chart overrides")
    extra.verify(text)
    notes.extend(n for n in extra.notes if n not in notes)
    if extra.relocated_bitnami:  # the images the source moved need the core's Bitnami flag too
        text, flag_notes = allow_insecure(text, display, settings)
        notes.extend(n for n in flag_notes if n not in notes)
    if text != done.text:
        notes.extend(extra.closing)
    refs = settle(done.result.refs, extra.settled)
    return Rewritten(
        text, FileResult(display, refs=refs, notes=notes), done.changed or text != done.text, unedited=done.unedited
    )


class _Job:
    """What every file of one ``rewrite`` run gets done to (shared by the forked workers)."""

    __slots__ = ("dry_run", "extra_edits", "revert", "settings", "source", "write")

    def __init__(self, settings: Settings, source: Source, revert: bool, dry_run: bool, write: bool):
        self.settings, self.source, self.revert = settings, source, revert
        self.dry_run, self.write = dry_run, write
        self.extra_edits = source.kind != ValuesText.kind


def rewrite_files(
    paths,
    config=None,
    registry=None,
    dry_run: bool = False,
    check_only: bool = False,
    revert: bool = False,
    jobs: int = 0,
    nonzero_on_change: bool = False,
    source: Source | None = None,
    by_content: bool = False,
) -> int:
    """Plan (which files, from which source), write (each file rewritten, written or diffed,
    on every core), summarise (one line per changed file and the totals, on stderr)."""
    job, targets, problems = plan_files(
        paths,
        config,
        registry,
        source,
        revert=revert,
        dry_run=dry_run,
        write=not (dry_run or check_only),
        by_content=by_content,
    )
    if not job.source.parallel:  # e.g. a plan that reads a release's other layers: one process
        jobs = 1
    outcomes = write_files(job, targets, jobs)
    changed, failed = summarise(outcomes, problems, len(targets), job.write)
    if failed:
        return Exit.FILE_ERROR
    if changed and (check_only or nonzero_on_change):
        return Exit.FINDINGS
    return Exit.OK


def plan_files(
    paths, config, registry, source: Source | None, *, revert: bool, dry_run: bool, write: bool, by_content=False
):
    """The settings, the source and the files it yields -> ``(job, targets, problems)``."""
    settings = settings_for(paths, config, registry)
    if settings.registry is None:
        raise ConfigError("no cache registry configured: set `registry:` in .imagemirror.yaml or pass --registry")
    if by_content:  # the files a folder's scan would read (pre-commit names every staged file)
        paths = [p for p in paths if selected(Path(p), settings)]
    if source is None or revert:  # --revert maps the text back; no source adds edits to that
        source = ValuesText()
    targets, problems, notes = source.files(paths, settings)
    for note in notes:
        output.note(note)
    return _Job(settings, source, revert, dry_run, write), targets, problems


def rewrite_one(job: _Job, item, writes: BackgroundWrites | None = None):
    """Rewrite one file: written (atomically, or handed to ``writes``) or diffed ->
    ``(result, changed, diff)``; a file that cannot be processed is its result's error."""
    path, display = item
    try:
        original = read_bytes(path, display)
        text = decode(original, display)
        done = rewrite_text(text, display, job.settings, revert=job.revert)
        if job.extra_edits:
            done = with_source_plan(job.source, path, display, done, job.settings)
        diff = None
        if done.changed:
            new = done.text.encode("utf-8")
            if job.dry_run:
                diff = unified_diff(text, done.text, display)
            elif job.write and writes is not None:
                writes.submit(display, path, new, original, display)
            elif job.write:
                write_atomic(path, new, original, display)
        return done.result, done.changed, diff, done.unedited
    except FileError as exc:
        return FileResult(display, error=exc), False, None, 0


def _outcome(job: _Job, outcome):
    """What the summary needs of one file, small to send back from a worker: the references
    themselves stay there (pickling thousands of them costs more than the report)."""
    result, was_changed, diff, unedited = outcome
    if result.error is not None:
        return result, was_changed, diff, 0, []
    wanted = MIRRORED if job.revert else UNMIRRORED
    n = sum(1 for r in result.refs if r.status == wanted and r.target) - unedited
    skipped = [
        f"{ref.file}:{ref.line}:{ref.column}: {ref.status}: {ref.path} {ref.written!r}: {ref.hint}"
        for ref in result.refs
        if ref.status in (AMBIGUOUS, INVALID)
    ]
    result.refs = []  # counted and formatted above
    return result, was_changed, diff, n, skipped


def write_files(job: _Job, targets, jobs: int) -> list:
    """:func:`rewrite_one` over ``targets`` in batches on ``jobs`` forked workers ->
    ``(result, changed, diff, references edited, left for review)`` per file, in order."""

    def batch(items):
        """A batch of files; the writes run on a few threads meanwhile.

        Not for a source that plans sequentially (--effective: a file's plan reads its other
        values layers from disk, so each write lands before the next file is read)."""
        if not job.write or not job.source.parallel:
            return [_outcome(job, rewrite_one(job, item)) for item in items]
        writes = BackgroundWrites()
        done = [rewrite_one(job, item, writes) for item in items]
        failed = writes.wait()
        return [
            _outcome(
                job, (FileResult(o[0].file, error=failed[o[0].file]), False, None, 0) if o[0].file in failed else o
            )
            for o in done
        ]

    workers = worth_forking(targets, jobs)
    size = max(1, len(targets) // (workers * 8))
    batches = [targets[i : i + size] for i in range(0, len(targets), size)]
    return [o for part in map_files(batch, batches, workers) for o in part]


def summarise(outcomes: list, problems: list, total: int, write: bool) -> tuple[int, int]:
    """Print the diffs (stdout), the notes, each changed file and the totals (stderr) ->
    ``(files changed, files failed)``."""
    changed = 0
    edited_refs = 0
    skipped: list[str] = []
    for result, was_changed, diff, n, skipped_here in outcomes:
        if diff:
            output.out(diff, end="")
        if result.error is not None:
            continue
        for note in result.notes:
            warn(f"imagemirror: {note}")
        skipped.extend(skipped_here)
        if was_changed:
            changed += 1
            edited_refs += n
            verb = "would rewrite" if not write else "rewrote"
            warn(f"{verb} {result.file} ({n} reference{'s' if n != 1 else ''})")
    for line in skipped:
        warn(f"imagemirror: left as is: {line}")
    failed = report_errors(problems + [o[0] for o in outcomes])
    verb = "would change" if not write else "changed"
    warn(
        f"imagemirror: {verb} {changed} of {total} file{'s' if total != 1 else ''} "
        f"({edited_refs} reference{'s' if edited_refs != 1 else ''})"
        + (f"; {failed} failed" if failed else "")
        + (f"; {len(skipped)} left for review" if skipped else "")
    )
    return changed, failed
