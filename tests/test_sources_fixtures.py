"""Trees shaped like real GitOps repositories (``tests/fixtures/gitops-*``), end to end.

Each case has ``input/`` (the repository), ``check.txt`` (``check --format text .`` on it,
stdout byte for byte), ``list.json`` (``list --format json .``) and ``expected/`` (the whole
tree after ``rewrite .``, byte for byte).  A second ``rewrite`` changes nothing, ``check``
then passes, ``--dry-run`` and ``--check`` write nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
CASES = sorted(p.name for p in FIXTURES.glob("gitops-*"))


def imagemirror(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "GITHUB_ACTIONS": ""},
    )


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def repo(request, tmp_path):
    dest = tmp_path / "repo"
    shutil.copytree(FIXTURES / request.param / "input", dest)
    return request.param, dest


def test_the_cases_exist():
    assert CASES == ["gitops-argocd", "gitops-flux", "gitops-helmfile", "gitops-kustomize"]


@pytest.mark.parametrize("repo", CASES, indirect=True)
def test_check_fails_on_every_unmirrored_image_where_it_is_written(repo):
    case, root = repo
    done = imagemirror("check", "--format", "text", ".", cwd=root)
    assert done.returncode == 1, done.stderr
    assert done.stdout == (FIXTURES / case / "check.txt").read_text()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("repo", CASES, indirect=True)
def test_list_json_names_each_source(repo):
    case, root = repo
    done = imagemirror("list", "--format", "json", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows == json.loads((FIXTURES / case / "list.json").read_text())
    assert {r["source"] for r in rows} <= {"values", "argocd", "flux", "helmfile", "kustomize", "manifest"}


@pytest.mark.parametrize("repo", CASES, indirect=True)
def test_rewrite_fixes_each_in_place_byte_exactly_and_once(repo):
    case, root = repo
    before = tree(root)
    dry = imagemirror("rewrite", "--dry-run", ".", cwd=root)
    assert dry.returncode == 0 and dry.stdout.startswith("--- a/")
    gate = imagemirror("rewrite", "--check", ".", cwd=root)
    assert gate.returncode == 1
    assert tree(root) == before  # neither wrote anything
    done = imagemirror("rewrite", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    assert tree(root) == tree(FIXTURES / case / "expected")
    again = imagemirror("rewrite", ".", cwd=root)
    assert again.returncode == 0 and "changed 0 of" in again.stderr
    assert tree(root) == tree(FIXTURES / case / "expected")
    assert imagemirror("rewrite", "--check", ".", cwd=root).returncode == 0
    after = imagemirror("check", "--format", "json", ".", cwd=root)
    assert after.returncode == 0, after.stdout
    assert not [f for f in json.loads(after.stdout)["findings"] if f["code"] in ("IM001", "IM002")]


@pytest.mark.parametrize("repo", ["gitops-argocd", "gitops-flux"], indirect=True)
def test_check_formats_and_deny(repo):
    _case, root = repo
    for fmt in ("github", "sarif", "json"):
        done = imagemirror("check", "--format", fmt, ".", cwd=root)
        assert done.returncode == 1 and done.stdout, (fmt, done.stderr)
    # --deny fails a no-rule host wherever it is written (a manifest, inline values)
    done = imagemirror("check", "--format", "text", "--deny", "gcr.io", "--deny", "quay.io", ".", cwd=root)
    assert done.returncode == 1
    assert "IM002" in done.stdout


@pytest.mark.parametrize("repo", ["gitops-kustomize", "gitops-helmfile"], indirect=True)
def test_revert_maps_every_source_back_upstream(repo):
    _case, root = repo
    assert imagemirror("rewrite", ".", cwd=root).returncode == 0
    done = imagemirror("rewrite", "--revert", ".", cwd=root)
    assert done.returncode == 0, done.stderr
    rows = json.loads(imagemirror("list", "--format", "json", ".", cwd=root).stdout)
    assert not [r for r in rows if r["status"] == "mirrored"]
    assert imagemirror("rewrite", "--revert", ".", cwd=root).stderr.count("changed 0 of") == 1
