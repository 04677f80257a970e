"""Memory of ``rewrite`` on one large values file (issue 14): a 200 MB file needed 8.4 GB (40x
the file), more than a 7 GB CI runner has.  The whole tree of the file was held (about 300
bytes a node) while the sites were found, planned and the text edited: a dense 1.2 MB file
of this shape peaked at 48x its size in traced Python memory.  Large plain values files are
now read one top-level entry at a time (``walker.stream_values``): 10.2x here, where most of
it is the records of 4,500 images (one every 264 bytes, the densest shape there is).  Then
each site was let go as it was planned, its edits rendered at once (the scalars not held to
the splice), equal strings shared and the splice joined in chunks: 6.5x; and ``rewrite``
counts the references of such a file instead of keeping them (``summary``): 6.0x.

A bound on memory (tracemalloc's peak, which does not depend on the machine's speed or
load), not a time; the figures for real sizes are in bench/RESULTS.md ("One big file").
"""

from __future__ import annotations

import tracemalloc

from imagemirror import inventory
from imagemirror.config import parse_settings
from imagemirror.rewrite import rewrite_text

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": ECR, "rules": {"docker.io": "docker-hub", "quay.io": "quay"}})
BOUND = 8  # x the file's size; 6.5x measured (10.2x, and 46.9x before that)
SUMMARY_BOUND = 7  # the same, counted (rewrite's summary): 6.0x measured


def dense_values(size: int) -> str:
    """bench/gen_big_values.py's shape: an image map every 264 bytes, among lists and flow maps."""
    out = []
    total = 0
    i = 0
    while total < size:
        block = (
            f"svc{i}:\n  image:\n    registry: docker.io\n    repository: bitnami/nginx{i % 50}\n"
            f"    tag: 1.25.{i % 9}\n  replicas: {i % 5}\n"
            f"  sidecar: quay.io/prometheus/node-exporter:v1.{i % 7}.0\n"
            f'  env:\n    - name: A{i}\n      value: "x{i}"\n    - {{name: B, value: y}}\n'
            f"  labels: {{app: a{i}, tier: web}}\n"
        )
        out.append(block)
        total += len(block)
        i += 1
    return "".join(out)


def test_rewrite_of_a_large_values_file_stays_within_a_multiple_of_it():
    text = dense_values(1_200_000)
    assert len(text) >= inventory.STREAM_FROM  # the size from which the stream reads it
    tracemalloc.start()
    try:
        done = rewrite_text(text, "values.yaml", SETTINGS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.changed
    images = text.count("\nsvc") + 1
    assert len(done.result.refs) == images
    assert all(ref.target and ref.target.startswith(ECR) for ref in done.result.refs)
    assert done.text.count(f"registry: {ECR}\n    repository: docker-hub/bitnami/nginx") == images
    assert done.text.endswith(
        "allowInsecureImages: true  # imagemirror: Bitnami charts refuse relocated images without this\n"
    )
    assert peak < BOUND * len(text), f"peak {peak / len(text):.1f}x the file"


def test_rewrite_summary_of_a_large_values_file_counts_its_references():
    """What the ``rewrite`` command asks for: the same text, the references counted, not kept."""
    text = dense_values(1_200_000)
    raw = text.encode()
    tracemalloc.start()
    try:
        done = rewrite_text(text, "values.yaml", SETTINGS, raw=raw, summary=True)
        peak = tracemalloc.get_traced_memory()[1]  # (the bytes read are the caller's: not traced)
    finally:
        tracemalloc.stop()
    images = text.count("\nsvc") + 1
    assert done.result.refs == [] and done.tally is not None
    assert (done.tally.edited, done.tally.unedited, done.tally.skipped) == (images, 0, [])
    assert done.text == rewrite_text(text, "values.yaml", SETTINGS).text
    assert peak < SUMMARY_BOUND * len(text), f"peak {peak / len(text):.1f}x the file"
