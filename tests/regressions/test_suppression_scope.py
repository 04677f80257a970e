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


def test_rewrite_leaves_a_suppressed_reference_as_written():
    """``check`` skipped a suppressed reference, but ``rewrite`` (and so the pre-commit fixer)
    rewrote it on every run: the fixer fought the comment.  A bare ``ignore``, or one naming a
    finding the rewrite fixes (IM001, IM002), keeps the reference; another code does not."""
    from imagemirror.config import parse_settings
    from imagemirror.rewrite import rewrite_text

    settings = parse_settings({"registry": REG})
    text = (
        "a:\n  image: nginx:1.25  # imagemirror: ignore\n"
        "b:\n  image: redis:7\n"
        "c:\n  image: quay.io/x/y:1  # imagemirror: ignore[IM001]\n"
        "d:\n  image: quay.io/x/z:1  # imagemirror: ignore[IM003]\n"
    )
    done = rewrite_text(text, "values.yaml", settings)
    assert done.text == text.replace("redis:7", f"{REG}/docker-hub/library/redis:7").replace(
        "quay.io/x/z:1", f"{REG}/quay/x/z:1"
    )
    assert done.unedited == 2  # the summary counts what was edited, not what was left


def test_an_image_sharing_a_scalar_with_a_suppressed_one_is_not_rewritten():
    """Rewriting the anchored node (or the global registry) would change the suppressed image
    too: neither changes, a note says why, and ``check`` still reports the other (fail closed)."""
    from imagemirror.config import parse_settings
    from imagemirror.rewrite import rewrite_text

    settings = parse_settings({"registry": REG})
    done = rewrite_text(ANCHORED, "values.yaml", settings)
    assert done.text.splitlines()[:7] == ANCHORED.splitlines()[:7]  # proxy's anchor: as written
    assert "sidecar" in done.text and done.text.count("&img docker.io/library/haproxy:3.0") == 1
    assert any("not rewritten" in n and "suppressed image" in n for n in done.result.notes)
    glob = (
        "global:\n  imageRegistry: docker.io\n"
        "a:\n  image:\n    repository: bitnami/nginx\n    tag: '1'\n"
        "b:\n  image:\n    repository: bitnami/redis  # imagemirror: ignore\n    tag: '7'\n"
    )
    done = rewrite_text(glob, "values.yaml", settings)
    assert not done.changed and any("a.image" in n or "bitnami/nginx" in n for n in done.result.notes)
