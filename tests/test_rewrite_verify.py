"""The rewrite's verification: any difference in the re-parsed events but the intended
scalar values is caught (value, quote style, anchor, tag, flow style, event count, syntax);
and the splice that applies the edits."""

from __future__ import annotations

import pytest

from imagemirror.errors import FileError
from imagemirror.yaml_edit import apply_replacements as _apply
from imagemirror.yaml_edit import verify_events as _verify
from imagemirror.walker import parse_events

OLD = "a: &x b\nimage: {repository: nginx}\nc: [1, 2]\nd: !t x\n"


@pytest.fixture
def old():
    events = parse_events(OLD)
    index = next(e.start_mark.index for e in events if getattr(e, "value", None) == "nginx")
    return events, {index: ("foo", "")}


def test_the_intended_edit_verifies(old):
    events, expected = old
    _verify(events, "a: &x b\nimage: {repository: foo}\nc: [1, 2]\nd: !t x\n", expected, None, "f")


@pytest.mark.parametrize(
    "new, why",
    [
        pytest.param("a: &x c\nimage: {repository: foo}\nc: [1, 2]\nd: !t x\n", "event 4", id="other-value"),
        pytest.param("a: &x b\nimage: {repository: bar}\nc: [1, 2]\nd: !t x\n", "event 8", id="not-the-intended-value"),
        pytest.param("a: &x b\nimage: {repository: 'foo'}\nc: [1, 2]\nd: !t x\n", "event 8", id="quote-style"),
        pytest.param("a: &y b\nimage: {repository: foo}\nc: [1, 2]\nd: !t x\n", "event 4", id="anchor"),
        pytest.param("a: &x b\nimage: {repository: foo}\nc: [1, 2]\nd: !u x\n", "event 16", id="tag"),
        pytest.param("a: &x b\nimage: {repository: foo}\nc:\n- 1\n- 2\nd: !t x\n", "event 11", id="flow-style"),
        pytest.param("a: &x b\nimage: {repository: foo}\nc: [1, 2, 3]\nd: !t x\n", "number of YAML events", id="count"),
        pytest.param("a: &x b\nimage: {repository: foo\n", "not valid YAML", id="syntax"),
    ],
)
def test_any_other_difference_fails(old, new, why):
    events, expected = old
    with pytest.raises(FileError, match="did not verify") as err:
        _verify(events, new, expected, None, "f")
    assert why in str(err.value)


SPLICED = "global:\n  x: 1\nimage: nginx\nref: &r y\nalias: *r\n"
INSERTED = [
    ("ScalarEvent", "security", "", None, None, False),
    ("MappingStartEvent", None, "", None, None, False),
    ("ScalarEvent", "allowInsecureImages", "", None, None, False),
    ("ScalarEvent", "true", "", None, None, False),
    ("MappingEndEvent", None, "", None, None, False),
]


@pytest.mark.parametrize(
    "new, ok",
    [
        pytest.param(
            "global:\n  security:\n    allowInsecureImages: true\n  x: 1\nimage: foo\nref: &r y\nalias: *r\n",
            True,
            id="intended",
        ),
        pytest.param(
            "global:\n  security:\n    allowInsecureImages: false\n  x: 1\nimage: foo\nref: &r y\nalias: *r\n",
            False,
            id="inserted-value",
        ),
        pytest.param(
            "global:\n  x: 1\n  security:\n    allowInsecureImages: true\nimage: foo\nref: &r y\nalias: *r\n",
            False,
            id="inserted-elsewhere",
        ),
        pytest.param(
            "global:\n  security:\n    allowInsecureImages: true\n  x: 1\nimage: foo\nref: &r y\nalias: *q\n",
            False,
            id="alias",
        ),
        pytest.param(
            "global:\n  security:\n    allowInsecureImages: true\n  x: 2\nimage: foo\nref: &r y\nalias: *r\n",
            False,
            id="value-outside",
        ),
        pytest.param(
            "---\nglobal:\n  security:\n    allowInsecureImages: true\n  x: 1\nimage: foo\nref: &r y\nalias: *r\n",
            True,
            id="document-marker-is-not-an-event-difference",
        ),
    ],
)
def test_a_spliced_insertion_verifies_only_as_intended(new, ok):
    events = parse_events(SPLICED)
    gstart = next(i for i, e in enumerate(events) if type(e).__name__ == "MappingStartEvent" and i > 2)
    index = next(e.start_mark.index for e in events if getattr(e, "value", None) == "nginx")
    splice = (gstart + 1, 0, INSERTED)
    if ok:
        _verify(events, new, {index: ("foo", "")}, splice, "f")
    else:
        with pytest.raises(FileError, match="did not verify"):
            _verify(events, new, {index: ("foo", "")}, splice, "f")


# --- splicing the edits -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, edits, expected",
    [
        pytest.param("abcdef", [], "abcdef", id="none"),
        pytest.param("abcdef", [(1, 2, "X"), (4, 6, "YZ!")], "aXcdYZ!", id="two-replacements"),
        pytest.param("abcdef", [(4, 6, "YZ"), (1, 2, "X")], "aXcdYZ", id="any-order"),
        pytest.param("abc", [(3, 3, "!"), (0, 0, "^")], "^abc!", id="insert-at-ends"),
        pytest.param("abc", [(1, 1, "1"), (1, 1, "2")], "a21bc", id="two-inserts-at-one-offset-last-first"),
        pytest.param("abc", [(1, 2, "B"), (1, 1, "+")], "a+Bc", id="insert-before-a-replacement-at-one-offset"),
    ],
)
def test_apply_splices_every_edit(text, edits, expected):
    assert _apply(text, edits) == expected


@pytest.mark.parametrize(
    "edits", [[(1, 3, "X"), (2, 4, "Y")], [(1, 3, "X"), (1, 3, "Y")]], ids=["overlap", "same-span"]
)
def test_apply_refuses_overlapping_edits(edits):
    with pytest.raises(AssertionError, match="overlapping"):
        _apply("abcdef", edits)


def test_apply_many_edits():
    """Hundreds of thousands of edits in one text (a 50 MB file) are one pass, not one copy each."""
    text = "image: a\n" * 200_000
    edits = [(i * 9 + 7, i * 9 + 8, "b") for i in range(200_000)]
    assert _apply(text, edits) == "image: b\n" * 200_000
