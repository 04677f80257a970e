"""A small manifest is read once: the head read at discovery (to tell it by content) is the
scan's read; a write, or a new discovery, never lets a stale copy be read."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from imagemirror import files, parallel
from imagemirror.config import parse_settings
from imagemirror.inventory import scan
from imagemirror.model import ImageRef

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": REG})
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: {image}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "deploy.yaml").write_text(DEPLOY.format(image="ghcr.io/org/app:1"))
    (tmp_path / "apps" / "values.yaml").write_text("image: quay.io/org/other:2\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _count_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real = files.read_bytes

    def counting(path, display):
        reads.append(str(path))
        return real(path, display)

    monkeypatch.setattr(files, "read_bytes", counting)
    return reads


def test_manifest_read_at_discovery_is_not_read_again(repo, monkeypatch):
    reads = _count_reads(monkeypatch)
    found = scan([Path(".")], SETTINGS, jobs=1)
    refs = {r.file: [ref.written for ref in r.refs] for r in found.results}
    assert refs == {"apps/deploy.yaml": ["ghcr.io/org/app:1"], "apps/values.yaml": ["quay.io/org/other:2"]}
    assert reads == ["apps/values.yaml"]  # the values file is found by name, read by the scan


def test_a_write_drops_the_copy_read_at_discovery(repo):
    found, problems = files.discover([Path(".")], SETTINGS)
    assert not problems
    path, display = next(item for item in found if item[1].endswith("deploy.yaml"))
    original = path.read_bytes()
    new = original.replace(b"app:1", b"app:2")
    files.write_atomic(path, new, original, display)
    assert files.read_text(path, display) == new.decode()


def test_a_new_discovery_forgets_what_the_last_one_read(repo):
    files.discover([Path(".")], SETTINGS)
    (repo / "apps" / "deploy.yaml").write_text(DEPLOY.format(image="ghcr.io/org/app:3"))
    found, _ = files.discover([Path(".")], SETTINGS)
    path, display = next(item for item in found if item[1].endswith("deploy.yaml"))
    assert "app:3" in files.read_text(path, display)


def test_a_manifest_larger_than_the_head_is_read_whole_by_the_scan(repo, monkeypatch):
    big = DEPLOY.format(image="ghcr.io/org/app:1") + "".join(f"# {'x' * 70}\n" for _ in range(1000))
    assert len(big) > 1 << 16
    (repo / "apps" / "deploy.yaml").write_text(big + "---\n" + DEPLOY.format(image="ghcr.io/org/late:9"))
    reads = _count_reads(monkeypatch)
    found = scan([Path(".")], SETTINGS, jobs=1)
    refs = {r.file: [ref.written for ref in r.refs] for r in found.results}
    assert refs["apps/deploy.yaml"] == ["ghcr.io/org/app:1", "ghcr.io/org/late:9"]
    assert "apps/deploy.yaml" in reads


def test_results_from_workers_are_equal_to_the_scan_in_process(repo):
    for i in range(30):  # enough files to fork
        (repo / "apps" / f"d{i}.yaml").write_text(DEPLOY.format(image=f"ghcr.io/org/app{i}:1"))
    if len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True:
        pytest.skip("one core: the scan does not fork")
    alone = scan([Path(".")], SETTINGS, jobs=1).results
    forked = scan([Path(".")], SETTINGS, jobs=2).results
    assert forked == alone and any(r.refs for r in forked)


def test_frozen_slotted_results_pickle_to_equal_objects():
    from multiprocessing.reduction import ForkingPickler

    parallel._fast_results()
    found = scan_one()
    ref = found.refs[0]
    assert isinstance(ref, ImageRef)
    back = pickle.loads(ForkingPickler.dumps(ref))
    assert back == ref and hash(back) == hash(ref) and back is not ref
    assert [getattr(back, s) for s in ImageRef.__slots__] == [getattr(ref, s) for s in ImageRef.__slots__]


def scan_one():
    from imagemirror.inventory import scan_text

    return scan_text(DEPLOY.format(image="ghcr.io/org/app:1"), "d.yaml", SETTINGS)
