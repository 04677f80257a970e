"""The adoption files, tried as a new user would and linted as the CI systems would.

- The GitHub Action: its steps are run as GitHub runs a composite action -- each `run:` through
  `bash --noprofile --norc -eo pipefail`, its `env:` evaluated from the inputs, the action path
  and earlier steps' outputs, with GITHUB_ACTIONS, GITHUB_OUTPUT (one file per step),
  GITHUB_STEP_SUMMARY and RUNNER_TEMP set; `actions/setup-python` is the one step not run (it
  provides the interpreter, here the one running the tests).  imagemirror is really installed
  from the action's own copy into a fresh virtualenv (dependencies from the package index).
- actionlint (the README's workflows, using the action as a local action, so that their inputs
  are checked against action.yml), zizmor, shellcheck (the action's scripts),
  check-jsonschema with the published GitHub, GitLab and Renovate schemas.
- The GitLab template's job script, run by `sh` with its inputs interpolated as GitLab does.
- The package: `python -m build`, then `pipx install` of the wheel, `--version` and `check`.

The tools come from the [test] extra; where one is missing the test skips (fails in CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, require_binary, skip_or_fail
from test_adoption import gitlab_documents, validate_code_quality

pytestmark = pytest.mark.integration

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
VALUES = "environments/prod/app/values.yaml"
FAILING = (
    "web:\n  image: nginx:1.25\nmetrics:\n  image: gcr.io/x/exporter:1\nold:\n  image: redis:7  # imagemirror: ignore\n"
)
FIXED = FAILING.replace("image: nginx:1.25", f"image: {REG}/docker-hub/library/nginx:1.25")


def tool(name: str) -> str:
    """A tool of the [test] extra: beside this Python first (.ci/run's venv), then on PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return require_binary(name)


def _run(args, cwd, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _clean_env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "CI_", "IMAGEMIRROR_", "PIP_REQUIRE"))
        and k not in ("NO_COLOR", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def checkout(tmp_path_factory) -> Path:
    """This repository as a user's runner checks it out (tracked and new files, no .git)."""
    git = require_binary("git")
    listed = _run([git, "ls-files", "-co", "--exclude-standard"], REPO).stdout.splitlines()
    root = tmp_path_factory.mktemp("checkout") / "imagemirror"
    for name in listed:
        top = name.split("/", 1)[0]
        if top not in (
            "imagemirror",
            "ci",
            "action.yml",
            "pyproject.toml",
            "README.md",
            "LICENSE",
            ".pre-commit-hooks.yaml",
        ):
            continue
        if "__pycache__" in name or not (REPO / name).is_file():
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    return root


def _workspace(tmp_path: Path, values: str = FAILING) -> Path:
    ws = tmp_path / "workspace"
    (ws / VALUES).parent.mkdir(parents=True)
    (ws / ".git").mkdir()
    (ws / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    (ws / VALUES).write_text(values)
    return ws


# --- the action, run as GitHub runs it ---------------------------------------------------------

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _read_outputs(path: Path) -> dict:
    """GITHUB_OUTPUT's two forms: ``name=value`` and ``name<<DELIMITER`` ... ``DELIMITER``."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        name, value = line.split("=", 1)
        out[name] = value
        i += 1
    return out


class ActionRun:
    def __init__(self):
        self.steps: dict[str, subprocess.CompletedProcess] = {}
        self.step_outputs: dict[str, dict] = {}
        self.outputs: dict[str, str] = {}
        self.summary = ""
        self.failed: str | None = None
        self.action_dir = Path()

    @property
    def log(self) -> str:
        return "".join(p.stdout + p.stderr for p in self.steps.values())


def run_action(
    action_dir: Path, workspace: Path, runner_temp: Path, inputs: dict, *, only=None, step_outputs=None, extra_env=None
) -> ActionRun:
    """Run action.yml's steps in order, stopping at the first that fails (no `if:` in the action)."""
    action = YAML(typ="safe").load((action_dir / "action.yml").read_text(encoding="utf-8"))
    unknown = set(inputs) - set(action["inputs"])
    assert not unknown, unknown
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    run = ActionRun()
    run.action_dir = action_dir
    run.step_outputs = dict(step_outputs or {})
    runner_temp.mkdir(parents=True, exist_ok=True)

    def evaluate(text: str) -> str:
        def one(m: re.Match) -> str:
            expr = m.group(1)
            if expr == "github.action_path":
                return str(action_dir)
            if expr.startswith("inputs."):
                return values[expr[len("inputs.") :]]
            parts = expr.split(".")
            if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
                return run.step_outputs.get(parts[1], {}).get(parts[3], "")
            raise AssertionError(f"expression the test runner does not know: {expr}")

        return _EXPR.sub(one, str(text))

    for n, step in enumerate(action["runs"]["steps"]):
        sid = step.get("id", f"step{n}")
        if only is not None and sid not in only:
            continue
        if "uses" in step:
            assert step["uses"].startswith("actions/setup-python@"), step["uses"]
            assert step["with"]["update-environment"] is False
            # what setup-python gives with update-environment: false -- the interpreter's path
            run.step_outputs[sid] = {"python-path": getattr(sys, "_base_executable", sys.executable)}
            continue
        output = runner_temp / f"_output_{sid}"
        summary = runner_temp / f"_summary_{sid}"
        output.write_text("")
        summary.write_text("")
        script = runner_temp / f"_{sid}.sh"
        script.write_text(step["run"])
        env = _clean_env(
            GITHUB_ACTIONS="true",
            CI="true",
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_ACTION_PATH=str(action_dir),
            RUNNER_TEMP=str(runner_temp),
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(summary),
        )
        env.update(extra_env or {})
        env.update({k: evaluate(v) for k, v in step.get("env", {}).items()})
        assert step["shell"] == "bash"
        proc = _run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], workspace, env)
        run.steps[sid] = proc
        run.step_outputs[sid] = _read_outputs(output)
        run.summary += summary.read_text(encoding="utf-8")
        if proc.returncode != 0:
            run.failed = sid
            break
    run.outputs = {name: evaluate(spec["value"]) for name, spec in action["outputs"].items()}
    return run


