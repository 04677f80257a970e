"""The adoption surface without external tools: `--format gitlab`, `--version`, the action's and
the template's structure, and the action's summary script (tests/integration/test_adoption_ci.py
runs them for real, with the linters)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from conftest import REPO
from imagemirror.cli import main
from imagemirror.report import ERROR, NOTE, WARNING, Finding, Report, format_gitlab, render

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"

# GitLab's documented Code Quality report format ("Implement a custom tool": the report is a JSON
# array; each issue has these fields, severity one of these five).
GITLAB_CODE_QUALITY_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "not": {"pattern": "^(/|\\./)"}},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}


def validate_code_quality(doc) -> None:
    import jsonschema

    jsonschema.validate(doc, GITLAB_CODE_QUALITY_SCHEMA)
    fingerprints = [issue["fingerprint"] for issue in doc]
    assert len(set(fingerprints)) == len(fingerprints), "fingerprints must be unique"


# --- --format gitlab ------------------------------------------------------------------------


def _finding(code="IM001", level=ERROR, line=3, file="env/values.yaml", path="image", reference="nginx:1.25"):
    return Finding(
        code,
        level,
        f"{reference} is not pulled through the cache",
        file,
        line,
        10,
        reference=reference,
        fix=f"{REG}/docker-hub/library/nginx:1.25",
        path=path,
    )


def test_gitlab_format_fields_and_severities():
    report = Report(
        [
            _finding(),
            _finding("IM003", WARNING, line=5, path="b.image", reference="gcr.io/x/y:1"),
            _finding("IM006", NOTE, line=7, path="c.image", reference="{{ .Values.x }}"),
            Finding("IM001", ERROR, "suppressed", "env/values.yaml", 9, 3, suppressed=True),
        ]
    )
    doc = json.loads(format_gitlab(report))
    validate_code_quality(doc)
    assert [(i["check_name"], i["severity"], i["location"]) for i in doc] == [
        ("IM001 unmirrored", "major", {"path": "env/values.yaml", "lines": {"begin": 3}}),
        ("IM003 no-rule", "minor", {"path": "env/values.yaml", "lines": {"begin": 5}}),
        ("IM006 templated", "info", {"path": "env/values.yaml", "lines": {"begin": 7}}),
    ]
    assert doc[0]["description"] == "nginx:1.25 is not pulled through the cache"
    assert render(report, "gitlab") == format_gitlab(report)


def test_gitlab_fingerprint_names_the_finding_not_its_line():
    before = json.loads(format_gitlab(Report([_finding(line=3)])))[0]["fingerprint"]
    after = json.loads(format_gitlab(Report([_finding(line=40)])))[0]["fingerprint"]
    assert before == after  # lines moved: GitLab must not see a new finding
    other = json.loads(format_gitlab(Report([_finding(path="sidecar.image")])))[0]["fingerprint"]
    assert other != before
    # the same finding twice (e.g. two `---` documents): still unique, and stable
    doc = json.loads(format_gitlab(Report([_finding(line=3), _finding(line=30)])))
    validate_code_quality(doc)
    assert doc[0]["fingerprint"] == before


def test_gitlab_paths_are_relative_as_gitlab_expects():
    doc = json.loads(format_gitlab(Report([_finding(file="./env/values.yaml")])))
    assert doc[0]["location"]["path"] == "env/values.yaml"
    assert json.loads(format_gitlab(Report([]))) == []


@pytest.fixture
def tree(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    values = tmp_path / "environments" / "prod" / "app" / "values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text(
        "web:\n  image: nginx:1.25\n"
        "metrics:\n  image: gcr.io/x/exporter:1\n"
        "old:\n  image: redis:7  # imagemirror: ignore\n"
        "ok:\n  image: " + REG + "/quay/x/y:1\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def test_check_format_gitlab_from_the_cli(tree):
    res = CliRunner().invoke(main, ["check", "--format", "gitlab", "environments/"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    validate_code_quality(doc)
    assert [(i["check_name"], i["severity"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in doc] == [
        ("IM001 unmirrored", "major", "environments/prod/app/values.yaml", 2),
        ("IM003 no-rule", "minor", "environments/prod/app/values.yaml", 4),
    ]
    assert f"use {REG}/docker-hub/library/nginx:1.25" in doc[0]["description"]
    # --strict makes the warnings errors: GitLab sees them as major too
    res = CliRunner().invoke(main, ["check", "--format", "gitlab", "--strict", "environments/"])
    assert res.exit_code == 1
    assert [i["severity"] for i in json.loads(res.stdout)] == ["major", "major"]


# --- --version --------------------------------------------------------------------------------


def test_version_names_imagemirror_renderer_and_ruamel(monkeypatch):
    import ruamel.yaml

    from imagemirror import __version__

    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"imagemirror {__version__}"
    assert lines[2].startswith(f"ruamel.yaml {ruamel.yaml.__version__} (")
    if importlib.util.find_spec("helm_python") is not None:
        from importlib import metadata

        assert lines[1] == f"renderer: helm-python-sdk {metadata.version('helm-python-sdk')}"
    else:
        assert lines[1].startswith("renderer: model")


def test_version_without_helm_or_sdk_is_the_model(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "helm_python" else real(name, *a))
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1].startswith("renderer: model")


def test_version_runs_a_helm_binary_on_path(tmp_path, monkeypatch):
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n[ \"$1 $2\" = 'version --short' ] && echo v3.99.1+gabcdef\n")
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1] == f"renderer: helm v3.99.1+gabcdef ({helm})"


def test_version_and_commands_never_import_the_sdk(tree):
    """The 75 MB SDK is not imported by --version, nor at start-up by any other command."""
    code = (
        "import sys\n"
        "from imagemirror.cli import main\n"
        "try:\n"
        "    main([sys.argv[1], *sys.argv[2:]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('helm_python' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    for args in (["--version"], ["check", "environments/"], ["list", "environments/"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)
        assert proc.stdout.splitlines()[-1] == "False", (args, proc.stdout, proc.stderr)


# --- the action's and the template's structure -----------------------------------------------

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def _load(path: Path):
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def test_action_passes_inputs_only_through_env():
    """No `${{ }}` inside a `run:` (zizmor's template-injection); every input is used and documented."""
    action = _load(REPO / "action.yml")
    assert action["runs"]["using"] == "composite"
    used = set()
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert not _EXPR.search(step["run"]), step["name"]
            assert step["shell"] == "bash"
        for value in [*step.get("env", {}).values(), *step.get("with", {}).values()]:
            used |= set(re.findall(r"inputs\.([\w-]+)", str(value)))
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]  # pinned
    assert used == set(action["inputs"])
    for name, spec in action["inputs"].items():
        assert spec["description"].strip() and "default" in spec, name
    for name, spec in action["outputs"].items():
        assert re.fullmatch(r"\$\{\{ steps\.check\.outputs\.[\w-]+ \}\}", spec["value"]), name


