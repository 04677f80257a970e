"""Chart archives as an attacker shapes them: any corruption of a real chart's tar stream or
of its gzip stream is a chart (when it still is one) or a one-line :class:`ChartError`, never
another exception -- the limits of :func:`imagemirror.charts.chart._files_from_tgz` (every
header counts) included."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent / "integration"))

from charts import wordpress

from imagemirror.charts.chart import ChartError, load_chart

BASE = wordpress("23.1.0").tgz()
RAW = gzip.decompress(BASE)
QUIET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def load(data: bytes) -> None:
    try:
        load_chart(data, where="x.tgz", local=False)
    except ChartError as exc:
        assert "\n" not in str(exc)


@QUIET
@given(st.lists(st.tuples(st.integers(0, len(RAW) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_a_corrupted_tar_stream_is_a_chart_or_a_chart_error(changes):
    raw = bytearray(RAW)
    for index, value in changes:
        raw[index] = value
    load(gzip.compress(bytes(raw)))


@QUIET
@given(st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_a_corrupted_gzip_stream_is_a_chart_or_a_chart_error(changes):
    raw = bytearray(BASE)
    for index, value in changes:
        raw[index] = value
    load(bytes(raw))


@QUIET
@given(st.integers(1, len(RAW) - 1))
def test_a_truncated_archive_is_a_chart_or_a_chart_error(cut):
    load(gzip.compress(RAW[:cut]))
