"""``imagemirror check``: the CI gate and pre-commit hook.

Works on the inventory (``imagemirror.inventory.scan``): it never detects images itself.
Every reference gets at most one finding:

| status / condition                          | code  | level                          |
|---------------------------------------------|-------|--------------------------------|
| templated                                   | IM006 | note (never fails)             |
| invalid                                     | IM005 | warning; error with --strict   |
| unresolved (a Flux post-build variable)     | IM011 | error                          |
| pulled from a denied host (not the cache)   | IM002 | error                          |
| unmirrored (a cache rule applies)           | IM001 | error                          |
| no-rule                                     | IM003 | warning; error with --strict   |
| ambiguous                                   | IM004 | warning; error with --strict   |
| mirrored                                    | --    | --                             |
| the file could not be read or parsed        | IM100 | error (exit 3)                 |
| ``--online``: pinned tag now names another digest | IM008 | error                     |
| ``--online``: pinned digest not in the cache      | IM009 | error                     |

Deny: a reference is denied when the registry it is pulled from (the host of the reference
as the file composes it, normalised: ``nginx`` and ``index.docker.io/x`` are
``docker.io``, ``docker.io.evil.com/x`` is not) is denied, or -- for a reference not on
the cache registry -- when its upstream after ``aliases:`` is.  A reference on the cache
registry is pulled from the cache, so denying its upstream does not fail it.  An
``ambiguous`` reference is judged on its composed form (fail closed).

Suppression: ``# imagemirror: ignore`` (or ``# imagemirror: ignore[IM003,IM004]``) in a
comment on a line of the reference (its value scalars or its image key): the scan parses it
(:mod:`imagemirror.suppress`) and marks the references.

``--effective`` (or any other :class:`imagemirror.inventory.Source`) changes where the
references come from, not how they are judged: a reference with a release context gets it
appended to its message, and one under ``enabled: false`` fails only with ``--strict``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import cast

from .. import __version__, output
from .. import report as fmt_mod
from ..drift import drift_findings
from ..errors import ConfigError, Exit
from ..files import selected
from ..inventory import NUMERIC_TAG_MARK, Scan, Source, scan
from ..model import ImageRef
from ..reference import InvalidReference, canonical_host, is_domain, parse
from ..report import ERROR, RULES, WARNING, Finding, Report
from ..rules import AMBIGUOUS, INVALID, MIRRORED, NO_RULE, TEMPLATED, UNMIRRORED, UNRESOLVED
from .common import settings_for

_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?\Z")


# --- classification (pure) --------------------------------------------------------------


def canonical_deny(hosts) -> frozenset[str]:
    """Normalise ``--deny`` values (``index.docker.io`` is ``docker.io``); bad ones are usage errors."""
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
    hosts = []
    try:
        hosts.append(parse(ref.written).host)
    except (InvalidReference, TypeError):
        pass
    if ref.status != MIRRORED and ref.upstream:
        try:
            hosts.append(parse(ref.upstream).host)
        except (InvalidReference, TypeError):
            pass
    for host in hosts:
        if host in deny:
            return host
    return None


def _host_of(reference: str) -> str:
    try:
        return parse(reference).host
    except (InvalidReference, TypeError):
        return "its registry"


def finding_for(ref: ImageRef, deny: frozenset[str] = frozenset(), strict: bool = False) -> Finding | None:
    """The finding for one :class:`~imagemirror.model.ImageRef`, or None when it is fine
    (its release context, when it has one, appended to the message)."""
    finding = _finding_for(ref, deny, strict)
    if finding is None or ref.context is None or ref.context.release is None:
        return finding
    if ref.context.literal is not None and finding.code in ("IM001", "IM002"):
        # rendered, but written literally in a template: no values file can move it (IM007)
        denied = " (pulled from a denied registry)" if finding.code == "IM002" else ""
        # a Helm test hook (Argo CD does not run them) is a warning, an error with --strict
        level = WARNING if ref.context.test_hook and not strict else level_of("IM007", strict)
        finding = replace(finding, code="IM007", level=level, message=ref.context.literal + denied, fix=None)
    finding = replace(finding, message=f"{finding.message} [{ref.context.label}]")
    if ref.context.disabled and finding.level == ERROR and not strict:
        finding = replace(finding, level=WARNING)  # under enabled: false, likely not rendered
    return finding


def level_of(code: str, strict: bool = False) -> str:
    """A code's level: its default in :data:`imagemirror.report.RULES` (the one codes table),
    a warning raised to an error by ``--strict``."""
    level = RULES[code].level
    return ERROR if strict and level == WARNING else level


def _finding_for(ref: ImageRef, deny: frozenset[str], strict: bool) -> Finding | None:
    status = ref.status
    hint = f" ({ref.hint})" if ref.hint else ""

    def make(code: str, message: str, fix: str | None = None) -> Finding:
        return Finding(
            code=code,
            level=level_of(code, strict),
            message=message,
            file=ref.file,
            line=ref.line,
            column=ref.column,
            reference=ref.written,
            fix=fix,
            path=ref.path,
        )

    if status == TEMPLATED:
        return make("IM006", f"{ref.written} is templated; not checked")
    if status == INVALID:
        return make("IM005", f"{ref.written!r} is not a valid image reference{hint}")
    if status == UNRESOLVED:
        return make("IM011", f"{ref.written} is substituted from a variable not set here{hint}")
    host = denied_host(ref, deny)
    if host is not None:
        if status == AMBIGUOUS:
            message = f"{ref.written} may be pulled from denied registry {host}: ambiguous{hint}"
        elif ref.target:
            message = f"{ref.written} is pulled from denied registry {host}; use {ref.target}"
        else:
            message = f"{ref.written} is pulled from denied registry {host}; no cache rule covers it"
        return make("IM002", message, ref.target)
    numeric = numeric_tag_hint(ref.hint)
    if status == UNMIRRORED:
        message = f"{ref.written} is not pulled through the cache; use {ref.target}"
        return make("IM001", message + (f" ({numeric})" if numeric else ""), ref.target)
    if status == NO_RULE:
        return make("IM003", f"{ref.written}: no cache rule for {_host_of(ref.upstream or ref.written)}")
    if status == AMBIGUOUS:
        return make("IM004", f"{ref.written} is ambiguous{hint or ': the chart may supply its registry'}")
    if numeric:
        return make("IM010", f"{ref.written}: {numeric}")
    return None


def numeric_tag_hint(hint: str | None) -> str | None:
    """The part of a reference's hint that says its tag is a YAML number (IM010)."""
    if not hint:
        return None
    for part in hint.split("; "):
        if NUMERIC_TAG_MARK in part:
            return part
    return None


