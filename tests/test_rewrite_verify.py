"""The rewrite's verification: any difference in the re-parsed events but the intended
scalar values is caught (value, quote style, anchor, tag, flow style, event count, syntax)."""

from __future__ import annotations

import pytest

from imagemirror.errors import FileError
from imagemirror.rewrite import _verify
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
