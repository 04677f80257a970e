"""The one exit-code table, and the exceptions that map onto it.

| code | meaning                                                                 |
|------|-------------------------------------------------------------------------|
| 0    | success: nothing wrong found, or every change made                      |
| 1    | findings: `check` found references to fix, `warm` had an image fail,    |
|      | `rewrite --check`/the pre-commit fixer changed (or would change) files  |
| 2    | usage or settings error (bad option, bad `.imagemirror.yaml`)           |
| 3    | some input file could not be processed (invalid YAML, unreadable,       |
|      | changed while being rewritten); the other files were still processed   |
| 4    | an external service failed (AWS API, registry, Docker engine)           |
| 5    | internal error: a bug in imagemirror (please report it; run again with  |
|      | ``IMAGEMIRROR_DEBUG=1`` for the traceback)                              |
| 130  | interrupted (Ctrl-C)                                                    |
| 141  | stdout was closed before the output ended (``imagemirror list | head``) |
"""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    FILE_ERROR = 3
    SERVICE_ERROR = 4
    INTERNAL = 5
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class ImagemirrorError(Exception):
    """An error with a one-line message for the user and an exit code."""

    exit_code: Exit = Exit.USAGE


class ConfigError(ImagemirrorError):
    exit_code = Exit.USAGE


class ServiceError(ImagemirrorError):
    exit_code = Exit.SERVICE_ERROR


class FileError(ImagemirrorError):
    """A file that cannot be handled; ``str()`` is ``file:line:col: message``."""

    exit_code = Exit.FILE_ERROR

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        where = path if line is None else f"{path}:{line}:{column or 1}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # results cross process boundaries
        return (type(self), (self.path, self.message, self.line, self.column))
