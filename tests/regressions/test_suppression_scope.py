"""Issue 14: a suppression comment applies to the line it is on and its own reference only.

- ``# imagemirror: ignore`` on an anchor's line silenced every image that aliases the anchor
  elsewhere in the file (the alias's scalar *is* the anchored node, so its line counted as the
  reference's own).
- ``# imagemirror: ignore[]`` (an empty list) silenced every code.

Both fail closed now: the gate reports what the comment does not name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from imagemirror.config import Settings
from imagemirror.inventory import scan

REPO = Path(__file__).resolve().parents[2]
REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

ANCHORED = """\
hub: &hub docker.io  # imagemirror: ignore
web:
  image:
    registry: *hub
    repository: library/nginx
    tag: "1.27"
proxy:
  image: &img docker.io/library/haproxy:3.0  # imagemirror: ignore
sidecar:
  image: *img
"""


def check(tmp_path: Path, text: str) -> tuple[int, dict]:
    """``check --format json``: exit code and report (suppressed findings are only counted)."""
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    (tmp_path / "values.yaml").write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "imagemirror", "check", "--format", "json", "values.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return out.returncode, json.loads(out.stdout)


def test_an_ignore_on_an_anchor_line_does_not_silence_its_aliases(tmp_path):
    code, report = check(tmp_path, ANCHORED)
    # the image written on the anchor's line is silenced; those aliasing an anchor are not
    assert sorted(f["path"] for f in report["findings"]) == ["sidecar.image", "web.image"]
    assert report["suppressed"] == 1
    assert code == 1


def test_warm_keeps_aliases_of_an_ignored_anchor(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(ANCHORED)
    refs = {r.path: r for r in scan([values], Settings(registry=REG)).refs}
    assert refs["proxy.image"].suppressed
    assert not refs["web.image"].suppressed and not refs["sidecar.image"].suppressed


def test_an_ignore_on_the_alias_line_still_silences_it(tmp_path):
    text = ANCHORED.replace("  image: *img\n", "  image: *img  # imagemirror: ignore\n")
    _, report = check(tmp_path, text)
    assert [f["path"] for f in report["findings"]] == ["web.image"]
    assert report["suppressed"] == 2


def test_an_empty_code_list_silences_nothing(tmp_path):
    code, report = check(tmp_path, "web:\n  image: nginx:1.27  # imagemirror: ignore[]\n")
    assert [f["code"] for f in report["findings"]] == ["IM001"]
    assert report["suppressed"] == 0 and code == 1
    [ref] = scan([tmp_path / "values.yaml"], Settings(registry=REG)).refs
    assert not ref.suppressed and ref.ignored == frozenset()
