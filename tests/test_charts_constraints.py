"""Helm (Masterminds/semver v3) version constraints, as table cases from its own test suite."""

import pytest

from imagemirror.charts.constraints import InvalidVersion, best_match, parse_constraints, parse_version

CASES = [
    # (constraint, version, matches)
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.9.9", True),
    ("^1.2", "2.0.0", False),
    ("^1.2", "1.1.9", False),
    ("^1.2.3", "1.2.2", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2", "1.2.5", True),
    ("~0.0.0", "5.0.0", True),
    (">=1 <2", "1.5.0", True),
    (">=1 <2", "2.0.0", False),
    (">=1, <2", "0.9.0", False),
    ("1.2.x", "1.2.7", True),
    ("1.2.x", "1.3.0", False),
    ("1.2", "1.2.7", True),
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "1.2.4", False),
    ("=1.2.3", "1.2.3", True),
    ("v1.2.3", "1.2.3", True),
    ("*", "0.0.1", True),
    ("*", "12.0.0", True),
    ("*", "1.0.0-rc.1", False),
    ("", "3.1.4", True),
    ("x", "3.1.4", True),
    ("1.x", "1.9.9", True),
    ("1.x", "2.0.0", False),
    (">1.2", "1.2.9", False),
    (">1.2", "1.3.0", True),
    (">1", "1.9.0", False),
    (">1", "2.0.0", True),
    (">1.2.3", "1.2.4", True),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0", False),
    ("<=1.2", "1.2.9", True),
    ("<=1.2", "1.3.0", False),
    ("<=1.2.3", "1.2.3", True),
    ("<=1.x", "1.9.0", True),
    ("<=1.x", "2.0.0", False),
    ("!=1.2.3", "1.2.4", True),
    ("!=1.2.3", "1.2.3", False),
    ("!=1.x", "1.2.3", False),
    ("!=1.x", "2.2.3", True),
    ("!=1.2.x", "1.3.0", True),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.1.9", False),
    ("^1.0 || ^3.0", "3.4.0", True),
    ("^1.0 || ^3.0", "2.4.0", False),
    (">=1.0.0-0", "1.2.0-rc.1", True),
    ("^1.2", "1.5.0-beta", False),
    (">=1.2.3-alpha", "1.2.3-beta", True),
    (">=1.2.3-beta", "1.2.3-alpha", False),
    ("1.2.3-1", "1.2.3-1", True),
]


@pytest.mark.parametrize("constraint,version,expected", CASES, ids=[f"{c or 'empty'}|{v}" for c, v, _ in CASES])
def test_constraint(constraint, version, expected):
    assert parse_constraints(constraint).check(version) is expected


@pytest.mark.parametrize("bad", [">=a", "1.2.3.4", "^^1", "latest"])
def test_invalid_constraint(bad):
    with pytest.raises(InvalidVersion):
        parse_constraints(bad)


def test_prerelease_ordering():
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    parsed = [parse_version(v) for v in order]
    assert sorted(parsed) == parsed


def test_lenient_versions():
    assert str(parse_version("v2")) == "2.0.0"
    assert str(parse_version("1.2+build.5")) == "1.2.0"
    with pytest.raises(InvalidVersion):
        parse_version("release-1")


VERSIONS = ["1.0.0", "1.2.0", "1.2.10", "1.3.0-rc.1", "2.0.0", "2.1.0", "not-a-version", "v1.2"]


@pytest.mark.parametrize(
    "constraint,expected",
    [
        ("^1.2", "1.2.10"),
        ("~1.2.0", "1.2.10"),
        ("1.2.x", "1.2.10"),
        (">=1 <2", "1.2.10"),
        ("*", "2.1.0"),
        ("", "2.1.0"),
        ("v1.2", "v1.2"),  # the exact string first, as Helm's index lookup does
        ("^3", None),
        # Masterminds quirk Helm inherits: every constraint of an AND group must name a
        # pre-release to admit one, so ``<1.4`` rejects 1.3.0-rc.1.
        (">=1.3.0-0 <1.4", None),
        (">=1.3.0-0 <1.4.0-0", "1.3.0-rc.1"),
    ],
)
def test_best_match(constraint, expected):
    assert best_match(constraint, VERSIONS) == expected
