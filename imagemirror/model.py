"""Records that flow between the core and the commands (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import FileError


class Context:
    """What pulls a reference, beyond the file that names it (a release, for a source that
    knows one): shown after the reference by ``list`` and ``check``, in ``list``'s JSON.

    ``label`` is the text people read (``release web, image: chart default of web-1.0``);
    ``release`` is None when the source knows no release for the file (``label`` says why).
    ``disabled``: under an ``enabled: false`` (likely not rendered; ``check`` only warns).
    (A plain slotted class, not a dataclass: ``check`` imports this at start-up.)
    """

    __slots__ = ("label", "release", "chart", "origin", "default_only", "disabled", "rendered", "literal", "test_hook")

    def __init__(
        self,
        label: str,
        release: str | None = None,
        chart: str | None = None,
        origin: str | None = None,
        default_only: bool = False,
        disabled: bool = False,
        rendered: dict | None = None,
        literal: str | None = None,
        test_hook: bool = False,
    ):
        self.label = label
        self.release = release
        self.chart = chart
        self.origin = origin
        self.default_only = default_only
        self.disabled = disabled
        # Rendered by real Helm (imagemirror.charts.rendered): where the image renders, and
        # ``literal`` (the message) when no values key composes it -- ``check`` reports IM007
        # (a warning for a Helm test hook, unless --strict).
        self.rendered = rendered
        self.literal = literal
        self.test_hook = test_hook

    def _key(self) -> tuple:
        return (
            self.label,
            self.release,
            self.chart,
            self.origin,
            self.default_only,
            self.disabled,
            tuple(sorted((k, repr(v)) for k, v in self.rendered.items())) if self.rendered else None,
            self.literal,
            self.test_hook,
        )

    def __eq__(self, other) -> bool:
        return other.__class__ is Context and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Context({self.label!r}, release={self.release!r})"

    def __reduce__(self):  # records cross process boundaries
        return (
            Context,
            (
                self.label,
                self.release,
                self.chart,
                self.origin,
                self.default_only,
                self.disabled,
                self.rendered,
                self.literal,
                self.test_hook,
            ),
        )

    def to_json(self) -> dict:
        if self.release is None:
            return {}
        out = {
            "release": self.release,
            "chart": self.chart,
            "origin": self.origin,
            "default_only": self.default_only,
            "disabled": self.disabled,
        }
        if self.rendered is not None:
            out.update(self.rendered, literal=self.literal is not None)
        return out


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image reference found in a values file.

    ``line``/``column`` are 1-based, of the reference's value (the scalar that carries
    the name).  ``lines`` are the lines the reference is written on (its own scalars and
    its key, not the lines of anchors it aliases), for inline suppression.  ``written`` is the reference as the file composes it;
    ``upstream`` is fully qualified after aliases (``:latest`` when neither tag nor
    digest), ``target`` is what ``rewrite`` writes (None when nothing is to change).

    Set by the scan from the text (:mod:`imagemirror.suppress`): ``suppressed`` (a bare
    ``# imagemirror: ignore``: every code, every command), ``ignored`` (the codes an
    ``ignore[...]`` names), ``fix_span`` (columns of the reference in its line, when it has a
    target).  ``source`` is the kind of source that found it (None: the values text), and
    ``context`` what pulls it (a release), when the source knows.  ``resolved``: the reference
    as deployed when ``written`` holds variables a source resolved (Flux ``postBuild``).
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
    ignored: frozenset[str] = frozenset()
    fix_span: tuple[int, int] | None = None
    source: str | None = None  # argocd | flux | helmfile | kustomize | manifest | effective (None: values)
    context: Context | None = None
    resolved: str | None = None  # what is deployed when ``written`` has variables (Flux substitution)

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
            "source": self.source or "values",
        }
        if self.hint:
            out["hint"] = self.hint
        if self.resolved is not None:
            out["resolved"] = self.resolved
        if self.context is not None:
            out.update(self.context.to_json())
        return out


@dataclass(slots=True)
class FileResult:
    """What one file yielded: its references, or the error that stopped it."""

    file: str
    refs: list[ImageRef] = field(default_factory=list)
    error: FileError | None = None
    notes: list[str] = field(default_factory=list)
