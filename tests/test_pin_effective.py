"""``pin --effective`` on examples/gitops, offline from its vendored charts, after ``rewrite
--effective`` (as a new user would run them): every image the releases pull that has a tag is
pinned in the form its chart reads (a ``digest`` key where the chart's map has one, else
``tag@digest``; a key the file lacks is added), recomputing the effective values finds each
digest, a second run changes nothing, and ``--revert`` restores the rewritten bytes exactly.

The registry side is faked (one digest per tag); the real one is tests/integration/test_pin.py."""

from __future__ import annotations

import hashlib
import io

from test_charts_examples import effective, gitops, imagemirror  # noqa: F401 - fixture

from imagemirror.commands.pin import Resolution, Resolver, pin_paths
from imagemirror.errors import Exit
from imagemirror.reference import parse


class Digests(Resolver):
    def __init__(self):
        super().__init__(None)
        self.asked: list[str] = []

    def resolve(self, lookup, confirm=True):
        self.asked.append(lookup)
        return Resolution(lookup, "sha256:" + hashlib.sha256(lookup.encode()).hexdigest())


def test_pin_effective_pins_what_each_release_pulls(gitops, monkeypatch):
    done = imagemirror("rewrite", "--effective", "--offline", "environments/prod", cwd=gitops)
    assert done.returncode == 0, done.stderr
    files = sorted((gitops / "environments" / "prod").rglob("values.yaml"))
    rewritten = {f: f.read_bytes() for f in files}
    monkeypatch.chdir(gitops)
    monkeypatch.setenv("IMAGEMIRROR_CACHE_DIR", str(gitops / ".no-cache"))
    resolver = Digests()
    out = io.StringIO()
    code = pin_paths([gitops / "environments" / "prod"], effective=True, offline=True, resolver=resolver, stdout=out)
    assert code == Exit.OK, out.getvalue()
    report = out.getvalue()
    assert "[insert-digest]" in report and "[tag]" in report and "[insert-tag]" in report and "[string]" in report

    images = effective(gitops, "prod")
    untagged = []
    for (release, path), image in images.items():
        ref = parse(image.written)
        assert image.status == "mirrored", (release, path, image.written)
        if ref.tag is None:
            untagged.append(path)  # the chart's template supplies the tag (appVersion): not pinnable here
            continue
        assert ref.digest == "sha256:" + hashlib.sha256(f"{ref.name}:{ref.tag}".encode()).hexdigest(), (
            release,
            path,
            image.written,
        )
    assert sorted(untagged) == ["microservices.account.image", "microservices.authorization.image"]
    # bitnami maps whose chart has a digest key got one; the chart reads digest over tag
    wordpress = (gitops / "environments/prod/wordpress/values.yaml").read_text()
    assert "digest: sha256:" in wordpress and "# imagemirror: pinned (added)" in wordpress

    pinned = {f: f.read_bytes() for f in files}
    again = pin_paths(
        [gitops / "environments" / "prod"], effective=True, offline=True, resolver=Digests(), stdout=io.StringIO()
    )
    assert again == Exit.OK
    assert {f: f.read_bytes() for f in files} == pinned  # pinning twice changes nothing

    back = imagemirror("pin", "--revert", "environments/prod", cwd=gitops)
    assert back.returncode == 0, back.stderr
    assert {f: f.read_bytes() for f in files} == rewritten
