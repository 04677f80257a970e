"""The pre-commit hooks, run by the real `pre-commit` against real git repositories.

A session fixture snapshots this repository's working tree (the package, pyproject.toml,
README.md, .pre-commit-hooks.yaml) into a temporary git repository -- the "hook repo" a
user's `.pre-commit-config.yaml` points at by path and commit.  pre-commit clones it and
pip-installs it into its own virtualenv (PyPI or the local pip cache), once per session:
PRE_COMMIT_HOME is a session temp folder shared by every test.  One more install happens
in `test_try_repo`, because `pre-commit try-repo` always uses a fresh store.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, require_binary, skip_or_fail

pytestmark = pytest.mark.integration

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
MIGRATED = f"""\
# prod wordpress
image:
  registry: {REG}
  repository: docker-hub/bitnami/wordpress
  tag: 6.4.2-debian-11-r10
metrics:
  image: {REG}/quay/prometheus/node-exporter:v1.7.0
global:
  security:
    allowInsecureImages: true
"""
VALUES = "environments/prod/wordpress/values.yaml"
TARGET = f"{REG}/docker-hub/library/nginx:1.25"


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR", "GIT_DIR", "GIT_INDEX_FILE")}
    env.update(
        PRE_COMMIT_HOME=str(home),
        PRE_COMMIT_COLOR="never",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    return env


def _run(args, cwd, env, check=False) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _pre_commit(*args, cwd, env) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pre_commit", *args], cwd, env)


def _snapshot_files() -> list[str]:
    """The files a clone of this repository has that installing the package needs."""
    git = require_binary("git")
    listed = subprocess.run(
        [git, "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    keep = []
    for name in listed:
        top = name.split("/", 1)[0]
        if not (
            name.startswith("imagemirror/")
            or top in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
            or top.startswith("LICENSE")
        ):
            continue
        if "__pycache__" in name or name.endswith(".pyc") or not (REPO / name).is_file():
            continue
        keep.append(name)
    return keep


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """This repository's working tree, committed into a temporary git repository."""
    git = require_binary("git")
    try:
        import pre_commit  # noqa: F401
    except ModuleNotFoundError:
        skip_or_fail("the pre-commit package is not installed (pip install -e '.[test]')")
    home = tmp_path_factory.mktemp("pc") / "home"
    home.mkdir()
    env = _env(home)
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in _snapshot_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, repo / name)
    if not (repo / "README.md").exists():  # pyproject.toml names it; the copy must have one
        (repo / "README.md").write_text("# imagemirror\n")
    _run([git, "init", "-q"], repo, env, check=True)
    _run([git, "add", "-A"], repo, env, check=True)
    _run([git, "commit", "-q", "-m", "snapshot"], repo, env, check=True)
    sha = _run([git, "rev-parse", "HEAD"], repo, env, check=True).stdout.strip()
    return repo, sha


