"""End to end through the entry point: list, rewrite, exit codes, files left untouched."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gitops"
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"


def imagemirror(*args, cwd=None, input=None):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def gitops(tmp_path):
    dest = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, dest)
    (dest / ".git").mkdir()
    return dest


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_version():
    out = imagemirror("--version")
    assert out.returncode == 0 and "imagemirror" in out.stdout


def test_list_json_on_the_example(gitops):
    out = imagemirror("list", "environments/prod", "--format", "json", cwd=gitops)
    assert out.returncode == 0, out.stderr
    refs = json.loads(out.stdout)
    assert {r["file"] for r in refs} == {
        "environments/prod/wordpress/values.yaml",
        "environments/prod/rocketchat/values.yaml",
        "environments/prod/erpnext/values.yaml",
    }
    by = {(r["file"].split("/")[2], r["path"]): r for r in refs}
    wp = by[("wordpress", "mariadb.image")]
    assert wp["upstream"] == "docker.io/bitnamilegacy/mariadb:11.4.7-debian-12-r2"
    assert wp["target"] == f"{REG}/docker-hub/bitnamilegacy/mariadb:11.4.7-debian-12-r2"
    assert wp["status"] == "unmirrored" and wp["line"] == 41 and wp["column"] == 17
    rc = by[("rocketchat", "image")]
    assert rc["upstream"] == "docker.io/rocketchat/rocket.chat:7.9.3"  # alias applied
    assert by[("rocketchat", "nats.nats.image")]["target"] == f"{REG}/docker-hub/library/nats:2.12-alpine"
    assert by[("erpnext", "image")]["status"] == "ambiguous" and by[("erpnext", "image")]["target"] is None
    assert set(refs[0]) >= {"file", "line", "column", "path", "written", "upstream", "status", "target"}


def test_dry_run_prints_a_diff_and_writes_nothing(gitops):
    before = snapshot(gitops)
    out = imagemirror("rewrite", "environments/prod", "--dry-run", cwd=gitops)
    assert out.returncode == 0, out.stderr
    assert "+  repository: docker-hub/bitnami/wordpress" in out.stdout
    assert f"+  registry: {REG}" in out.stdout
    assert "--- a/environments/prod/wordpress/values.yaml" in out.stdout
    assert "left as is" in out.stderr and "ambiguous" in out.stderr
    assert snapshot(gitops) == before


def test_rewrite_in_place_then_a_second_run_changes_nothing(gitops):
    target = gitops / "environments/staging/erpnext/values.yaml"
    os.chmod(target, 0o640)
    out = imagemirror("rewrite", "environments", cwd=gitops)
    assert out.returncode == 0, out.stderr
    assert "changed 6 of 6 files" in out.stderr
    data = target.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n")  # CRLF kept
    assert f'registry: "{REG}"'.encode() in data
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    after = snapshot(gitops)
    again = imagemirror("rewrite", "environments", cwd=gitops)
    assert again.returncode == 0 and "changed 0 of 6 files" in again.stderr
    assert snapshot(gitops) == after
    check = imagemirror("rewrite", "environments", "--check", cwd=gitops)
    assert check.returncode == 0
    assert not list(gitops.rglob("*.imagemirror-tmp"))


def test_revert_round_trip(gitops):
    imagemirror("rewrite", "environments/prod", cwd=gitops)
    out = imagemirror("rewrite", "environments/prod", "--revert", cwd=gitops)
    assert out.returncode == 0, out.stderr
    listed = json.loads(imagemirror("list", "environments/prod", "--format", "json", cwd=gitops).stdout)
    assert not [r for r in listed if r["status"] == "mirrored"]


def test_a_broken_file_is_reported_left_untouched_and_the_others_still_done(gitops):
    broken = gitops / "environments/prod/broken-values.yaml"
    broken.write_text("image:\n  repository: [nginx\n  tag: 1\n")
    before = broken.read_bytes()
    out = imagemirror("rewrite", "environments/prod", cwd=gitops)
    assert out.returncode == 3
    assert "environments/prod/broken-values.yaml:3:" in out.stderr
    assert "Traceback" not in out.stderr
    assert broken.read_bytes() == before
    assert b"docker-hub/bitnami/wordpress" in (gitops / "environments/prod/wordpress/values.yaml").read_bytes()


def test_check_flag_exits_1_when_something_would_change(gitops):
    out = imagemirror("rewrite", "environments/prod", "--check", cwd=gitops)
    assert out.returncode == 1
    assert "would change 3 of 3 files" in out.stderr


def test_no_registry_is_a_settings_error(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "values.yaml").write_text("image: nginx:1\n")
    out = imagemirror("rewrite", "values.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "no cache registry configured" in out.stderr


def test_bad_settings_exit_2_with_position(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text("registry: r.example.com\nrulez: {}\n")
    (tmp_path / "values.yaml").write_text("image: nginx:1\n")
    out = imagemirror("list", "values.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert ".imagemirror.yaml:2:1: unknown key 'rulez' (did you mean 'rules'?)" in out.stderr


def test_which_files_are_scanned(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text("registry: r.example.com\nexclude: ['**/charts/**']\n")
    names = [
        "values.yaml",
        "values.yml",
        "values-prod.yaml",
        "prod-values.yaml",
        "app.values.yaml",
        "other.yaml",
        "Chart.yaml",
    ]
    for name in names:
        (tmp_path / "env" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "env" / name).write_text("image: nginx:1\n")
    (tmp_path / "env/charts/sub").mkdir(parents=True)
    (tmp_path / "env/charts/sub/values.yaml").write_text("image: nginx:1\n")
    (tmp_path / ".git/values.yaml").write_text("image: nginx:1\n")
    (tmp_path / "env/link-values.yaml").symlink_to(tmp_path / "env/values.yaml")
    out = imagemirror("list", ".", "--format", "json", cwd=tmp_path)
    files = sorted({r["file"] for r in json.loads(out.stdout)})
    assert files == sorted(f"env/{n}" for n in names[:5])
    named = imagemirror("list", "env/other.yaml", "--format", "json", cwd=tmp_path)
    assert [r["file"] for r in json.loads(named.stdout)] == ["env/other.yaml"]


def test_many_files_use_worker_processes_with_the_same_result(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    for i in range(60):
        d = tmp_path / f"app{i}"
        d.mkdir()
        (d / "values.yaml").write_text(f"image:\n  registry: docker.io\n  repository: bitnami/app{i}\n  tag: '{i}'\n")
    serial = imagemirror("list", ".", "--format", "json", "--jobs", "1", cwd=tmp_path)
    parallel = imagemirror("list", ".", "--format", "json", "--jobs", "2", cwd=tmp_path)
    assert json.loads(serial.stdout) == json.loads(parallel.stdout)
    out = imagemirror("rewrite", ".", "--jobs", "2", cwd=tmp_path)
    assert out.returncode == 0 and "changed 60 of 60 files" in out.stderr
