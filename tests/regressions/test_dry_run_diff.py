"""``rewrite --dry-run`` prints a unified diff: applied with ``git apply`` it must produce
exactly what ``rewrite`` writes -- including files with CRLF line endings and files without a
final newline.  (Found while testing bad input: the last case was a bug, now fixed.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import require_binary
from imagemirror.commands.rewrite import rewrite_files

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


def dry_run_then_apply(tmp_path: Path, text: bytes, capsys, monkeypatch) -> tuple[bytes, bytes]:
    git = require_binary("git")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").mkdir()
    (work / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    (work / "values.yaml").write_bytes(text)
    monkeypatch.chdir(work)
    capsys.readouterr()
    assert rewrite_files([Path("values.yaml")], dry_run=True, jobs=1) == 0
    diff = capsys.readouterr().out
    assert (work / "values.yaml").read_bytes() == text  # a dry run writes nothing
    applied = tmp_path / "applied"
    applied.mkdir()
    (applied / "values.yaml").write_bytes(text)
    (applied / "p.diff").write_text(diff, newline="")
    proc = subprocess.run([git, "apply", "--unsafe-paths", "p.diff"], cwd=applied, capture_output=True, text=True)
    assert proc.returncode == 0, f"git apply: {proc.stderr}\n{diff!r}"
    assert rewrite_files([Path("values.yaml")], jobs=1) == 0
    return (applied / "values.yaml").read_bytes(), (work / "values.yaml").read_bytes()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"a: 1\nimage: quay.io/x/y:1\nb: 2\n", id="lf"),
        pytest.param(b"a: 1\r\nimage: quay.io/x/y:1\r\nb: 2\r\n", id="crlf"),
        pytest.param(b"image: quay.io/x/y:1\nb: 2", id="no-final-newline-unchanged-last-line"),
    ],
)
def test_dry_run_diff_applies_to_the_rewrite(tmp_path, text, capsys, monkeypatch):
    applied, written = dry_run_then_apply(tmp_path, text, capsys, monkeypatch)
    assert applied == written


def test_dry_run_diff_when_the_changed_last_line_has_no_newline(tmp_path, capsys, monkeypatch):
    applied, written = dry_run_then_apply(tmp_path, b"a: 1\nimage: quay.io/x/y:1", capsys, monkeypatch)
    assert applied == written
