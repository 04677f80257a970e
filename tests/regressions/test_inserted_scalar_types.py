"""An inserted scalar keeps its type: the YAML edit engine writes a value plain only when
ruamel's own resolver (YAML 1.1 and 1.2) reads it back as a string.

Before the one engine (issue 11; ARCHITECTURE-REVIEW appendix F) the chart overrides used a
hand-written regex that missed timestamps: ``tag: 2024-01-01`` was written plain, read back as
a date, and the file was refused with "chart overrides did not verify (data differs) ...
please report this".
"""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from imagemirror.charts.overrides import Assignment, apply


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "yes",
        "on",
        "y",
        "0o17",
        "017",
        "1.10",
        "1e3",
        "12:30",
        "0x1f",
        "null",
        "~",
        ".inf",
    ],
)
def test_an_inserted_value_stays_a_string(value):
    out = apply("image:\n  repository: x\n", [Assignment(("image", "tag"), value)])
    assert out == f'image:\n  repository: x\n  tag: "{value}"\n'
    for pure in (True, False):
        assert YAML(typ="safe", pure=pure).load(out)["image"]["tag"] == value


def test_a_replaced_value_stays_a_string():
    out = apply("image:\n  tag: v1\n", [Assignment(("image", "tag"), "2024-01-01")])
    assert out == 'image:\n  tag: "2024-01-01"\n'


@pytest.mark.parametrize("value", ["v1.2.3", "nginx", "docker-hub/bitnami/redis", "7.2-alpine"])
def test_plain_strings_stay_plain(value):
    out = apply("image:\n  repository: x\n", [Assignment(("image", "tag"), value)])
    assert out == f"image:\n  repository: x\n  tag: {value}\n"
