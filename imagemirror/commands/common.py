"""Helpers the commands share: settings for a run, stderr reporting."""

from __future__ import annotations

from pathlib import Path

from .. import output
from ..config import Settings, resolve_settings
from ..model import FileResult


def settings_for(paths, config: Path | None, registry: str | None) -> Settings:
    """Settings discovered from the first path (or ``--config``), with ``--registry`` applied."""
    first = Path(paths[0]) if paths else Path.cwd()
    return resolve_settings(first, config=config, registry=registry)


def warn(message: str) -> None:
    from ..report import printable

    output.err(printable(message))


def report_errors(results: list[FileResult]) -> int:
    """Print each file error on stderr; return how many files failed."""
    failed = 0
    for result in results:
        if result.error is not None:
            failed += 1
            warn(f"imagemirror: error: {result.error}")
    return failed
