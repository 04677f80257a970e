"""Files under hostile conditions (issue 14): each case failed before its fix.

- a symbolic link to a values file inside the repository was skipped with a note (exit 0):
  the gate passed an image it never read;
- ``rewrite`` split hard links silently, and run as another user changed the file's owner and
  dropped its extended attributes (the README promises mode and owner kept).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import skip_or_fail
from imagemirror.errors import FileError
from imagemirror.files import write_atomic

REPO = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
BAD = "image: nginx:1.25\n"
FIXED = f"image: {ECR}/docker-hub/library/nginx:1.25\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    return root


# ------------------------------------------------------------------ symbolic links


def test_link_to_a_values_file_inside_the_repository_is_checked_and_rewritten(repo: Path):
    (repo / "shared").mkdir()
    (repo / "shared" / "common.yaml").write_text(BAD)
    (repo / "env").mkdir()
    (repo / "env" / "values.yaml").symlink_to("../shared/common.yaml")
    proc = cli("check", "--format", "json", "env", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["code"], f["file"]) for f in findings] == [("IM001", "shared/common.yaml")]
    proc = cli("rewrite", "env", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "env" / "values.yaml").is_symlink()  # the link stays a link
    assert (repo / "shared" / "common.yaml").read_text() == FIXED


def test_link_to_a_folder_inside_the_tree_is_followed_and_each_file_read_once(repo: Path):
    (repo / "base" / "app").mkdir(parents=True)
    (repo / "base" / "app" / "values.yaml").write_text(BAD)
    (repo / "env").mkdir()
    (repo / "env" / "app").symlink_to("../base/app")
    (repo / "env" / "again-values.yaml").symlink_to("../base/app/values.yaml")
    proc = cli("list", "--format", "json", ".", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert [r["file"] for r in json.loads(proc.stdout)] == ["base/app/values.yaml"]
    proc = cli("list", "--format", "json", "env", cwd=repo)
    assert [r["file"] for r in json.loads(proc.stdout)] == ["base/app/values.yaml"]


def test_link_loops_are_refused_with_one_line_each(repo: Path):
    (repo / "env").mkdir()
    (repo / "env" / "values.yaml").write_text(BAD)
    (repo / "env" / "up").symlink_to("..")
    (repo / "env" / "self").symlink_to("self")
    (repo / "env" / "a").symlink_to("b")
    (repo / "env" / "b").symlink_to("a")
    proc = cli("check", ".", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for link in ("env/up", "env/self", "env/a", "env/b"):
        lines = [line for line in proc.stderr.splitlines() if f"{link}:" in line]
        assert len(lines) == 1 and re.search(r"symbolic link loop.*not followed", lines[0]), proc.stderr


def test_links_out_of_the_tree_are_never_followed(repo: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "values.yaml").write_text(BAD)
    (repo / "env").mkdir()
    (repo / "env" / "values.yaml").symlink_to(outside / "values.yaml")
    (repo / "env" / "ext").symlink_to(outside)
    proc = cli("rewrite", ".", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (outside / "values.yaml").read_text() == BAD
    assert re.search(r"env/values.yaml: symbolic link out of the tree.*not followed", proc.stderr), proc.stderr
    assert re.search(r"env/ext: symbolic link out of the tree.*not followed", proc.stderr), proc.stderr
    proc = cli("rewrite", "env/values.yaml", "--config", ".imagemirror.yaml", cwd=repo)
    assert proc.returncode == 3 and "out of the tree" in proc.stderr, proc.stderr
    assert (outside / "values.yaml").read_text() == BAD


def test_a_link_named_on_the_command_line_inside_the_tree_is_followed(repo: Path):
    (repo / "real-values.yaml").write_text(BAD)
    (repo / "link.yaml").symlink_to("real-values.yaml")
    proc = cli("rewrite", "link.yaml", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "link.yaml").is_symlink() and (repo / "real-values.yaml").read_text() == FIXED


# ------------------------------------------------------------------ what a rename cannot keep


def test_hard_links_are_refused_not_split(repo: Path):
    (repo / "values.yaml").write_text(BAD)
    os.link(repo / "values.yaml", repo / "other.yaml")
    proc = cli("rewrite", "values.yaml", cwd=repo)
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "hard links" in errors[0], proc.stderr
    assert (repo / "values.yaml").read_text() == BAD
    assert os.stat(repo / "values.yaml").st_ino == os.stat(repo / "other.yaml").st_ino


def test_extended_attributes_are_kept(tmp_path: Path):
    path = tmp_path / "values.yaml"
    path.write_text(BAD)
    try:
        os.setxattr(path, "user.imagemirror-test", b"kept")
    except (OSError, AttributeError) as exc:
        pytest.skip(f"this file system does not take user.* extended attributes: {exc}")
    write_atomic(path, FIXED.encode(), BAD.encode(), "values.yaml")
    assert path.read_text() == FIXED
    assert os.getxattr(path, "user.imagemirror-test") == b"kept"


@pytest.fixture
def open_folder():
    """A folder every user can reach and write (pytest's tmp_path is root's alone)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="imagemirror-owner-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_owner_and_group_are_kept_or_the_write_is_refused(open_folder: Path):
    if os.geteuid() != 0:
        skip_or_fail("needs root: only root can make a file owned by another user to rewrite")
    folder = open_folder
    path = folder / "values.yaml"
    path.write_text(BAD)
    os.chown(path, 1234, 2345)
    path.chmod(0o666)
    write_atomic(path, FIXED.encode(), BAD.encode(), "values.yaml")  # as root: owner kept
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 2345, 0o666)
    # as another user (a forked child drops to nobody): the rename would make the file
    # nobody's, so the write is refused and the file left as it is
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        code = 0
        try:
            os.setgid(65534)
            os.setuid(65534)
            write_atomic(path, BAD.encode(), FIXED.encode(), "values.yaml")
            code = 1
        except FileError as exc:
            os.write(write, str(exc).encode())
        except BaseException as exc:  # noqa: BLE001 -- report anything to the parent
            os.write(write, f"unexpected {exc!r}".encode())
            code = 2
        os._exit(code)
    os.close(write)
    message = b""
    while chunk := os.read(read, 4096):
        message += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message
    assert b"would change its owner" in message
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (1234, 2345) and path.read_text() == FIXED
    assert [p.name for p in folder.iterdir()] == ["values.yaml"]  # no temporary file left


# ------------------------------------------------------------------ control characters


HOSTILE = (
    'image: "\\e[31mnginx:1\\e[0m"\n'
    '"x\\n::error file=a,line=1::pwned":\n  image: "quay.io/a/b:1\\n::error::pwned"\n'
    'rtl:\n  image: "quay.io/a/\\u202eb:1"\n'
)


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--format", "json"),
        ("check",),
        ("check", "--format", "github"),
        ("check", "--format", "json"),
        ("check", "--format", "sarif"),
        ("list", "--effective", "--offline"),
    ],
)
def test_control_characters_are_never_printed_raw(repo: Path, args):
    (repo / "values.yaml").write_text(HOSTILE)
    proc = cli(*args, "values.yaml", cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream and "\u202e" not in stream
        for line in stream.splitlines():
            assert not line.lstrip().startswith("::error::pwned") and "::error file=a" not in line.split(" ", 1)[0], (
                line
            )
            if line.startswith("::"):  # a real annotation: imagemirror's own, one per finding
                assert line.startswith(
                    ("::error file=values.yaml,", "::warning file=values.yaml,", "::notice file=values.yaml,")
                ), line
    if "json" in args or "sarif" in args:
        json.loads(proc.stdout)  # JSON escapes them itself
