"""``imagemirror rewrite``: rewrite references to the cache, byte-exactly, atomically.

The core's edits of each file, plus what the source adds (``--effective``: the chart
overrides, :meth:`imagemirror.charts.source.EffectiveSource.plan`), applied as one plan.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from .. import output
from ..config import Settings
from ..errors import ConfigError, Exit, FileError
from ..files import BackgroundWrites, decode, read_bytes, write_atomic
from ..inventory import Source, ValuesText, settle
from ..model import FileResult
from ..parallel import map_files, worth_forking
from ..rewrite import Rewritten, allow_insecure, rewrite_text
from ..yaml_edit import set_values
from .common import report_errors, settings_for, warn


def with_source_plan(source: Source, path: Path, display: str, done: Rewritten, settings: Settings) -> Rewritten:
    """``done`` (the core's rewrite of one file) with the source's own edits applied on top."""
    extra = source.plan(path, display, done.text, settings)
    if extra is None:
        return done
    notes = list(done.result.notes)
    if not extra.assignments:
        notes.extend(n for n in extra.notes if n not in notes)
        return Rewritten(done.text, FileResult(display, refs=done.result.refs, notes=notes), done.changed)
    text = set_values(done.text, extra.assignments, str(path), what="chart overrides")
    extra.verify(text)
    notes.extend(n for n in extra.notes if n not in notes)
    if extra.relocated_bitnami:  # the images the source moved need the core's Bitnami flag too
        text, flag_notes = allow_insecure(text, display, settings)
        notes.extend(n for n in flag_notes if n not in notes)
    if text != done.text:
        notes.extend(extra.closing)
    refs = settle(done.result.refs, extra.settled)
    return Rewritten(text, FileResult(display, refs=refs, notes=notes), done.changed or text != done.text)


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
) -> int:
    settings = settings_for(paths, config, registry)
    if settings.registry is None:
        raise ConfigError("no cache registry configured: set `registry:` in .imagemirror.yaml or pass --registry")
    if source is None or revert:  # --revert maps the text back; no source adds edits to that
        source = ValuesText()
    targets, problems, notes = source.files(paths, settings)
    for note in notes:
        output.note(note)
    write = not (dry_run or check_only)
    extra_edits = source.kind != ValuesText.kind
    if not source.parallel:  # e.g. a plan that reads a release's other layers: one process
        jobs = 1

    def one(item, writes: BackgroundWrites | None = None):
        path, display = item
        try:
            original = read_bytes(path, display)
            text = decode(original, display)
            done = rewrite_text(text, display, settings, revert=revert)
            if extra_edits:
                done = with_source_plan(source, path, display, done, settings)
            diff = None
            if done.changed:
                new = done.text.encode("utf-8")
                if dry_run:
                    diff = "".join(
                        # a line without its newline (the file's last) gets git's marker
                        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                        for line in difflib.unified_diff(
                            text.splitlines(keepends=True),
                            done.text.splitlines(keepends=True),
                            fromfile=f"a/{display.lstrip('/')}",
                            tofile=f"b/{display.lstrip('/')}",
                        )
                    )
                elif write and writes is not None:
                    writes.submit(display, path, new, original, display)
                elif write:
                    write_atomic(path, new, original, display)
            return done.result, done.changed, diff
        except FileError as exc:
            return FileResult(display, error=exc), False, None

    wanted = "mirrored" if revert else "unmirrored"

    def summary(outcome):
        """What the report needs of one file, small to send back from a worker: the
        references themselves stay there (pickling thousands of them costs more than
        the report)."""
        result, was_changed, diff = outcome
        if result.error is not None:
            return result, was_changed, diff, 0, []
        n = sum(1 for r in result.refs if r.status == wanted and r.target)
        skipped = [
            f"{ref.file}:{ref.line}:{ref.column}: {ref.status}: {ref.path} {ref.written!r}: {ref.hint}"
            for ref in result.refs
            if ref.status in ("ambiguous", "invalid")
        ]
        result.refs = []  # counted and formatted above
        return result, was_changed, diff, n, skipped

    def batch(items):
        """``one`` over a batch of files; the writes run on a few threads meanwhile.

        Not for a source that plans sequentially (--effective: a file's plan reads its other
        values layers from disk, so each write lands before the next file is read)."""
        if not write or not source.parallel:
            return [summary(one(item)) for item in items]
        writes = BackgroundWrites()
        done = [one(item, writes) for item in items]
        failed = writes.wait()
        return [
            summary((FileResult(o[0].file, error=failed[o[0].file]), False, None) if o[0].file in failed else o)
            for o in done
        ]

    workers = worth_forking(targets, jobs)
    size = max(1, len(targets) // (workers * 8))
    batches = [targets[i : i + size] for i in range(0, len(targets), size)]
    outcomes = [o for part in map_files(batch, batches, workers) for o in part]
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
    total = len(targets)
    verb = "would change" if not write else "changed"
    warn(
        f"imagemirror: {verb} {changed} of {total} file{'s' if total != 1 else ''} "
        f"({edited_refs} reference{'s' if edited_refs != 1 else ''})"
        + (f"; {failed} failed" if failed else "")
        + (f"; {len(skipped)} left for review" if skipped else "")
    )
    if failed:
        return Exit.FILE_ERROR
    if changed and (check_only or nonzero_on_change):
        return Exit.FINDINGS
    return Exit.OK
