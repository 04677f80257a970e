"""``imagemirror list``: the inventory of image references."""

from __future__ import annotations

import sys

from ..errors import Exit
from ..inventory import scan
from ..report import printable
from .common import report_errors, settings_for


def list_images(paths, config=None, registry=None, fmt: str = "text", jobs: int = 0) -> int:
    settings = settings_for(paths, config, registry)
    results = scan(paths, settings, jobs=jobs)
    refs = [ref for result in results for ref in result.refs]
    out = sys.stdout
    if fmt == "json":
        import json

        json.dump([ref.to_json() for ref in refs], out, indent=2)
        out.write("\n")
    else:
        for ref in refs:
            line = f"{ref.file}:{ref.line}:{ref.column}: {ref.status:<10} {ref.path}  {ref.written}"
            if ref.target:
                line += f"  ->  {ref.target}"
            elif ref.hint and ref.status in ("ambiguous", "invalid", "no-rule"):
                line += f"  ({ref.hint})"
            out.write(printable(line) + "\n")
    failed = report_errors(results)
    if settings.registry is None:
        print("imagemirror: note: no cache registry configured (registry: in .imagemirror.yaml, or --registry)", file=sys.stderr)
    return Exit.FILE_ERROR if failed else Exit.OK
