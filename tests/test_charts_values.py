"""Helm's values merge over real chart archives built by the tests."""

import pytest

from imagemirror.charts.chart import ChartError, load_chart
from imagemirror.charts.values import effective_values, merge_user
from integration.charts import ChartSpec, erpnext, wordpress


def test_merge_user_layers_maps_merge_lists_replace_nulls_kept():
    got = merge_user(
        [
            {"a": {"x": 1, "y": [1, 2]}, "b": 1},
            {"a": {"y": [3], "z": None}, "c": 2},
            {"b": None},
        ]
    )
    assert got == {"a": {"x": 1, "y": [3], "z": None}, "b": None, "c": 2}


def test_subchart_defaults_under_name_globals_and_conditions():
    chart = load_chart(wordpress().tgz(), "wordpress.tgz")
    top = effective_values(
        chart,
        [
            {
                "global": {"imageRegistry": "reg.example"},
                "image": {"tag": "6.7"},
                "mariadb": {"image": {"tag": "11.5"}},
            },
        ],
    )
    v = top.values
    assert v["image"] == {"registry": "docker.io", "repository": "bitnami/wordpress", "tag": "6.7"}
    assert v["mariadb"]["image"] == {"registry": "docker.io", "repository": "bitnami/mariadb", "tag": "11.5"}
    # The parent's global wins over the subchart's own global default.
    assert v["mariadb"]["global"]["imageRegistry"] == "reg.example"
    assert [c.path for c in top.walk()] == [(), ("mariadb",)]
    assert top.disabled == ["memcached"]
    assert "image" not in v["memcached"]  # disabled subchart: no defaults merged


def test_condition_enables_and_null_deletes():
    chart = load_chart(wordpress(packed=False).tgz(), "wordpress.tgz")
    top = effective_values(
        chart, [{"memcached": {"enabled": True}, "mariadb": {"enabled": False}}, {"metrics": {"image": None}}]
    )
    assert [c.path for c in top.walk()] == [(), ("memcached",)]
    assert "image" not in top.values["metrics"]
    assert top.values["memcached"]["image"]["repository"] == "bitnami/memcached"


def test_aliases_read_values_under_the_alias():
    chart = load_chart(erpnext().tgz(), "erpnext.tgz")
    top = effective_values(chart, [{"redis-queue": {"enabled": True, "image": {"tag": "7.2"}}}])
    assert [c.path for c in top.walk()] == [(), ("redis-cache",), ("redis-queue",)]
    assert top.values["redis-queue"]["image"]["tag"] == "7.2"
    assert top.values["redis-cache"]["image"]["tag"] == "7.0.12"


def test_tags_and_nested_conditions():
    leaf = ChartSpec("leaf", values="image: {repository: org/leaf, tag: '1'}\n")
    mid = ChartSpec(
        "mid",
        values="leaf:\n  enabled: false\n",
        subcharts=[leaf],
        dependencies=[{"name": "leaf", "version": "1.0.0", "condition": "leaf.enabled"}],
    )
    top_spec = ChartSpec(
        "top",
        values="tags:\n  extra: false\n",
        subcharts=[mid],
        dependencies=[{"name": "mid", "version": "^1", "tags": ["extra"]}],
    )
    chart = load_chart(top_spec.tgz())
    assert [s.path for s in effective_values(chart, []).walk()] == [()]
    assert [s.path for s in effective_values(chart, [{"tags": {"extra": True}}]).walk()] == [(), ("mid",)]
    on = effective_values(chart, [{"tags": {"extra": True}, "mid": {"leaf": {"enabled": True}}}])
    assert [s.path for s in on.walk()] == [(), ("mid",), ("mid", "leaf")]
    assert on.values["mid"]["leaf"]["image"]["repository"] == "org/leaf"


def test_missing_dependency_without_resolver_is_one_clear_error(tmp_path):
    spec = ChartSpec("app", dependencies=[{"name": "db", "version": "1.x", "repository": "https://charts.example"}])
    with pytest.raises(ChartError, match="dependency 'db' 1.x is not vendored"):
        load_chart(spec.write_dir(tmp_path / "app"))


def test_file_dependency_and_v1_requirements(tmp_path):
    ChartSpec("db", values="image: {repository: org/db}\n").write_dir(tmp_path / "db")
    spec = ChartSpec("app", dependencies=[{"name": "db", "version": "1.0.0", "repository": "file://../db"}])
    chart = load_chart(spec.write_dir(tmp_path / "app"))
    assert effective_values(chart, []).values["db"]["image"] == {"repository": "org/db"}
