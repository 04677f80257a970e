"""``imagemirror list``: the inventory of image references."""

from __future__ import annotations

import json

from .. import output
from ..errors import Exit
from ..inventory import scan
from .common import report_errors, settings_for


def list_images(paths, config=None, registry=None, fmt: str = "text", jobs: int = 0) -> int:
    settings = settings_for(paths, config, registry)
    results = scan(paths, settings, jobs=jobs)
    refs = [ref for result in results for ref in result.refs]
    if fmt == "json":
        output.out(json.dumps([ref.to_json() for ref in refs], indent=2))
    else:
        for ref in refs:
            line = f"{ref.file}:{ref.line}:{ref.column}: {ref.status:<10} {ref.path}  {ref.written}"
            if ref.target:
                line += f"  ->  {ref.target}"
            elif ref.hint and ref.status in ("ambiguous", "invalid", "no-rule"):
                line += f"  ({ref.hint})"
            output.out(line)
    failed = report_errors(results)
    if settings.registry is None:
        output.note("no cache registry configured (registry: in .imagemirror.yaml, or --registry)")
    return Exit.FILE_ERROR if failed else Exit.OK
