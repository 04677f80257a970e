"""Crash safety: SIGKILL ``imagemirror rewrite`` while it writes 2,000 files.

Every file must then hold exactly its old bytes or exactly its new bytes (never a mix, never
empty), keep its permission bits and owner, and any temporary file left behind (SIGKILL
leaves no chance to clean up) must not look like a values file: a second run must not scan
it, and must finish the job.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from imagemirror.config import parse_settings
from imagemirror.files import VALUES_NAME
from imagemirror.rewrite import rewrite_text

REPO = Path(__file__).resolve().parent.parent
ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
FILES = 2000
MODES = (0o644, 0o600, 0o640, 0o664, 0o755, 0o700)
NAMES = ("values.yaml", "values-prod.yaml", "app-values.yaml", "x.values.yaml", "values.yml")


def make_tree(root: Path) -> dict[Path, tuple[bytes, bytes, int]]:
    """2,000 values files -> {path: (old bytes, expected new bytes, mode)}."""
    settings = parse_settings({"registry": ECR})
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    files = {}
    for i in range(FILES):
        folder = root / f"env{i % 7}" / f"app{i // 5:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / NAMES[i % len(NAMES)]
        eol = "\r\n" if i % 11 == 0 else "\n"
        text = eol.join(
            [
                f"# app {i} — ünïcode",
                "image:",
                "  registry: docker.io",
                f"  repository: library/app{i}",
                f"  tag: '1.{i}'",
                "sidecar:",
                f'  image: "quay.io/prometheus/node-exporter:v{i}"  # keep',
                "filler: |",
                *[f"  line {j} {'x' * 60}" for j in range(40)],  # a few kB per file
                "",
            ]
        )
        old = text.encode()
        new = rewrite_text(text, str(path), settings).text.encode()
        assert new != old
        path.write_bytes(old)
        mode = MODES[i % len(MODES)]
        path.chmod(mode)
        files[path] = (old, new, mode)
    return files


def start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "imagemirror", "rewrite", ".", "--jobs", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches the workers too
    )


def states(files) -> tuple[int, int, list[str]]:
    """(files with old bytes, files with new bytes, problems)."""
    n_old = n_new = 0
    problems = []
    for path, (old, new, mode) in files.items():
        data = path.read_bytes()
        if data == old:
            n_old += 1
        elif data == new:
            n_new += 1
        else:
            problems.append(f"{path}: neither old nor new ({len(data)} bytes)")
        got = stat.S_IMODE(path.stat().st_mode)
        if got != mode:
            problems.append(f"{path}: mode {oct(got)} != {oct(mode)}")
    return n_old, n_new, problems


def kill_mid_way(root: Path, files, after: int) -> tuple[int, int, list[str]]:
    """Start a rewrite, SIGKILL its process group once ``after`` watched files changed."""
    watch = list(files)[::7]
    proc = start(root)
    killed = False
    try:
        # This loop polls the files, it does not time anything; the deadline is a hang guard.
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if sum(1 for p in watch if p.read_bytes() != files[p][0]) >= after:
                break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed and proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    return states(files)


def test_sigkill_mid_rewrite_leaves_every_file_old_or_new(tmp_path: Path):
    root = tmp_path / "repo"
    files = make_tree(root)
    owners = {p: (p.stat().st_uid, p.stat().st_gid) for p in files}
    # Three kills at different moments (a non-atomic writer is caught in most runs; an
    # atomic one never fails); between rounds every file gets its old bytes back.
    for after in (1, 3, 9):
        n_old, n_new, problems = kill_mid_way(root, files, after)
        assert not problems, problems[:20]
        assert n_new >= 1 and n_old >= 1, (n_old, n_new)  # the kill landed in the middle
        for path, owner in owners.items():
            assert (path.stat().st_uid, path.stat().st_gid) == owner, path
        n_killed_new = n_new
        if after != 9:
            for path, (old, _new, mode) in files.items():
                path.chmod(0o600)
                path.write_bytes(old)
                path.chmod(mode)

    # Temporary files the kill left behind must not pass for values files.
    leftovers = [
        Path(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if Path(folder, name) not in files and name != ".imagemirror.yaml" and ".git" not in Path(folder).parts
    ]
    for tmp in leftovers:
        assert not VALUES_NAME.match(tmp.name), f"temporary file {tmp.name} matches the scan patterns"

    # A second run finishes the job and does not touch the leftovers.
    proc = subprocess.run(
        [sys.executable, "-m", "imagemirror", "rewrite", ".", "--jobs", "2"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    n_old, n_new, problems = states(files)
    assert not problems and n_new == FILES, (n_old, n_new, problems[:20])
    print(
        f"killed at {n_killed_new} of {FILES} files rewritten; {len(leftovers)} temporary file(s) left, none named like a values file"
    )
