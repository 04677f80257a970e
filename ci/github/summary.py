"""The GitHub Action's last step: annotations, step outputs and the job summary from one report.

Run by ``action.yml`` with the Python imagemirror was installed into::

    summary.py github|sarif REPORT EXIT_CODE

``github``: REPORT is ``imagemirror check --format json``; the findings are printed as workflow
commands (``::error file=...,line=...``), formatted by imagemirror's own ``format_github``.
``sarif``: REPORT is ``--format sarif``, left for code scanning.  Either way the counts go to
``$GITHUB_OUTPUT`` and a table to ``$GITHUB_STEP_SUMMARY`` (each only when set).  The step's
result is imagemirror's exit code, which action.yml returns after this script.
"""

from __future__ import annotations

import json
import os
import secrets
import sys

MAX_ROWS = 100  # findings listed in the job summary; the annotations and the report have all


def load(fmt: str, text: str) -> tuple[dict, list[dict]]:
    """(counts, findings) from a JSON or SARIF report; findings as ``--format json`` has them."""
    doc = json.loads(text)
    if fmt == "github":
        summary = doc["summary"]
        counts = {k: summary[k] for k in ("errors", "warnings", "notes", "suppressed", "files", "references")}
        return counts, list(doc["findings"])
    counts = {"errors": 0, "warnings": 0, "notes": 0, "suppressed": 0}
    findings = []
    for result in doc["runs"][0]["results"]:
        if result.get("suppressions"):
            counts["suppressed"] += 1
            continue
        level = result.get("level", "warning")
        counts[{"error": "errors", "warning": "warnings"}.get(level, "notes")] += 1
        location = result["locations"][0]["physicalLocation"]
        props = result.get("properties", {})
        findings.append(
            {
                "code": result["ruleId"],
                "level": level,
                "message": result["message"]["text"],
                "file": location["artifactLocation"]["uri"],
                "line": location["region"]["startLine"],
                "column": location["region"]["startColumn"],
                "reference": props.get("reference"),
                "fix": props.get("fix"),
            }
        )
    return counts, findings


def annotations(findings: list[dict]) -> str:
    from imagemirror.report import Finding, Report, format_github

    return format_github(
        Report(
            [
                Finding(
                    f["code"],
                    f["level"],
                    f["message"],
                    f["file"],
                    f["line"],
                    f["column"],
                    reference=f.get("reference"),
                    fix=f.get("fix"),
                    path=f.get("path"),
                )
                for f in findings
            ]
        )
    )


def _cell(value: object) -> str:
    text = str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text


def _code(value: str | None) -> str:
    if not value:
        return ""
    return "<code>" + _cell(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</code>"


def table(counts: dict, findings: list[dict], code: int) -> str:
    """The job summary: a line of counts, then one row per finding (notes left out)."""
    failing = counts["errors"] + counts["warnings"]
    verdict = {0: "passed", 1: "failed"}.get(code, f"could not finish (exit {code}; see the log)")
    lines = [f"### imagemirror check {verdict}", ""]
    head = ["errors", "warnings", "suppressed"] + [k for k in ("files", "references") if k in counts]
    lines.append("| " + " | ".join("image references" if k == "references" else k for k in head) + " |")
    lines.append("|" + "---:|" * len(head))
    lines.append("| " + " | ".join(str(counts[k]) for k in head) + " |")
    rows = [f for f in findings if f["level"] in ("error", "warning")]
    if rows:
        lines += ["", "| where | code | level | reference | use instead |", "|---|---|---|---|---|"]
        for f in rows[:MAX_ROWS]:
            where = f"{f['file']}:{f['line']}:{f['column']}"
            lines.append(
                f"| {_code(where)} | {_cell(f['code'])} | {f['level']} | {_code(f.get('reference'))} "
                f"| {_code(f.get('fix'))} |"
            )
        if len(rows) > MAX_ROWS:
            lines.append(f"\n{len(rows) - MAX_ROWS} more in the annotations and the report.")
    elif failing == 0 and code == 0:
        lines += ["", "Every image reference goes through the cache."]
    if code == 1:
        lines += [
            "",
            "To apply the fixes: `imagemirror rewrite` on the files above (or the "
            "`imagemirror-rewrite` pre-commit hook).",
        ]
    return "\n".join(lines) + "\n"


def _append(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def _output(name: str, value: object) -> str:
    text = str(value)
    if "\n" not in text and "\r" not in text:
        return f"{name}={text}\n"
    delimiter = f"imagemirror_{secrets.token_hex(8)}"
    return f"{name}<<{delimiter}\n{text}\n{delimiter}\n"


def main(argv: list[str]) -> int:
    fmt, report, code = argv[0], argv[1], int(argv[2])
    outputs = {"exit-code": code}
    if fmt == "sarif":
        outputs["sarif-file"] = report
    try:
        with open(report, encoding="utf-8") as fh:
            counts, findings = load(fmt, fh.read())
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        # imagemirror stopped before writing a report (settings error, crash): its own
        # message is already in the log; say so in the summary too.
        print(f"::error title=imagemirror::imagemirror check exited {code} without a report ({type(exc).__name__})")
        _append("GITHUB_OUTPUT", "".join(_output(k, v) for k, v in outputs.items()))
        _append("GITHUB_STEP_SUMMARY", f"### imagemirror check could not finish (exit {code}; see the log)\n")
        return 0
    if fmt == "github":
        sys.stdout.write(annotations(findings))
    outputs.update(
        findings=counts["errors"] + counts["warnings"],
        errors=counts["errors"],
        warnings=counts["warnings"],
        suppressed=counts["suppressed"],
    )

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' * (count != 1)}"

    print(
        f"imagemirror check: {n(counts['errors'], 'error')}, {n(counts['warnings'], 'warning')}, "
        f"{counts['suppressed']} suppressed (exit {code})"
    )
    _append("GITHUB_OUTPUT", "".join(_output(k, v) for k, v in outputs.items()))
    _append("GITHUB_STEP_SUMMARY", table(counts, findings, code))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