def file_error_finding(result) -> Finding:
    err = result.error
    return Finding(
        code="IM100",
        level=RULES["IM100"].level,
        message=getattr(err, "message", None) or str(err),
        file=getattr(err, "path", None) or result.file,
        line=getattr(err, "line", None) or 1,
        column=getattr(err, "column", None) or 1,
    )


def build_report(results, deny: frozenset[str] = frozenset(), strict: bool = False) -> Report:
    """Findings for scan results; the scan already marked what ``# imagemirror: ignore`` silences."""
    report = Report(files=len(results))
    for result in results:
        if result.error is not None:
            report.findings.append(file_error_finding(result))
        report.references += len(result.refs)
        for ref in result.refs:
            finding = finding_for(ref, deny, strict)
            if finding is None:
                continue
            suppressed = ref.suppressed or finding.code in ref.ignored
            span = ref.fix_span if finding.fix else None
            if suppressed or span:
                finding = replace(finding, suppressed=suppressed, fix_span=span)
            report.findings.append(finding)
    return report


# --- the command --------------------------------------------------------------------------


def add_online_findings(report: Report, refs, resolver) -> list[str]:
    """``check --online``: drift findings (IM008, IM009, :mod:`imagemirror.drift`) added to
    ``report``, ``# imagemirror: ignore[...]`` applied as the scan marked each reference ->
    registry errors, one line each."""
    found, errors = drift_findings(refs, resolver)
    for item, finding in found:
        ref = cast(ImageRef, item)  # drift hands back the references it was given
        if ref.suppressed or finding.code in ref.ignored:
            finding = replace(finding, suppressed=True)
        report.findings.append(finding)
    return errors


def _shell_quote(word: str) -> str:
    return shlex.quote(word)


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
    source: Source | None = None,
    resolver=None,
    by_content: bool = False,
) -> int:
    """Scan ``paths`` (from ``source``, default the values text) and report; the exit code
    follows ``imagemirror.errors``.

    ``resolver`` (``check --online``, made by the CLI): also ask the cache about pinned references
    (:mod:`imagemirror.drift`); without it nothing here touches the network."""
    env = os.environ if env is None else env
    paths = [Path(p) for p in paths]
    cli_deny = canonical_deny(deny)
    settings = settings_for(paths, config, registry)
    if settings.registry is None:  # nothing could be judged mirrored: the gate must not pass
        raise ConfigError("no cache registry configured: set `registry:` in .imagemirror.yaml or pass --registry")
    if by_content:  # the files a folder's scan would read (pre-commit names every staged file)
        paths = [p for p in paths if selected(p, settings)]
    all_deny = cli_deny | frozenset(settings.deny)
    found: Scan = scan(paths, settings, jobs, source=source)
    for note in found.notes:
        output.note(note)
    report = build_report(found.results, all_deny, strict)
    service_errors = (
        add_online_findings(report, [r for res in found.results for r in res.refs], resolver)
        if resolver is not None
        else []
    )

    fmt, color = fmt_mod.output_style(fmt, color, env, output.use_color(env))
    findings, summary = fmt_mod.present(report, fmt, color, __version__)
    if findings:
        output.out(findings, end="", color=color)
    if summary:
        output.err(summary)
    code = fmt_mod.exit_code(report)
    for line in service_errors:
        output.error(line)
    if service_errors:
        code = max(code, Exit.SERVICE_ERROR)
    if fmt in ("text", "github"):
        if found.summary:
            output.err(found.summary)
        fixable = sorted({f.file for f in report.active if f.code in ("IM001", "IM002") and f.fix})
        if fixable and found.rewrite_flags:  # the source's plan decides which files change
            shown = " ".join([*found.rewrite_flags, *(_shell_quote(str(p)) for p in paths)])
            output.err(f"imagemirror check: to apply the fixes: imagemirror rewrite {shown}")
        elif fixable:
            # a command to copy: the files, or the paths checked when there are many files
            # (a rewrite of those changes the same references: it honours the same suppressions)
            if len(fixable) <= 5:
                shown = " ".join(_shell_quote(f) for f in fixable)
            elif len(paths) <= 5:
                shown = " ".join(_shell_quote(str(p)) for p in paths)
            else:
                shown = " ".join(_shell_quote(f) for f in fixable[:5]) + f" ... ({len(fixable)} files)"
            output.err(f"imagemirror check: to apply the fixes: imagemirror rewrite {shown}")
    if found.service_failed:
        return max(code, Exit.SERVICE_ERROR)
    return code
