"""Pure parts of chart fetching: index.yaml blocks (credentials and auth challenges are the
registry layer's: tests/test_warm_parts.py)."""

from imagemirror.charts.fetch import _index_entries


def test_index_entries_reads_one_chart_block_of_a_helm_index():
    text = (
        "apiVersion: v1\nentries:\n"
        "  alpha:\n  - name: alpha\n    urls:\n    - alpha-1.0.0.tgz\n    version: 1.0.0\n"
        "  beta:\n  - name: beta\n    version: 2.0.0\n  - name: beta\n    version: 2.1.0\n"
        "generated: 2026-01-01T00:00:00Z\n"
    )
    assert [e["version"] for e in _index_entries(text, "beta", "index.yaml")["beta"]] == ["2.0.0", "2.1.0"]
    assert _index_entries(text, "alpha", "index.yaml")["alpha"][0]["urls"] == ["alpha-1.0.0.tgz"]
    assert "gamma" not in _index_entries(text, "gamma", "index.yaml")
    crlf = text.replace("\n", "\r\n")
    assert len(_index_entries(crlf, "beta", "index.yaml")["beta"]) == 2
