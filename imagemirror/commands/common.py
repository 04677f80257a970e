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


def unified_diff(text: str, new: str, display: str) -> str:
    """``text`` -> ``new`` as a unified diff that ``git apply`` takes (``a/``, ``b/`` paths)."""
    import difflib  # only the commands that diff pay for it (not check's start-up)

    return "".join(
        # a line without its newline (the file's last) gets git's marker
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(
            text.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{display.lstrip('/')}",
            tofile=f"b/{display.lstrip('/')}",
        )
    )


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