@pytest.fixture(scope="session")
def installed(checkout, tmp_path_factory):
    """The action run end to end once (install included) on a failing tree; shared by the tests."""
    base = tmp_path_factory.mktemp("action")
    ws = _workspace(base)
    run = run_action(checkout, ws, base / "runner-temp", {"paths": "environments/"})
    if "install" not in run.steps or run.steps["install"].returncode != 0:
        proc = run.steps.get("install")
        pytest.fail(f"the action's install step failed:\n{proc.stdout if proc else ''}\n{proc.stderr if proc else ''}")
    return run, ws, base / "runner-temp"


def test_action_annotates_a_failing_values_file_and_fails(installed):
    run, _ws, _temp = installed
    assert run.failed == "check"
    check = run.steps["check"]
    assert check.returncode == 1, check.stdout + check.stderr
    annotation = f"::error file={VALUES},line=2,col=10,title=IM001 unmirrored::"
    [line] = [ln for ln in check.stdout.splitlines() if ln.startswith(annotation)]
    assert f"use {REG}/docker-hub/library/nginx:1.25" in line
    assert f"::warning file={VALUES},line=4,col=10,title=IM003 no-rule::" in check.stdout
    assert "redis:7" not in check.stdout  # suppressed
    assert run.outputs == {
        "findings": "2",
        "errors": "1",
        "warnings": "1",
        "suppressed": "1",
        "exit-code": "1",
        "sarif-file": "",
    }
    assert "imagemirror 0." in run.steps["install"].stdout  # `imagemirror --version` in the log
    lines = run.summary.splitlines()
    assert lines[0] == "### imagemirror check failed"
    assert "| errors | warnings | suppressed | files | image references |" in lines
    assert "| 1 | 1 | 1 | 1 | 3 |" in lines
    assert (
        f"| <code>{VALUES}:2:10</code> | IM001 | error | <code>nginx:1.25</code> "
        f"| <code>{REG}/docker-hub/library/nginx:1.25</code> |"
    ) in lines


