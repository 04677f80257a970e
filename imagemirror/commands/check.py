"""``imagemirror check``: the CI gate and pre-commit hook.

Works on the inventory (``imagemirror.inventory.scan``): it never detects images itself.
Every reference gets at most one finding:

| status / condition                          | code  | level                          |
|---------------------------------------------|-------|--------------------------------|
| templated                                   | IM006 | note (never fails)             |
| invalid                                     | IM005 | warning; error with --strict   |
| pulled from a denied host (not the cache)   | IM002 | error                          |
| unmirrored (a cache rule applies)           | IM001 | error                          |
| no-rule                                     | IM003 | warning; error with --strict   |
| ambiguous                                   | IM004 | warning; error with --strict   |
| mirrored                                    | --    | --                             |
| the file could not be read or parsed        | IM100 | error (exit 3)                 |

Deny: a reference is denied when the registry it is pulled from (the host of the reference
as the file composes it, normalised: ``nginx`` and ``index.docker.io/x`` are
``docker.io``, ``docker.io.evil.com/x`` is not) is denied, or -- for a reference not on
the cache registry -- when its upstream after ``aliases:`` is.  A reference on the cache
registry is pulled from the cache, so denying its upstream does not fail it.  An
``ambiguous`` reference is judged on its composed form (fail closed).

Suppression: ``# imagemirror: ignore`` (or ``# imagemirror: ignore[IM003,IM004]``) in a
comment on any line of the reference (its value scalars or its image key).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..errors import ConfigError, Exit
from ..report import ERROR, NOTE, WARNING, Finding, Report

_IGNORE = re.compile(r"imagemirror:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?(?![\w\[-])")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?\Z")


# --- inline suppression (pure) ----------------------------------------------------------


def _skip_quoted(line: str, i: int) -> int:
    """Index just past the quoted scalar starting at ``line[i]`` (or len(line) if open)."""
    quote = line[i]
    j = i + 1
    n = len(line)
    while j < n:
        c = line[j]
        if quote == '"' and c == "\\":
            j += 2
            continue
        if c == quote:
            if quote == "'" and j + 1 < n and line[j + 1] == "'":  # '' is an escaped quote
                j += 2
                continue
            return j + 1
        j += 1
    return n


def comment_start(line: str) -> int | None:
    """Index of the ``#`` that starts a YAML comment on ``line``, or None.

    A ``#`` is a comment only at the start of the line or after a space or tab, and not
    inside a quoted scalar (quotes open a scalar only where a value can start).  Lines
    inside a multi-line quoted or block scalar are not recognised as such: references
    are single-line scalars, so the lines asked about are their own lines.
    """
    i, n = 0, len(line)
    value_start = True  # where a scalar may begin (line start, after ': ', '- ', '[', ',' ...)
    while i < n:
        c = line[i]
        if c in " \t":
            i += 1
            continue
        if c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
        if value_start and c in "'\"":
            i = _skip_quoted(line, i)
            value_start = False
            continue
        nxt = line[i + 1] if i + 1 < n else " "
        if c in "[{,":
            value_start = True
        elif c in "-?:" and nxt in " \t":
            value_start = True
        elif c == ":" and nxt in ",]}":
            value_start = True
        else:
            value_start = False
        i += 1
    return None


def split_lines(text: str) -> list[str]:
    """Lines as the YAML parser numbers them (its marks give the inventory's positions):
    CRLF, LF, a lone CR, and -- as libyaml and ruamel.yaml count them -- NEL, LS, PS."""
    return _LINE_BREAK.split(text)


def ignore_directives(text: str) -> dict[int, frozenset[str] | None]:
    """1-based line -> codes ignored on it (None: every code), from ``# imagemirror: ignore``."""
    out: dict[int, frozenset[str] | None] = {}
    if "imagemirror:" not in text:
        return out
    for number, line in enumerate(split_lines(text), start=1):
        if "imagemirror:" not in line:
            continue
        start = comment_start(line)
        if start is None:
            continue
        match = _IGNORE.search(line, start)
        if match is None:
            continue
        if match.group(1) is None:
            out[number] = None
        else:
            codes = frozenset(c.strip().upper() for c in match.group(1).split(",") if c.strip())
            out[number] = codes or None
    return out


def is_ignored(code: str, lines: tuple[int, ...], directives: dict[int, frozenset[str] | None]) -> bool:
    for number in lines:
        if number in directives:
            codes = directives[number]
            if codes is None or code in codes:
                return True
    return False


def fix_span(line: str, column: int, written: str) -> tuple[int, int] | None:
    """Columns (1-based, end exclusive) of ``written`` when the scalar at ``column`` is exactly it."""
    i = column - 1
    if i < 0 or i >= len(line) or not written:
        return None
    if line[i] in "'\"":
        quote = line[i]
        inner = line[i + 1 : i + 1 + len(written)]
        after = i + 1 + len(written)
        if inner == written and after < len(line) and line[after] == quote:
            return (column + 1, column + 1 + len(written))
        return None
    if line[i : i + len(written)] != written:
        return None
    after = i + len(written)
    if after < len(line) and line[after] not in " \t":
        return None
    return (column, column + len(written))


# --- classification (pure) --------------------------------------------------------------


def canonical_deny(hosts) -> frozenset[str]:
    """Normalise ``--deny`` values (``index.docker.io`` is ``docker.io``); bad ones are usage errors."""
    from ..reference import canonical_host, is_domain

    out = set()
    for host in hosts:
        low = str(host).strip().lower()
        if not _HOST.match(low) or not (is_domain(low) or canonical_host(low) == "docker.io"):
            raise ConfigError(f"--deny: {host!r} is not a registry host name")
        out.add(canonical_host(low))
    return frozenset(out)


def denied_host(ref, deny: frozenset[str]) -> str | None:
    """The denied host ``ref`` is pulled from (see the module doc), or None."""
    if not deny:
        return None
    from ..reference import InvalidReference, parse

    hosts = []
    try:
        hosts.append(parse(ref.written).host)
    except (InvalidReference, TypeError):
        pass
    if ref.status != "mirrored" and ref.upstream:
        try:
            hosts.append(parse(ref.upstream).host)
        except (InvalidReference, TypeError):
            pass
    for host in hosts:
        if host in deny:
            return host
    return None


def _host_of(reference: str) -> str:
    from ..reference import InvalidReference, parse

    try:
        return parse(reference).host
    except (InvalidReference, TypeError):
        return "its registry"


def finding_for(ref, deny: frozenset[str] = frozenset(), strict: bool = False) -> Finding | None:
    """The finding for one :class:`~imagemirror.model.ImageRef`, or None when it is fine."""
    status = ref.status
    soft = ERROR if strict else WARNING
    hint = f" ({ref.hint})" if ref.hint else ""

    def make(code: str, level: str, message: str, fix: str | None = None) -> Finding:
        return Finding(
            code=code,
            level=level,
            message=message,
            file=ref.file,
            line=ref.line,
            column=ref.column,
            reference=ref.written,
            fix=fix,
            path=ref.path,
        )

    if status == "templated":
        return make("IM006", NOTE, f"{ref.written} is templated; not checked")
    if status == "invalid":
        return make("IM005", soft, f"{ref.written!r} is not a valid image reference{hint}")
    host = denied_host(ref, deny)
    if host is not None:
        if status == "ambiguous":
            message = f"{ref.written} may be pulled from denied registry {host}: ambiguous{hint}"
        elif ref.target:
            message = f"{ref.written} is pulled from denied registry {host}; use {ref.target}"
        else:
            message = f"{ref.written} is pulled from denied registry {host}; no cache rule covers it"
        return make("IM002", ERROR, message, ref.target)
    numeric = numeric_tag_hint(ref.hint)
    if status == "unmirrored":
        message = f"{ref.written} is not pulled through the cache; use {ref.target}"
        return make("IM001", ERROR, message + (f" ({numeric})" if numeric else ""), ref.target)
    if status == "no-rule":
        return make("IM003", soft, f"{ref.written}: no cache rule for {_host_of(ref.upstream or ref.written)}")
    if status == "ambiguous":
        return make("IM004", soft, f"{ref.written} is ambiguous{hint or ': the chart may supply its registry'}")
    if numeric:
        return make("IM008", soft, f"{ref.written}: {numeric}")
    return None


def numeric_tag_hint(hint: str | None) -> str | None:
    """The part of a reference's hint that says its tag is a YAML number (IM008)."""
    if not hint:
        return None
    from ..inventory import NUMERIC_TAG_MARK

    for part in hint.split("; "):
        if NUMERIC_TAG_MARK in part:
            return part
    return None


def file_error_finding(result) -> Finding:
    err = result.error
    return Finding(
        code="IM100",
        level=ERROR,
        message=getattr(err, "message", None) or str(err),
        file=getattr(err, "path", None) or result.file,
        line=getattr(err, "line", None) or 1,
        column=getattr(err, "column", None) or 1,
    )


def build_report(results, deny: frozenset[str] = frozenset(), strict: bool = False, read_text=None) -> Report:
    """Findings for scan results, with ``# imagemirror: ignore`` applied (``read_text(file)``)."""
    report = Report(files=len(results))
    for result in results:
        if result.error is not None:
            report.findings.append(file_error_finding(result))
        report.references += len(result.refs)
        pending = []
        for ref in result.refs:
            finding = finding_for(ref, deny, strict)
            if finding is not None:
                pending.append((ref, finding))
        if not pending:
            continue
        text = read_text(pending[0][0].file) if read_text is not None else None
        lines = split_lines(text) if text is not None else []
        directives = ignore_directives(text) if text is not None else {}
        for ref, finding in pending:
            suppressed = getattr(ref, "suppressed", False) or is_ignored(
                finding.code, tuple(ref.lines) or (ref.line,), directives
            )
            span = None
            if finding.fix and 0 < ref.line <= len(lines):
                span = fix_span(lines[ref.line - 1], ref.column, ref.written)
            if suppressed or span:
                from dataclasses import replace

                finding = replace(finding, suppressed=suppressed, fix_span=span)
            report.findings.append(finding)
    return report


def mark_suppressed(results, read_text=None) -> None:
    """Set ``ImageRef.suppressed`` on references under a bare ``# imagemirror: ignore``
    (one that names no codes: it applies to every command, ``warm`` included)."""
    from dataclasses import replace

    read_text = read_text or _read_text
    for result in results:
        if not result.refs:
            continue
        text = read_text(result.file)
        directives = ignore_directives(text) if text is not None else {}
        if not any(codes is None for codes in directives.values()):
            continue
        result.refs = [
            replace(ref, suppressed=True)
            if any(number in directives and directives[number] is None for number in (tuple(ref.lines) or (ref.line,)))
            else ref
            for ref in result.refs
        ]


def _read_text(file: str) -> str | None:
    try:
        return Path(file).read_bytes().decode("utf-8-sig", errors="replace")
    except OSError:
        return None


# --- the command --------------------------------------------------------------------------


def _shell_quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def choose_format(fmt: str | None, env) -> str:
    if fmt:
        return fmt
    return "github" if env.get("GITHUB_ACTIONS") == "true" else "text"



def print_report(report, fmt: str | None, color: bool | None, env) -> str:
    """Print the findings on stdout (and, for people, the summary on stderr) -> the format."""
    import click

    from .. import __version__
    from .. import report as fmt_mod

    fmt, color = output_style(fmt, color, env)
    out = fmt_mod.render(report, fmt, color=color, version=__version__)
    if out:
        click.echo(out, nl=False, color=color)
    if fmt in ("text", "github"):
        click.echo(fmt_mod.summary(report), err=True)
    return fmt


def output_style(fmt: str | None, color: bool | None, env) -> tuple[str, bool]:
    """The format to print (see :func:`choose_format`) and whether to colour it."""
    from ..report import FORMATS

    fmt = choose_format(fmt, env)
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r}")
    if color is None:
        color = fmt == "text" and sys.stdout.isatty() and not env.get("NO_COLOR")
    return fmt, bool(color)


