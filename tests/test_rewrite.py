"""Whole-file rewrites (tests/fixtures/rewrite/<case>/{input,expected}.yaml) and the edit rules."""

from pathlib import Path

import pytest

from imagemirror.config import Settings
from imagemirror.errors import FileError
from imagemirror.reference import parse
from imagemirror.rewrite import UnsafeValue, render, rewrite_text
from imagemirror.walker import Scalar

from helpers import assert_only_image_scalars_changed

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = Settings(registry=REG)
CASES = sorted(p.name for p in (Path(__file__).parent / "fixtures" / "rewrite").iterdir())


def read(case, name):
    return (Path(__file__).parent / "fixtures" / "rewrite" / case / name).read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", CASES)
def test_fixture(case):
    before, expected = read(case, "input.yaml"), read(case, "expected.yaml")
    done = rewrite_text(before, case, SETTINGS)
    assert done.text == expected
    assert done.changed
    assert_only_image_scalars_changed(before, done.text, done.result.refs, REG)
    again = rewrite_text(done.text, case, SETTINGS)
    assert not again.changed and again.text == done.text
    assert all(r.status != "unmirrored" for r in again.result.refs)


@pytest.mark.parametrize("case", CASES)
def test_revert_restores_upstream(case):
    before = read(case, "input.yaml")
    original = {
        (r.path, r.upstream) for r in rewrite_text(before, case, SETTINGS).result.refs if r.status == "unmirrored"
    }
    forward = rewrite_text(before, case, SETTINGS).text
    back = rewrite_text(forward, case, SETTINGS, revert=True)
    restored = {
        (r.path, r.upstream) for r in rewrite_text(back.text, case, SETTINGS).result.refs if r.status == "unmirrored"
    }
    assert restored == original
    assert not rewrite_text(back.text, case, SETTINGS, revert=True).changed


def test_crlf_and_bom_kept_byte_for_byte():
    before = read("crlf-bom-quotes", "input.yaml")
    after = rewrite_text(before, "x", SETTINGS).text
    assert after.startswith("\ufeff")
    assert after.count("\r\n") == before.count("\r\n")
    assert "\n" not in after.replace("\r\n", "")


def test_unchanged_text_is_returned_as_is():
    text = "# nothing here\nfoo: bar\n"
    done = rewrite_text(text, "x", SETTINGS)
    assert done.text is text and not done.changed


def test_invalid_yaml_is_a_file_error_with_position():
    with pytest.raises(FileError) as err:
        rewrite_text("image:\n  repository: [a\n", "bad.yaml", SETTINGS)
    assert err.value.line is not None and str(err.value).startswith("bad.yaml:")


def test_duplicate_anchor_falls_back_to_the_pure_parser():
    text = "a: &x nginx\nimage: &x redis:7\n"
    done = rewrite_text(text, "x", SETTINGS)
    assert done.text == f"a: &x nginx\nimage: &x {REG}/docker-hub/library/redis:7\n"


@pytest.mark.parametrize(
    "value",
    ["a\nb", "a #b", "a'b", 'a"b', "{{ x }}", "a b", "a\tb", "", "a,b", "*a"],
)
def test_unsafe_values_are_never_written(value):
    node = Scalar("x", "", 0, 1, False, 0, 0)
    with pytest.raises(UnsafeValue):
        render(node, value)


@pytest.mark.parametrize(
    "style, inflow, value, expected",
    [
        ("", False, "reg.example.com/a:1", "reg.example.com/a:1"),
        ("", True, "reg.example.com/a:1", '"reg.example.com/a:1"'),
        ("", True, "reg.example.com/a", "reg.example.com/a"),
        ("'", False, "reg.example.com/a", "'reg.example.com/a'"),
        ('"', False, "reg.example.com/a", '"reg.example.com/a"'),
        ("", False, "1.25", '"1.25"'),
        ("", False, "true", '"true"'),
    ],
)
def test_render_keeps_style(style, inflow, value, expected):
    node = Scalar("x", style, 0, 1, False, 0, 0)
    node.inflow = inflow
    assert render(node, value)[0] == expected


def test_shared_scalar_with_conflicting_needs_is_left_alone():
    text = "a:\n  image:\n    registry: &r docker.io\n    repository: bitnami/x\nb:\n  image:\n    registry: *r\n    repository: quay-like/y\n"
    # both maps share the anchored registry scalar; both want REG there: no conflict (an
    # anchor that a non-image key holds or aliases is never rewritten: tests/regressions)
    done = rewrite_text(text, "x", SETTINGS)
    assert done.changed
    refs = {r.path: r for r in done.result.refs}
    assert parse(refs["a.image"].target).host == REG


def test_the_bitnami_flag_follows_the_files_indentation():
    text = "image:\n    registry: docker.io\n    repository: bitnami/redis\n"
    done = rewrite_text(text, "x", SETTINGS)
    assert done.text.endswith(
        "global:\n    security:\n        allowInsecureImages: true  # imagemirror: Bitnami charts refuse relocated images without this\n"
    )
    assert not rewrite_text(done.text, "x", SETTINGS).changed
