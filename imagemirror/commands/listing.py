"""``imagemirror list``: the inventory of image references (from any source)."""

from __future__ import annotations

import json

from .. import output
from ..errors import Exit
from ..inventory import Source, scan
from ..model import ImageRef
from ..report import printable
from ..rules import AMBIGUOUS, INVALID, NO_RULE, UNRESOLVED
from .common import report_errors, settings_for


def format_line(ref: ImageRef) -> str:
    """``file:line:col: status path written  ->  target`` (and the release context, if any)."""
    line = f"{ref.file}:{ref.line}:{ref.column}: {ref.status:<10} {ref.path}  {ref.written}"
    if ref.target:
        line += f"  ->  {ref.target}"
    elif ref.hint and ref.status in (AMBIGUOUS, INVALID, NO_RULE, UNRESOLVED):
        line += f"  ({ref.hint})"
    if ref.context is not None:
        line += f"  [{ref.context.label}]"
    return printable(line)  # a value never prints a control character (ESC, a newline) raw


def list_images(
    paths, config=None, registry=None, fmt: str = "text", jobs: int = 0, source: Source | None = None
) -> int:
    settings = settings_for(paths, config, registry)
    found = scan(paths, settings, jobs, source=source)
    for note in found.notes:
        output.note(note)
    refs = found.refs
    if fmt == "json":
        output.out(json.dumps([ref.to_json() for ref in refs], indent=2))
    else:
        for ref in refs:
            output.out(format_line(ref))
    failed = report_errors(found.results)
    if settings.registry is None:
        output.note("no cache registry configured (registry: in .imagemirror.yaml, or --registry)")
    if found.service_failed:
        return Exit.SERVICE_ERROR
    return Exit.FILE_ERROR if failed else Exit.OK
