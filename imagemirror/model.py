"""Records that flow between the core and the commands (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import FileError


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image reference found in a values file.

    ``line``/``column`` are 1-based, of the reference's value (the scalar that carries
    the name).  ``lines`` are every line the reference involves (its scalars and its
    key), for inline suppression.  ``written`` is the reference as the file composes it;
    ``upstream`` is fully qualified after aliases (``:latest`` when neither tag nor
    digest), ``target`` is what ``rewrite`` writes (None when nothing is to change).
    """

    file: str
    line: int
    column: int
    path: str
    written: str
    upstream: str | None
    status: str
    target: str | None
    hint: str | None = None
    lines: tuple[int, ...] = ()
    suppressed: bool = False
    source: str = "values"  # values | argocd | flux | helmfile | kustomize | manifest

    def to_json(self) -> dict:
        out = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "written": self.written,
            "upstream": self.upstream,
            "status": self.status,
            "target": self.target,
            "source": self.source,
        }
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass(slots=True)
class FileResult:
    """What one file yielded: its references, or the error that stopped it."""

    file: str
    refs: list[ImageRef] = field(default_factory=list)
    error: FileError | None = None
    notes: list[str] = field(default_factory=list)
