"""Data outside images must not change (issue 14): ``hub: &hub docker.io`` aliased by
``image.registry``, ``imageCredentials.registry`` and ``externalDns.domainFilter`` -- ``rewrite``
rewrote the anchor, so the pull-secret host and the DNS filter changed too, unseen by the
verification.  An anchored scalar shared with a non-image key is now never rewritten; the
image stays unmirrored (the gate still fails) with a hint naming the other keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from imagemirror.commands.check import finding_for
from imagemirror.config import parse_settings
from imagemirror.rewrite import rewrite_text

REPO = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": ECR})

HUB = """\
hub: &hub docker.io
image:
  registry: *hub
  repository: bitnami/nginx
  tag: "1.25"
imageCredentials:
  registry: *hub
  username: robot
externalDns:
  domainFilter: *hub
"""


def test_anchor_shared_with_non_image_keys_is_not_rewritten():
    done = rewrite_text(HUB, "values.yaml", SETTINGS)
    assert not done.changed and done.text == HUB  # not even the Bitnami flag: nothing moved
    (ref,) = done.result.refs
    assert ref.status == "unmirrored" and ref.target == f"{ECR}/docker-hub/bitnami/nginx:1.25"
    for where in ("imageCredentials.registry", "externalDns.domainFilter", "hub"):
        assert where in ref.hint
    assert "break the alias" in ref.hint
    assert any("not rewritten" in note and "values.yaml:4:15" in note for note in done.result.notes)
    finding = finding_for(ref)
    assert finding.code == "IM001" and finding.level == "error"  # the gate still fails


def test_anchor_in_a_list_item_or_a_key_is_shared_too():
    text = "image:\n  registry: &r quay.io\n  repository: a/b\nallowed: [*r]\n"
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert not done.changed and "allowed[0]" in done.result.refs[0].hint


def test_anchor_aliased_by_image_keys_only_is_rewritten():
    text = (
        "a:\n  image:\n    registry: &r quay.io\n    repository: x/a\n"
        "b:\n  image:\n    registry: *r\n    repository: x/b\nsidecarImage: &s quay.io/x/c:1\nc:\n  image: *s\n"
    )
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert done.text == (
        f"a:\n  image:\n    registry: &r {ECR}\n    repository: quay/x/a\n"
        f"b:\n  image:\n    registry: *r\n    repository: quay/x/b\n"
        f"sidecarImage: &s {ECR}/quay/x/c:1\nc:\n  image: *s\n"
    )


def test_rewrite_says_why_on_stderr(tmp_path: Path):
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    (tmp_path / "values.yaml").write_text(HUB)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "imagemirror", "rewrite", "values.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr
    assert "not rewritten" in proc.stderr and "imageCredentials.registry" in proc.stderr, proc.stderr
    assert (tmp_path / "values.yaml").read_text() == HUB
