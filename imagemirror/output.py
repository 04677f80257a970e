"""The one writer of stdout and stderr (results on stdout, everything else on stderr).

- :func:`out` -- results, what a pipe reads (``list``, reports, diffs, plans).
- :func:`err` -- chatter: progress, summaries, hints.
- :func:`note`, :func:`warning`, :func:`error` -- the ``imagemirror: <kind>: message`` lines.
- :func:`use_color` -- the colour policy: only on a terminal, never with ``NO_COLOR`` set.

The streams are looked up at each call (a test's capture, click's runner and a worker's
redirection all see the output).  ``err`` flushes stdout first, so on a shared terminal the
two streams interleave in the order they were written.  Nothing else in the package writes
to ``sys.stdout`` or ``sys.stderr``; pure modules return text and notes instead.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

# click's rule, kept from when commands wrote through click.echo: escape sequences reach
# a terminal, or a stream the caller says wants colour, and nothing else
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def _write(stream, text: str, color: bool | None) -> None:
    if "\033" in text and not color and not (color is None and _isatty(stream)):
        text = _ANSI.sub("", text)
    stream.write(text)


def _isatty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def out(text: str = "", end: str = "\n", color: bool | None = None) -> None:
    """Write a result on stdout (``end=""`` when ``text`` already ends its line)."""
    _write(sys.stdout, text + end, color)


def err(text: str = "", end: str = "\n", color: bool | None = None) -> None:
    """Write a line for people on stderr."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe on stdout must not hide the message
        pass
    _write(sys.stderr, text + end, color)
    sys.stderr.flush()


def note(message: str) -> None:
    err(f"imagemirror: note: {_printable(message)}")


def warning(message: str) -> None:
    err(f"imagemirror: warning: {_printable(message)}")


def error(message: str) -> None:
    err(f"imagemirror: error: {_printable(message)}")


def _printable(message: str) -> str:
    """One line, whatever a file name or value in it holds (report.printable)."""
    from .report import printable

    return printable(message)


def use_color(env: Mapping[str, str] | None = None, stream=None) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    env = os.environ if env is None else env
    return _isatty(sys.stdout if stream is None else stream) and not env.get("NO_COLOR")