def test_readme_action_inputs_table_matches_action_yml():
    action = _load(REPO / "action.yml")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n### GitHub Actions") : text.index("\n### GitLab CI")]
    rows = re.findall(r"^\| `([\w-]+)` \| `?([^|`]*)`? *\|", section, re.M)
    assert {name: default.strip() for name, default in rows} == {
        name: str(spec["default"]) for name, spec in action["inputs"].items()
    }
    outputs = re.search(r"Outputs: (.*?)\. For", section, re.S).group(1)
    assert set(re.findall(r"`([\w-]+)`", outputs)) - {"sarif"} == set(action["outputs"])


def gitlab_documents() -> tuple[dict, dict]:
    text = (REPO / "ci" / "gitlab" / "imagemirror.yml").read_text(encoding="utf-8")
    header, job = YAML(typ="safe").load_all(text)
    return header, job


def test_gitlab_template_inputs_are_declared_and_used():
    header, job = gitlab_documents()
    declared = set(header["spec"]["inputs"])
    text = (REPO / "ci" / "gitlab" / "imagemirror.yml").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    used = set(re.findall(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", body))
    assert used == declared
    [name] = job
    script = "\n".join(job[name]["script"])
    assert "$[[" not in script  # inputs reach the script as variables only
    assert job[name]["artifacts"]["when"] == "always"
    assert job[name]["artifacts"]["reports"]["codequality"] == "$[[ inputs.report ]]"


# --- the action's summary script -------------------------------------------------------------


def _summary_module():
    spec = importlib.util.spec_from_file_location("action_summary", REPO / "ci" / "github" / "summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_counts_match_json_and_sarif(tree):
    summary = _summary_module()
    runner = CliRunner()
    as_json = runner.invoke(main, ["check", "--format", "json", "environments/"]).stdout
    as_sarif = runner.invoke(main, ["check", "--format", "sarif", "environments/"]).stdout
    counts_j, findings_j = summary.load("github", as_json)
    counts_s, findings_s = summary.load("sarif", as_sarif)
    assert (counts_j["errors"], counts_j["warnings"], counts_j["suppressed"]) == (1, 1, 1)
    assert {k: counts_s[k] for k in ("errors", "warnings", "notes", "suppressed")} == {
        k: counts_j[k] for k in ("errors", "warnings", "notes", "suppressed")
    }
    key = ("code", "level", "message", "file", "line", "column", "reference", "fix")
    assert [tuple(f[k] for k in key) for f in findings_s] == [tuple(f[k] for k in key) for f in findings_j]
    # annotations: exactly what `check --format github` prints
    github = runner.invoke(main, ["check", "--format", "github", "environments/"]).stdout
    assert summary.annotations(findings_j) == github


def test_summary_table_escapes_markdown():
    summary = _summary_module()
    findings = [
        {
            "code": "IM001",
            "level": "error",
            "message": "m",
            "file": "a|b/values.yaml",
            "line": 1,
            "column": 8,
            "reference": "x<y>|z",
            "fix": None,
        }
    ]
    text = summary.table({"errors": 1, "warnings": 0, "notes": 0, "suppressed": 0}, findings, 1)
    row = [line for line in text.splitlines() if "IM001" in line][0]
    assert row.count(" | ") == 4  # five cells: no `|` from the data splits the row
    assert "<code>a\\|b/values.yaml:1:8</code>" in row and "<code>x&lt;y&gt;\\|z</code>" in row
    assert text.startswith("### imagemirror check failed\n")