def test_action_passes_once_fixed_and_strict_fails_on_warnings(installed, tmp_path):
    first, _ws, temp = installed
    checkout = first.action_dir
    ws = _workspace(tmp_path, FIXED.replace("gcr.io/x/exporter:1", "gcr.io/x/exporter:1  # imagemirror: ignore"))
    run = run_action(
        checkout,
        ws,
        temp,
        {"paths": "environments/", "strict": "true"},
        only={"check"},
        step_outputs=first.step_outputs,
    )
    assert run.failed is None, run.log
    assert run.outputs["findings"] == "0" and run.outputs["exit-code"] == "0"
    assert "::error" not in run.log and "::warning" not in run.log
    assert run.summary.startswith("### imagemirror check passed\n")
    ws2 = _workspace(tmp_path / "strict", FIXED)
    run = run_action(
        checkout,
        ws2,
        temp,
        {"paths": "environments/", "strict": "true"},
        only={"check"},
        step_outputs=first.step_outputs,
    )
    assert run.failed == "check" and run.outputs["errors"] == "1" and run.outputs["warnings"] == "0"
    assert f"::error file={VALUES},line=4,col=10,title=IM003 no-rule::" in run.log


def test_action_sarif_and_deny(installed, tmp_path):
    first, _ws, temp = installed
    checkout = first.action_dir
    ws = _workspace(tmp_path, FIXED)
    run = run_action(
        checkout,
        ws,
        temp,
        {"paths": "environments/", "format": "sarif", "deny": "gcr.io\nquay.io"},
        only={"check"},
        step_outputs=first.step_outputs,
    )
    assert run.failed == "check"
    assert run.outputs["sarif-file"] == "imagemirror.sarif" and run.outputs["errors"] == "1"
    sarif = json.loads((ws / "imagemirror.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert [(r["ruleId"], r["level"]) for r in sarif["runs"][0]["results"] if not r.get("suppressions")] == [
        ("IM002", "error")
    ]
    assert "::error file=" not in run.log  # code scanning shows them, not annotations
    assert "| <code>" + VALUES + ":4:10</code> | IM002 | error |" in run.summary


def test_action_rejects_bad_inputs_with_one_line(installed, tmp_path):
    first, _ws, temp = installed
    checkout = first.action_dir
    ws = _workspace(tmp_path)
    for inputs, message in (
        ({"format": "xml"}, "input format must be github or sarif, not 'xml'"),
        ({"strict": "yes"}, "input strict must be true or false, not 'yes'"),
        ({"paths": " \n "}, "input paths is empty"),
    ):
        run = run_action(checkout, ws, temp, inputs, only={"check"}, step_outputs=first.step_outputs)
        assert run.failed == "check" and run.steps["check"].returncode == 2, run.log
        assert f"::error title=imagemirror::{message}" in run.log
    # a settings error: imagemirror's own message in the log, and the summary says so
    (ws / ".imagemirror.yaml").write_text("registry: [\n")
    run = run_action(checkout, ws, temp, {"paths": "environments/"}, only={"check"}, step_outputs=first.step_outputs)
    assert run.steps["check"].returncode == 2 and "imagemirror: error:" in run.log
    assert run.outputs["exit-code"] == "2" and run.outputs["findings"] == ""
    assert "could not finish (exit 2" in run.summary


def test_action_scripts_pass_shellcheck(tmp_path):
    shellcheck = tool("shellcheck")
    action = YAML(typ="safe").load((REPO / "action.yml").read_text(encoding="utf-8"))
    scripts = [s for s in action["runs"]["steps"] if "run" in s]
    assert len(scripts) == 2
    for step in scripts:
        path = tmp_path / f"{step['id']}.sh"
        path.write_text(step["run"])
        proc = _run([shellcheck, "--shell=bash", "--severity=style", str(path)], tmp_path)
        assert proc.returncode == 0, (step["id"], proc.stdout)
    bad = tmp_path / "bad.sh"
    bad.write_text("for p in $(ls $IMAGEMIRROR_PATHS); do echo $p; done\n")
    assert _run([shellcheck, "--shell=bash", str(bad)], tmp_path).returncode == 1  # it does check


# --- the linters GitHub's files get ------------------------------------------------------------


def _readme_section(title: str, until: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text[text.index(f"\n### {title}") : text.index(f"\n### {until}")]


def _readme_workflows() -> dict[str, str]:
    blocks = re.findall(r"```yaml\n(.*?)```", _readme_section("GitHub Actions", "GitLab CI"), re.S)
    out = {}
    for body in blocks:
        m = re.match(r"# \.github/workflows/(\S+\.yml)\n", body)
        assert m, body[:60]
        out[m.group(1)] = body
    assert len(out) == 2
    return out


@pytest.fixture
def workflow_repo(tmp_path) -> Path:
    """The README's workflows in a repository holding the action, used as a local action."""
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "action.yml", root / "action.yml")
    _run([require_binary("git"), "init", "-q"], root)
    for name, body in _readme_workflows().items():
        assert body.count("uses: your-org/imagemirror@v0.1.0") == 1
        (root / ".github" / "workflows" / name).write_text(body.replace("your-org/imagemirror@v0.1.0", "./"))
    return root


def test_actionlint_readme_workflows_against_action_yml(workflow_repo):
    actionlint = tool("actionlint")
    proc = _run([actionlint, "-no-color"], workflow_repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # it does read action.yml: an input the action does not have is an error
    wf = workflow_repo / ".github" / "workflows" / "images.yml"
    wf.write_text(wf.read_text().replace("paths: environments/", "pathz: environments/"))
    proc = _run([actionlint, "-no-color"], workflow_repo)
    assert proc.returncode == 1 and 'input "pathz" is not defined in action "imagemirror check"' in proc.stdout


def test_zizmor_action_and_readme_workflows(tmp_path):
    zizmor = tool("zizmor")
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(REPO / "action.yml", root / "action.yml")
    for name, body in _readme_workflows().items():
        (root / ".github" / "workflows" / name).write_text(body)
    # the README's `uses: your-org/imagemirror@v0.1.0` is a tag of your own repository;
    # zizmor's default wants a commit for third-party actions, so allow the own org by ref
    config = tmp_path / "zizmor.yml"
    config.write_text(
        'rules:\n  unpinned-uses:\n    config:\n      policies:\n        "your-org/*": ref-pin\n'
        '        "actions/*": hash-pin\n        "github/*": hash-pin\n        "*": hash-pin\n'
    )
    proc = _run(
        [zizmor, "--offline", "--no-progress", "--config", str(config), "--format", "plain", str(root)], tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and it does audit: an input in a run script is template injection
    bad = tmp_path / "bad" / "action.yml"
    bad.parent.mkdir()
    bad.write_text(
        (REPO / "action.yml")
        .read_text()
        .replace('venv="${RUNNER_TEMP:?}/imagemirror-venv"', 'venv="${RUNNER_TEMP:?}/${{ inputs.version }}"')
    )
    proc = _run([zizmor, "--offline", "--no-progress", "--format", "plain", str(bad)], tmp_path)
    assert proc.returncode != 0 and "template-injection" in proc.stdout


def _check_jsonschema(schema: str, *files) -> subprocess.CompletedProcess:
    return _run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)], REPO)