@pytest.fixture(scope="session")
def pc_home(tmp_path_factory, hook_repo) -> Path:
    """PRE_COMMIT_HOME with the hook environment installed once for the session."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    user = tmp_path_factory.mktemp("install-user")
    env = _env(home)
    _run([require_binary("git"), "init", "-q"], user, env, check=True)
    (user / ".pre-commit-config.yaml").write_text(_config(*hook_repo))
    proc = _pre_commit("install-hooks", cwd=user, env=env)
    if proc.returncode != 0:
        pytest.fail(f"pre-commit install-hooks failed:\n{proc.stdout}\n{proc.stderr}")
    return home


def _config(repo: Path, sha: str) -> str:
    return f"repos:\n- repo: {repo}\n  rev: {sha}\n  hooks:\n  - id: imagemirror-check\n  - id: imagemirror-rewrite\n"


@pytest.fixture
def user_repo(tmp_path, hook_repo, pc_home) -> tuple[Path, dict]:
    """A migrated GitOps repository using the hooks; everything committed."""
    git = require_binary("git")
    env = _env(pc_home)
    root = tmp_path / "gitops"
    root.mkdir()
    _run([git, "init", "-q"], root, env, check=True)
    (root / ".pre-commit-config.yaml").write_text(_config(*hook_repo))
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\ndeny: [docker.io]\n")
    (root / VALUES).parent.mkdir(parents=True)
    (root / VALUES).write_text(MIGRATED)
    _run([git, "add", "-A"], root, env, check=True)
    _run([git, "commit", "-q", "-m", "migrated"], root, env, check=True)
    return root, env


def _append(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def test_check_hook_fails_with_line_and_fix_then_rewrite_hook_fixes(user_repo):
    root, env = user_repo
    git = require_binary("git")
    _append(root, VALUES, "sidecar:\n  image: nginx:1.25\n")
    _run([git, "add", VALUES], root, env, check=True)

    proc = _pre_commit("run", "imagemirror-check", cwd=root, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "imagemirror check" in proc.stdout and "Failed" in proc.stdout
    assert f"{VALUES}:12:10: IM002 nginx:1.25 is pulled from denied registry docker.io; use {TARGET}" in proc.stdout

    proc = _pre_commit("run", "imagemirror-rewrite", cwd=root, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "files were modified by this hook" in proc.stdout
    assert (root / VALUES).read_text() == MIGRATED + f"sidecar:\n  image: {TARGET}\n"

    _run([git, "add", VALUES], root, env, check=True)
    proc = _pre_commit("run", cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("Passed") == 2


def test_hooks_read_a_staged_manifest_by_content(user_repo):
    """A Deployment is no values file by name: the hooks used to skip it, so nginx came back
    through a manifest unseen.  Now both hooks read it (``--by-content``), and a YAML file
    that holds no images by its content (a CI config) is still left alone."""
    root, env = user_repo
    git = require_binary("git")
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n"
    )
    _append(root, "apps/web/deployment.yaml", manifest)
    _append(root, ".gitlab-ci.yml", "build:\n  image: nginx:1.25\n  script: [make]\n")
    _run([git, "add", "-A"], root, env, check=True)
    proc = _pre_commit("run", "imagemirror-check", cwd=root, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"apps/web/deployment.yaml:10:18: IM002 nginx:1.25 is pulled from denied registry docker.io; use {TARGET}"
        in (proc.stdout)
    )
    assert ".gitlab-ci.yml" not in proc.stdout
    proc = _pre_commit("run", "imagemirror-rewrite", cwd=root, env=env)
    assert proc.returncode == 1 and "files were modified by this hook" in proc.stdout, proc.stdout + proc.stderr
    assert (root / "apps/web/deployment.yaml").read_text() == manifest.replace("nginx:1.25", TARGET)
    assert (root / ".gitlab-ci.yml").read_text() == "build:\n  image: nginx:1.25\n  script: [make]\n"


def test_git_commit_blocked_by_installed_hook(user_repo):
    """As a new user: `pre-commit install`, then a commit bringing nginx back is refused."""
    root, env = user_repo
    git = require_binary("git")
    proc = _pre_commit("install", cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _append(root, "environments/staging/wordpress/values-staging.yaml", "image: nginx:1.25\n")
    _run([git, "add", "-A"], root, env, check=True)

    proc = _run([git, "commit", "-m", "add nginx"], root, env)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "environments/staging/wordpress/values-staging.yaml:1:8: IM002 nginx:1.25" in out
    assert f"use {TARGET}" in out
    # the fixer ran too and rewrote the file: stage it and the commit goes through
    assert (root / "environments/staging/wordpress/values-staging.yaml").read_text() == f"image: {TARGET}\n"
    _run([git, "add", "-A"], root, env, check=True)
    proc = _run([git, "commit", "-m", "add nginx via the cache"], root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = _run([git, "log", "--oneline"], root, env, check=True).stdout
    assert "add nginx via the cache" in log


def test_look_alike_host_passes_and_non_values_files_are_not_checked(user_repo):
    root, env = user_repo
    git = require_binary("git")
    _append(root, VALUES, "evil:\n  image: docker.io.evil.com/library/nginx:1.25\n")
    _append(root, "charts/app/templates/deploy.yaml", "image: nginx:1.25\n")  # not a values file
    _run([git, "add", "-A"], root, env, check=True)
    proc = _pre_commit("run", cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IM002" not in proc.stdout
    assert (root / "charts/app/templates/deploy.yaml").read_text() == "image: nginx:1.25\n"
    assert (root / VALUES).read_text().endswith("image: docker.io.evil.com/library/nginx:1.25\n")


def _try_repo(hook_repo, root: Path, env: dict, *hook) -> subprocess.CompletedProcess:
    repo, _sha = hook_repo
    return _pre_commit("try-repo", str(repo), *hook, "--all-files", cwd=root, env=env)


@pytest.fixture
def try_root(tmp_path, pc_home) -> tuple[Path, dict]:
    git = require_binary("git")
    env = _env(pc_home)
    root = tmp_path / "try"
    root.mkdir()
    _run([git, "init", "-q"], root, env, check=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    return root, env


def test_try_repo_both_hooks_fail_on_an_unmirrored_file_and_the_fixer_fixes_it(hook_repo, try_root):
    """`pre-commit try-repo` (the way to try a hook repo before adding it), every hook at once."""
    root, env = try_root
    git = require_binary("git")
    (root / "values.yaml").write_text("image: quay.io/prometheus/prometheus:v2.48.0\n")
    (root / "deploy.yaml").write_text("image: quay.io/prometheus/prometheus:v2.48.0\n")  # not a values file
    _run([git, "add", "-A"], root, env, check=True)
    proc = _try_repo(hook_repo, root, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"^imagemirror check\.+Failed$", out, re.M), out
    assert re.search(r"^imagemirror rewrite\.+Failed$", out, re.M), out
    assert (
        f"values.yaml:1:8: IM001 quay.io/prometheus/prometheus:v2.48.0 is not pulled through the cache; "
        f"use {REG}/quay/prometheus/prometheus:v2.48.0" in out
    )
    assert "files were modified by this hook" in out
    assert (root / "values.yaml").read_text() == f"image: {REG}/quay/prometheus/prometheus:v2.48.0\n"
    assert (root / "deploy.yaml").read_text() == "image: quay.io/prometheus/prometheus:v2.48.0\n"


def test_try_repo_both_hooks_pass_on_a_migrated_repository(hook_repo, try_root):
    root, env = try_root
    git = require_binary("git")
    (root / VALUES).parent.mkdir(parents=True)
    (root / VALUES).write_text(MIGRATED)
    _run([git, "add", "-A"], root, env, check=True)
    proc = _try_repo(hook_repo, root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^imagemirror check\.+Passed$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^imagemirror rewrite\.+Passed$", proc.stdout, re.M), proc.stdout
    assert (root / VALUES).read_text() == MIGRATED


def test_the_repositorys_own_pre_commit_config(tmp_path, pc_home):
    """.pre-commit-config.yaml: ruff check, ruff format, mypy and imagemirror on examples/, from the dev venv, offline."""
    git = require_binary("git")
    venv = Path(sys.prefix)
    for name in ("ruff", "mypy", "imagemirror"):
        if not (venv / "bin" / name).exists():
            skip_or_fail(f"{name} is not installed in {venv} (pip install -e '.[test]')")
    env = _env(pc_home)
    root = tmp_path / "self"
    listed = subprocess.run(
        [git, "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        if "__pycache__" in name or not (REPO / name).is_file():
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(venv)  # where the README's setup command puts it
    _run([git, "init", "-q"], root, env, check=True)
    _run([git, "add", "-A"], root, env, check=True)
    proc = _pre_commit("run", "--all-files", cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("ruff check", "ruff format", "mypy", "imagemirror on examples/"):
        assert re.search(rf"^{re.escape(name)}.*\.+Passed$", proc.stdout, re.M), (name, proc.stdout)
    # each hook can fail
    (root / "imagemirror" / "reference.py").write_text(
        (root / "imagemirror" / "reference.py").read_text() + "\n\ndef _typed() -> int:\n    return 'x'\n"
    )
    (root / "tests" / "test_lint_me.py").write_text("import os\n")
    values = root / "examples" / "gitops" / "environments" / "prod" / "wordpress" / "values.yaml"
    values.write_bytes(b"image: [unclosed\n")
    _run([git, "add", "-A"], root, env, check=True)
    proc = _pre_commit("run", "--all-files", cwd=root, env=env)
    assert proc.returncode == 1
    for name in ("ruff check", "ruff format", "mypy", "imagemirror on examples/"):
        assert re.search(rf"^{re.escape(name)}.*\.+Failed$", proc.stdout, re.M), (name, proc.stdout)
    assert "F401" in proc.stdout and "reference.py" in proc.stdout and "values.yaml" in proc.stdout
