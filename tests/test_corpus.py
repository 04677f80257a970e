"""The real corpus (../shared/corpus), read in place: byte-exact rewrite, idempotence, floor."""

import json

import pytest

from imagemirror.config import Settings
from imagemirror.inventory import scan_text
from imagemirror.reference import InvalidReference, parse, split_name
from imagemirror.rewrite import rewrite_text

from conftest import CORPUS
from helpers import assert_line_edits_are_scalar_swaps, assert_only_image_scalars_changed

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = Settings(registry=REG, aliases={"registry.rocket.chat": "docker.io"})
FILES = sorted(p.parent.name for p in CORPUS.glob("*/values.yaml"))


@pytest.mark.parametrize("name", FILES or ["<corpus missing>"])
def test_rewrite_changes_only_image_scalars(corpus_dir, name):
    text = (corpus_dir / name / "values.yaml").read_bytes().decode("utf-8")
    done = rewrite_text(text, name, SETTINGS)
    if any(r.status == "unmirrored" for r in done.result.refs):
        assert done.changed
    changed = assert_only_image_scalars_changed(text, done.text, done.result.refs, REG)
    assert bool(changed) == done.changed
    # every other byte is kept: changed lines differ in one token, nothing else moves
    swaps = assert_line_edits_are_scalar_swaps(text, done.text)
    assert (swaps > 0) == done.changed
    again = rewrite_text(done.text, name, SETTINGS)
    assert not again.changed
    assert [r.status for r in again.result.refs if r.status == "unmirrored"] == []


def test_list_finds_at_least_what_renovate_finds(corpus_dir):
    found = {}
    for name in FILES:
        result = scan_text((corpus_dir / name / "values.yaml").read_text(encoding="utf-8"), name, SETTINGS)
        assert result.error is None
        found[f"{name}/values.yaml"] = result.refs
    expected = json.loads((corpus_dir / "renovate-found.json").read_text())
    missing = []
    for entry in expected:
        dep = entry["depName"]
        if dep in (None, "null"):  # Renovate's own artefact: no image name at all
            continue
        want = parse(dep).name
        # Renovate does not know a chart's global registry: compare the path it saw
        tail = dep.split("/", 1)[1] if split_name(dep)[0] else dep
        names = set()
        for ref in found[entry["file"]]:
            try:
                names.add(parse(ref.written.split("@")[0]).name)
            except InvalidReference:
                names.add(ref.written)
        if want not in names and not any(n.endswith("/" + tail) for n in names):
            missing.append((entry["file"], dep))
    assert missing == []
    total = sum(len(v) for v in found.values())
    assert total > len(expected)  # Renovate is a floor, not the goal


def test_no_corpus_file_fails_to_parse(corpus_dir):
    for name in FILES:
        text = (corpus_dir / name / "values.yaml").read_text(encoding="utf-8")
        assert scan_text(text, name, SETTINGS).error is None