def test_published_schemas_github(workflow_repo):
    proc = _check_jsonschema("vendor.github-actions", REPO / "action.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _check_jsonschema(
        "vendor.github-workflows", *sorted((workflow_repo / ".github" / "workflows").glob("*.yml"))
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = workflow_repo / "action.yml"
    broken.write_text(broken.read_text().replace("using: composite", "using: compost"))
    assert _check_jsonschema("vendor.github-actions", broken).returncode == 1


def _gitlab_files(tmp_path: Path) -> list[Path]:
    """The template's two documents (check-jsonschema reads one document per file), and the README's include."""
    text = (REPO / "ci" / "gitlab" / "imagemirror.yml").read_text(encoding="utf-8")
    header, body = text.split("\n---\n", 1)
    files = [tmp_path / "spec.yml", tmp_path / "job.yml", tmp_path / "job-interpolated.json", tmp_path / "include.yml"]
    files[0].write_text(header + "\n")
    files[1].write_text(body)
    files[2].write_text(json.dumps(_interpolate(_readme_include_inputs())))
    [include] = re.findall(r"```yaml\n(# \.gitlab-ci\.yml\n.*?)```", _readme_section("GitLab CI", "pre-commit"), re.S)
    files[3].write_text(include)
    return files


def _readme_include_inputs() -> dict:
    [include] = re.findall(r"```yaml\n(# \.gitlab-ci\.yml\n.*?)```", _readme_section("GitLab CI", "pre-commit"), re.S)
    [entry] = YAML(typ="safe").load(include)["include"]
    assert entry["file"] == "ci/gitlab/imagemirror.yml"
    return dict(entry["inputs"])


def _interpolate(given: dict):
    """The job as GitLab sees it after `include:` (GitLab interpolates the parsed YAML: a value
    that is only `$[[ inputs.NAME ]]` takes the input's value and type, else the text is spliced)."""
    header, job = gitlab_documents()
    spec = header["spec"]["inputs"]
    assert set(given) <= set(spec), set(given) - set(spec)
    whole = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")

    def value(name: str):
        return given.get(name, spec[name].get("default", ""))

    def walk(node):
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            m = whole.fullmatch(node)
            if m:
                return value(m.group(1))
            return whole.sub(
                lambda m: (
                    str(value(m.group(1))).lower() if isinstance(value(m.group(1)), bool) else str(value(m.group(1)))
                ),
                node,
            )
        return node

    return walk(job)


def test_published_schemas_gitlab(tmp_path):
    files = _gitlab_files(tmp_path)
    proc = _check_jsonschema("vendor.gitlab-ci", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files[1].write_text(files[1].read_text().replace("when: always", "when: sometimes"))
    assert _check_jsonschema("vendor.gitlab-ci", files[1]).returncode == 1


def test_renovate_config_against_renovates_schema(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(
        f"registry: {REG}\nrules:\n  docker.io: docker-hub\n  quay.io: quay\n"
        "  ghcr.io: github\n  registry.k8s.io: k8s\n  public.ecr.aws: ecr-public\n"
    )
    proc = _run(
        [sys.executable, "-m", "imagemirror", "renovate-config", str(tmp_path)],
        tmp_path,
        _clean_env(PYTHONPATH=str(REPO)),
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "renovate.json"
    out.write_text(proc.stdout)
    assert len(json.loads(proc.stdout)["registryAliases"]) == 5
    proc = _check_jsonschema("vendor.renovate", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out.write_text(json.dumps({"registryAliases": ["not", "a", "map"]}))
    assert _check_jsonschema("vendor.renovate", out).returncode == 1


# --- the package ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dist(checkout, tmp_path_factory) -> Path:
    """`python -m build` (an sdist, and the wheel built from it) of the checkout."""
    try:
        import build  # noqa: F401
    except ModuleNotFoundError:
        skip_or_fail("the build package is not installed (pip install -e '.[test]')")
    src = tmp_path_factory.mktemp("src") / "imagemirror"
    shutil.copytree(checkout, src)
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], src, _clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_build_makes_a_wheel_and_an_sdist_with_metadata_and_licence(dist):
    from imagemirror import __version__

    [wheel] = dist.glob("imagemirror-*.whl")
    [sdist] = dist.glob("imagemirror-*.tar.gz")
    assert wheel.name == f"imagemirror-{__version__}-py3-none-any.whl"
    assert sdist.name == f"imagemirror-{__version__}.tar.gz"
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"imagemirror-{__version__}.dist-info"
        meta = zf.read(f"{info}/METADATA").decode()
        assert zf.read(f"{info}/licenses/LICENSE").decode() == licence
        assert "imagemirror = imagemirror.cli:main" in zf.read(f"{info}/entry_points.txt").decode()
    assert "imagemirror/cli.py" in names and not any(n.startswith("tests/") for n in names)
    assert f"\nVersion: {__version__}\n" in meta
    assert "\nLicense-Expression: Apache-2.0\n" in meta
    assert "\nRequires-Python: >=3.11\n" in meta
    assert re.search(r"^Project-URL: Source, https://", meta, re.M)
    assert "Classifier: Programming Language :: Python :: 3.11" in meta
    assert 'Requires-Dist: helm-python-sdk>=0.2; extra == "helm"' in meta
    import tarfile

    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    assert {"LICENSE", "README.md", "pyproject.toml", "imagemirror/__init__.py", "imagemirror/cli.py"} <= members


def test_pipx_install_of_the_wheel_on_a_fresh_machine(dist, tmp_path):
    """A new user: `pipx install dist/*.whl`, then the commands work from its own venv."""
    pipx = tool("pipx")
    [wheel] = dist.glob("imagemirror-*.whl")
    env = _clean_env(
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
        PIPX_DEFAULT_PYTHON=getattr(sys, "_base_executable", sys.executable),
    )
    proc = _run([pipx, "install", str(wheel)], tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = tmp_path / "bin" / "imagemirror"
    assert exe.is_file()
    env["PATH"] = "/usr/bin:/bin"  # no helm binary, no venv of the tests
    proc = _run([str(exe), "--version"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    from imagemirror import __version__

    lines = proc.stdout.splitlines()
    assert lines[0] == f"imagemirror {__version__}"
    assert lines[1].startswith("renderer: model")  # no [helm] extra in this install
    assert re.fullmatch(r"ruamel\.yaml \d+\.\d+\.\d+ \(with(out)? the C parser\)", lines[2])
    ws = _workspace(tmp_path)
    proc = _run([str(exe), "check", "environments/"], ws, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{VALUES}:2:10: IM001 nginx:1.25 is not pulled through the cache" in proc.stdout
    proc = _run([str(exe), "rewrite", "environments/"], ws, env)
    assert proc.returncode == 0, proc.stderr
    proc = _run([str(exe), "check", "environments/"], ws, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the GitLab template's job, run as its script --------------------------------------------------


def test_gitlab_job_writes_a_code_quality_report_and_fails_on_findings(dist, tmp_path):
    [wheel] = dist.glob("imagemirror-*.whl")
    given = {**_readme_include_inputs(), "package": str(wheel)}
    [(name, spec)] = _interpolate(given).items()
    assert name == "imagemirror-check"
    script = "\n".join(spec["script"])
    report = spec["artifacts"]["reports"]["codequality"]
    assert spec["artifacts"]["paths"] == [report]
    ws = _workspace(tmp_path)
    env = _clean_env(
        CI="true",
        GITLAB_CI="true",
        TMPDIR=str(tmp_path),
        **{k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in spec["variables"].items()},
    )
    proc = _run(["sh", "-c", script], ws, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads((ws / report).read_text())
    validate_code_quality(doc)
    # README's include denies docker.io: nginx is IM002 there
    assert [(i["check_name"], i["severity"], i["location"]["lines"]["begin"]) for i in doc] == [
        ("IM002 denied-host", "major", 2),
        ("IM003 no-rule", "minor", 4),
    ]
    assert f"{VALUES}:2:10: IM002 nginx:1.25" in proc.stdout  # the log shows the findings too
    (ws / VALUES).write_text(FIXED.replace("gcr.io/x/exporter:1", "gcr.io/x/exporter:1  # imagemirror: ignore"))
    proc = _run(["sh", "-c", script], ws, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((ws / report).read_text()) == []


def test_action_effective_installs_the_helm_extra_and_checks_chart_defaults(installed, tmp_path):
    """`effective: true` on the bundled example (vendored charts: nothing fetched)."""
    first, _ws, temp = installed
    ws = tmp_path / "gitops"
    shutil.copytree(REPO / "examples" / "gitops", ws)
    (ws / ".git").mkdir()
    run = run_action(first.action_dir, ws, temp, {"paths": "environments/prod", "effective": "true"})
    install = run.steps["install"]
    assert install.returncode == 0, install.stdout + install.stderr
    venv_python = Path(run.step_outputs["install"]["bin"]) / "python"
    proc = _run(
        [str(venv_python), "-c", "import importlib.util as u; print(u.find_spec('helm_python') is not None)"], tmp_path
    )
    assert proc.stdout.strip() == "True"  # the [helm] extra
    assert run.failed == "check", run.log
    assert int(run.outputs["errors"]) > 0
    # the charts settle what the overlays alone leave ambiguous, and errors appear that the
    # values files alone do not show
    plain = run_action(
        first.action_dir, ws, temp, {"paths": "environments/prod"}, only={"check"}, step_outputs=run.step_outputs
    )
    assert int(run.outputs["warnings"]) < int(plain.outputs["warnings"]), (run.outputs, plain.outputs)

    def errors(r: ActionRun) -> set[str]:
        return {ln for ln in r.steps["check"].stdout.splitlines() if ln.startswith("::error file=")}

    assert errors(run) - errors(plain), (errors(run), errors(plain))
    assert all(ln.startswith("::error file=environments/prod/") for ln in errors(run))


def test_gitlab_job_effective_with_a_direct_reference_package(dist, tmp_path):
    """`effective: true` adds the `helm` extra to a `name @ URL` requirement, and checks chart defaults."""
    [wheel] = dist.glob("imagemirror-*.whl")
    [(_name, spec)] = _interpolate(
        {"package": f"imagemirror @ {wheel.as_uri()}", "paths": "environments/prod", "effective": True}
    ).items()
    assert spec["variables"]["IMAGEMIRROR_EFFECTIVE"] is True  # a boolean input keeps its type
    ws = tmp_path / "gitops"
    shutil.copytree(REPO / "examples" / "gitops", ws)
    (ws / ".git").mkdir()
    env = _clean_env(
        CI="true",
        GITLAB_CI="true",
        TMPDIR=str(tmp_path),
        **{k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in spec["variables"].items()},
    )
    proc = _run(["sh", "-c", "\n".join(spec["script"])], ws, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    venv_python = tmp_path / "imagemirror-venv" / "bin" / "python"
    check = _run(
        [str(venv_python), "-c", "import importlib.util as u; print(u.find_spec('helm_python') is not None)"], tmp_path
    )
    assert check.stdout.strip() == "True"
    doc = json.loads((ws / "gl-code-quality-report.json").read_text())
    validate_code_quality(doc)
    assert doc and all(i["location"]["path"].startswith("environments/prod/") for i in doc)
    plain = _run(
        [
            str(tmp_path / "imagemirror-venv" / "bin" / "imagemirror"),
            "check",
            "--format",
            "gitlab",
            "environments/prod",
        ],
        ws,
        env,
    )
    plain_doc = json.loads(plain.stdout)
    # the charts settle what the overlays alone leave ambiguous (minor), and show errors they do not
    assert sum(i["severity"] == "minor" for i in doc) < sum(i["severity"] == "minor" for i in plain_doc)
    assert {i["description"] for i in doc if i["severity"] == "major"} - {i["description"] for i in plain_doc}


def test_action_version_input_installs_that_version_from_the_index(installed, dist, tmp_path):
    """`version: X` installs `imagemirror==X` from the package index -- here a local one (the
    built wheel, no network; the dependencies are already in the action's virtualenv)."""
    from imagemirror import __version__

    first, ws, temp = installed
    bin_dir = Path(first.step_outputs["install"]["bin"])
    proc = _run([str(bin_dir / "python"), "-m", "pip", "uninstall", "-y", "-q", "imagemirror"], tmp_path, _clean_env())
    assert proc.returncode == 0, proc.stderr
    index = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(dist)}
    run = run_action(first.action_dir, ws, temp, {"version": "99.0.0"}, only={"python", "install"}, extra_env=index)
    assert run.failed == "install" and "imagemirror==99.0.0" in run.log  # no such version: pip says so
    run = run_action(first.action_dir, ws, temp, {"version": __version__}, only={"python", "install"}, extra_env=index)
    assert run.failed is None, run.log
    assert f"imagemirror {__version__}" in run.steps["install"].stdout
    proc = _run([str(bin_dir / "python"), "-m", "pip", "show", "-f", "imagemirror"], tmp_path, _clean_env())
    assert "Location: " + str(bin_dir.parent) in proc.stdout and "imagemirror/cli.py" in proc.stdout
