"""Findings and the formats CI systems read: pure functions from records to strings.

A :class:`Finding` is a small record (code, level, message, file, 1-based line and
column, the reference as written and the fix).  ``format_text``, ``format_github``,
``format_json``, ``format_sarif`` and ``format_gitlab`` turn a :class:`Report` into the text
printed on stdout; :func:`output_style`, :func:`present` and :func:`exit_code` decide the
format, the colour, what goes to each stream and the exit code.  Nothing here reads files,
looks at the terminal or writes to a stream (the caller prints through
:mod:`imagemirror.output`).

Codes are stable: scripts and ``# imagemirror: ignore[CODE]`` comments rely on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, Exit

ERROR = "error"
WARNING = "warning"
NOTE = "note"
LEVELS = (ERROR, WARNING, NOTE)


class Rule:
    """A finding's kind: stable code, name, default level, descriptions."""

    __slots__ = ("code", "name", "level", "short", "help")

    def __init__(self, code: str, name: str, level: str, short: str, help: str):
        self.code, self.name, self.level, self.short, self.help = code, name, level, short, help


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            "IM001",
            "unmirrored",
            ERROR,
            "Image not pulled through the cache",
            "A pull-through cache rule exists for this image's upstream registry, but the "
            "reference still points at the upstream. Use the fix (the cache reference), or run "
            "`imagemirror rewrite` on the file.",
        ),
        Rule(
            "IM002",
            "denied-host",
            ERROR,
            "Image pulled from a denied registry",
            "The reference is pulled from a registry host listed in `--deny` or `deny:` in "
            ".imagemirror.yaml (compared after normalisation: `nginx` and `index.docker.io/...` "
            "are docker.io; `docker.io.example.com` is not). Route it through the cache.",
        ),
        Rule(
            "IM003",
            "no-rule",
            WARNING,
            "No cache rule for the upstream registry",
            "No pull-through cache rule covers this upstream registry, so the image cannot be "
            "mirrored by a rewrite. Add a rule, copy the image another way, or ignore it.",
        ),
        Rule(
            "IM004",
            "ambiguous",
            WARNING,
            "Image reference the values file alone cannot resolve",
            "How the chart composes this reference (e.g. a default `registry`) is not visible "
            "in the values file, so imagemirror will not guess. Set the registry explicitly.",
        ),
        Rule(
            "IM005",
            "invalid",
            WARNING,
            "Invalid image reference",
            "The value is not a valid image reference (distribution reference grammar).",
        ),
        Rule(
            "IM006",
            "templated",
            NOTE,
            "Templated image reference not checked",
            "The value is a template (`{{ ... }}`) and is resolved only when the chart renders.",
        ),
        Rule(
            "IM007",
            "literal-in-template",
            ERROR,
            "Image written literally in a chart template",
            "Real Helm renders this image, but no values key composes it: the chart's template "
            "writes it literally, so no values file can move it onto the cache. Patch the rendered "
            "object (a kustomize patch or a Helm post-renderer), take a chart version that exposes an "
            "image key, or fork the chart. A Helm test hook (`helm.sh/hook: test`) is a warning "
            "(an error with --strict): Argo CD does not run test hooks, `helm test` and Flux do.",
        ),
        Rule(
            "IM008",
            "tag-moved",
            ERROR,
            "Pinned digest no longer what the tag names",
            "`check --online`: the reference carries a tag and a digest, and the cache now resolves the "
            "tag to another digest (the tag moved upstream, or was bumped by hand while the digest was "
            "not). Both digests are named. Re-pin (`imagemirror pin`), or set the tag that names the "
            "pinned image.",
        ),
        Rule(
            "IM009",
            "digest-not-cached",
            ERROR,
            "Pinned digest not in the cache",
            "`check --online`: the cache does not serve the pinned digest, so nodes cannot pull it "
            "(ECR never fills its cache by digest). Run the `imagemirror warm` command given while the "
            "tag still names the digest; otherwise pin the tag's digest with `imagemirror pin`.",
        ),
        Rule(
            "IM010",
            "numeric-tag",
            WARNING,
            "Unquoted tag that YAML reads as a number",
            "An unquoted tag such as `1.10` is a number to YAML: Helm renders it as `1.1` (and "
            "`1000000` as `1e+06`), so the release pulls another tag. Quote the tag.",
        ),
        Rule(
            "IM011",
            "unresolved-variable",
            ERROR,
            "Image set by a variable the repository does not set",
            "A Flux Kustomization's `postBuild` substitutes `${var}` in this reference, and the "
            "variable's value is not in the repository (a `substituteFrom` Secret, a ConfigMap made "
            "in the cluster, or set nowhere), or no Flux Kustomization of the repository builds the "
            "file (the variable is substituted elsewhere), so the image it deploys cannot be "
            "checked. Set the value in `postBuild.substitute` or a default (`${var:=value}`), or "
            "ignore it.",
        ),
        Rule(
            "IM100",
            "file-error",
            ERROR,
            "File could not be processed",
            "The file could not be read or parsed; nothing in it was checked.",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place.

    ``line``/``column`` are 1-based.  ``reference`` is the reference as the file
    composes it; ``fix`` is the reference to use instead (None when there is none).
    ``fix_span`` is ``(start, end)``, 1-based columns on ``line`` (end exclusive), set
    only when ``fix`` replaces exactly those characters -- then SARIF carries a fix.
    """

    code: str
    level: str
    message: str
    file: str
    line: int
    column: int
    reference: str | None = None
    fix: str | None = None
    path: str | None = None
    fix_span: tuple[int, int] | None = None
    suppressed: bool = False

    def to_json(self) -> dict:
        out = {
            "code": self.code,
            "rule": RULES[self.code].name if self.code in RULES else None,
            "level": self.level,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "reference": self.reference,
            "fix": self.fix,
        }
        return out


class Report:
    """All findings of one run (suppressed ones included, flagged) and what was scanned."""

    __slots__ = ("findings", "files", "references")

    def __init__(self, findings: list[Finding] | None = None, files: int = 0, references: int = 0):
        self.findings: list[Finding] = list(findings) if findings is not None else []
        self.files = files
        self.references = references

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    @property
    def suppressed(self) -> int:
        return sum(1 for f in self.findings if f.suppressed)

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if not f.suppressed and f.level == level)


def sort_key(finding: Finding) -> tuple:
    return (finding.file, finding.line, finding.column, finding.code)


# --- text -------------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\n``, ``\\u2028``, bidi
    overrides): a value from a file never moves the cursor, colours the terminal, starts a
    line of its own (a GitHub workflow command such as ``::error``) or reorders the text."""
    if text.isprintable():  # (Python's printable excludes Cc, Cf, Zl, Zp, Zs but the space)
        return text

    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


_COLOURS = {ERROR: "\033[31m", WARNING: "\033[33m", NOTE: "\033[36m"}
_BOLD = "\033[1m"
_RESET = "\033[0m"


def format_text(report: Report, color: bool = False) -> str:
    """``file:line:col: CODE message``, one per line; notes and suppressed ones left out."""
    lines = []
    for f in sorted(report.active, key=sort_key):
        if f.level == NOTE:
            continue
        where = f"{f.file}:{f.line}:{f.column}:"
        if color:
            lines.append(
                f"{_BOLD}{printable(where)}{_RESET} {_COLOURS.get(f.level, '')}{f.code}{_RESET} {printable(f.message)}"
            )
        else:
            lines.append(printable(f"{where} {f.code} {f.message}"))
    return "".join(line + "\n" for line in lines)


def summary(report: Report) -> str:
    """One line for stderr: counts of errors, warnings and suppressed findings."""
    errors, warnings = report.count(ERROR), report.count(WARNING)
    parts = [
        f"{report.references} image reference{'s' * (report.references != 1)} "
        f"in {report.files} file{'s' * (report.files != 1)}",
        f"{errors} error{'s' * (errors != 1)}",
        f"{warnings} warning{'s' * (warnings != 1)}",
        f"{report.suppressed} suppressed",
    ]
    return "imagemirror check: " + ", ".join(parts)


# --- GitHub workflow commands -------------------------------------------------------------

_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", NOTE: "notice"}


def escape_data(value: str) -> str:
    """Escape a workflow command's message (actions/toolkit ``escapeData``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (actions/toolkit ``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_github(report: Report) -> str:
    """``::error file=...,line=...,col=...,title=...::message`` annotations, one per line."""
    lines = []
    for f in sorted(report.active, key=sort_key):
        if f.level == NOTE:
            continue
        rule = RULES.get(f.code)
        props = [
            ("file", f.file),
            ("line", str(f.line)),
            ("col", str(f.column)),
        ]
        props.append(("title", f"{f.code} {rule.name}" if rule else f.code))
        text = ",".join(f"{k}={escape_property(v)}" for k, v in props)
        lines.append(f"::{_GITHUB_LEVEL[f.level]} {text}::{escape_data(f.message)}")
    return "".join(line + "\n" for line in lines)


# --- JSON ---------------------------------------------------------------------------------


def format_json(report: Report) -> str:
    import json

    doc = {
        "findings": [f.to_json() for f in sorted(report.active, key=sort_key)],
        "suppressed": report.suppressed,
        "summary": {
            "files": report.files,
            "references": report.references,
            "errors": report.count(ERROR),
            "warnings": report.count(WARNING),
            "notes": report.count(NOTE),
            "suppressed": report.suppressed,
        },
    }
    return json.dumps(doc, indent=2) + "\n"


# --- SARIF 2.1.0 --------------------------------------------------------------------------

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def artifact_uri(file: str) -> str:
    """A URI reference for a file: relative paths stay relative (``/``-separated, encoded)."""
    from pathlib import PurePath
    from urllib.parse import quote

    path = PurePath(file)
    if path.is_absolute():
        from pathlib import Path

        return Path(file).as_uri()
    posix = path.as_posix()
    return quote(posix, safe="/-._~")


def format_sarif(report: Report, version: str = "0") -> str:
    """A SARIF 2.1.0 log with one run; suppressed findings carry ``suppressions``."""
    import json

    codes = list(RULES)
    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.short},
            "fullDescription": {"text": rule.help},
            "help": {"text": rule.help},
            "defaultConfiguration": {"level": rule.level},
        }
        for rule in RULES.values()
    ]
    results = []
    for f in sorted(report.findings, key=sort_key):
        uri = artifact_uri(f.file)
        region: dict = {"startLine": f.line, "startColumn": f.column}
        result: dict = {
            "ruleId": f.code,
            "level": f.level,
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}],
        }
        if f.code in RULES:
            result["ruleIndex"] = codes.index(f.code)
        props = {}
        if f.reference is not None:
            props["reference"] = f.reference
        if f.path is not None:
            props["path"] = f.path
        if f.fix is not None:
            props["fix"] = f.fix
        if props:
            result["properties"] = props
        if f.fix is not None and f.fix_span is not None:
            result["fixes"] = [
                {
                    "description": {"text": f"Use {f.fix}"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": uri},
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": f.line,
                                        "startColumn": f.fix_span[0],
                                        "endLine": f.line,
                                        "endColumn": f.fix_span[1],
                                    },
                                    "insertedContent": {"text": f.fix},
                                }
                            ],
                        }
                    ],
                }
            ]
        if f.suppressed:
            result["suppressions"] = [{"kind": "inSource", "justification": "# imagemirror: ignore"}]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imagemirror",
                        "version": version,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


# --- GitLab Code Quality -----------------------------------------------------------------

# GitLab's Code Quality report: a JSON array of issues with ``description``, ``check_name``,
# ``fingerprint``, ``severity`` (info, minor, major, critical, blocker), ``location.path``
# and ``location.lines.begin``.  GitLab compares fingerprints between the merge request and
# its target branch, so a fingerprint names the finding, not its line: code, file, YAML path
# and reference (a counter disambiguates identical findings, e.g. in two ``---`` documents).
_GITLAB_SEVERITY = {ERROR: "major", WARNING: "minor", NOTE: "info"}


def format_gitlab(report: Report) -> str:
    """The active findings as a GitLab Code Quality report (``artifacts:reports:codequality``)."""
    import hashlib
    import json

    issues = []
    seen: dict[str, int] = {}
    for f in sorted(report.active, key=sort_key):
        path = f.file[2:] if f.file.startswith("./") else f.file
        key = "\0".join((f.code, path, f.path or "", f.reference or ""))
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n:
            key += f"\0{n}"
        rule = RULES.get(f.code)
        issues.append(
            {
                "description": f.message,
                "check_name": f"{f.code} {rule.name}" if rule else f.code,
                "fingerprint": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest(),
                "severity": _GITLAB_SEVERITY.get(f.level, "info"),
                "location": {"path": path, "lines": {"begin": f.line}},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


FORMATS = ("text", "github", "json", "sarif", "gitlab")


def render(report: Report, fmt: str, color: bool = False, version: str = "0") -> str:
    """The report in one of :data:`FORMATS` (``color`` only matters for text)."""
    if fmt == "text":
        return format_text(report, color=color)
    if fmt == "github":
        return format_github(report)
    if fmt == "json":
        return format_json(report)
    if fmt == "sarif":
        return format_sarif(report, version)
    if fmt == "gitlab":
        return format_gitlab(report)
    raise ValueError(f"unknown format {fmt!r}")


# --- format, streams and exit code (pure; the command prints through imagemirror.output) ----


def choose_format(fmt: str | None, env) -> str:
    """``fmt`` when given, else ``github`` under GitHub Actions, else ``text``."""
    if fmt:
        return fmt
    return "github" if env.get("GITHUB_ACTIONS") == "true" else "text"


def output_style(fmt: str | None, color: bool | None, env, can_color: bool = False) -> tuple[str, bool]:
    """The format to print (see :func:`choose_format`) and whether to colour it: ``color``
    when given, else only text and only where ``can_color`` (``output.use_color``)."""
    fmt = choose_format(fmt, env)
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r}")
    if color is None:
        color = fmt == "text" and can_color
    return fmt, bool(color)


def present(report: Report, fmt: str, color: bool = False, version: str = "0") -> tuple[str, str | None]:
    """What to print: the findings for stdout, and the summary line for stderr (for people:
    the text and github formats only; None for the machine formats)."""
    return render(report, fmt, color=color, version=version), summary(report) if fmt in ("text", "github") else None


def exit_code(report: Report) -> Exit:
    """3 when a file could not be processed, 1 for an unsuppressed error, else 0."""
    active = report.active
    if any(f.code == "IM100" for f in active):
        return Exit.FILE_ERROR
    if any(f.level == ERROR for f in active):
        return Exit.FINDINGS
    return Exit.OK