def exit_code(report: Report) -> Exit:
    active = report.active
    if any(f.code == "IM100" for f in active):
        return Exit.FILE_ERROR
    if any(f.level == ERROR for f in active):
        return Exit.FINDINGS
    return Exit.OK


def check_paths(
    paths,
    *,
    config: Path | None = None,
    registry: str | None = None,
    fmt: str | None = None,
    deny=(),
    strict: bool = False,
    jobs: int = 0,
    color: bool | None = None,
    env=None,
) -> int:
    """Scan ``paths`` and report; the exit code follows ``imagemirror.errors``."""
    import click

    from ..config import resolve_settings
    from ..inventory import scan

    env = os.environ if env is None else env
    paths = [Path(p) for p in paths]
    cli_deny = canonical_deny(deny)
    settings = resolve_settings(paths[0], config, registry)
    all_deny = cli_deny | frozenset(settings.deny)
    results = scan(paths, settings, jobs=jobs)
    report = build_report(results, all_deny, strict, _read_text)

    fmt = print_report(report, fmt, color, env)
    code = exit_code(report)
    if fmt in ("text", "github"):
        fixable = sorted({f.file for f in report.active if f.code in ("IM001", "IM002") and f.fix})
        if fixable:
            shown = " ".join(_shell_quote(f) for f in fixable[:5]) + (" ..." if len(fixable) > 5 else "")
            click.echo(f"imagemirror check: to apply the fixes: imagemirror rewrite {shown}", err=True)
    return code
