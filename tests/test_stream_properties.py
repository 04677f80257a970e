"""The streaming reader of large values files (``walker.stream_values``, issue 14) against the
whole-tree reader, by hypothesis: the same sites, the same records, notes and planned edits,
the same rewritten text (or the same error).

Texts come from ``tests/strategies.py`` (every shape the byte-exact properties use) and from
:func:`entries` below: many top-level entries the way a large values file has them -- image
maps and strings, anchors on root scalars and inside entries with aliases from later
entries (some shared with a non-image key), merge keys, ``global`` (with ``imageRegistry`` or
``image.registry``) anywhere among the entries, root registry keys, flow entries and a flow
root, several documents, a sequence or scalar document.  ``inventory.STREAM_FROM`` is set to
0 for the streaming side (in use, it only reads texts of 1 MiB and more) and out of reach for
the whole side; the walker's sites are compared in both of the stream's modes (two passes,
and one for a text without anchors).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from imagemirror import inventory, sources
from imagemirror.config import parse_settings
from imagemirror.errors import FileError
from imagemirror.rewrite import rewrite_text, skipped_line
from imagemirror.rules import AMBIGUOUS, INVALID, MIRRORED, UNMIRRORED
from imagemirror.walker import YAMLSyntaxError, compose_text, find_sites, stream_values

from strategies import documents

FILE = "values.yaml"
SETTINGS = parse_settings(
    {
        "registry": "123456789012.dkr.ecr.af-south-1.amazonaws.com",
        "rules": {"docker.io": "docker-hub", "quay.io": "quay", "ghcr.io": "github"},
    }
)


@contextlib.contextmanager
def stream_from(size: int):
    was = inventory.STREAM_FROM
    inventory.STREAM_FROM = size
    try:
        yield
    finally:
        inventory.STREAM_FROM = was


def outcome(text: str, settings=SETTINGS, revert: bool = False):
    """Everything a run of the core on ``text`` gives: records, notes, edits, the new text."""
    body = text.lstrip("\ufeff")
    try:
        analysis = inventory.analyse(body, FILE, settings, revert)
        planned = (
            analysis.refs,
            analysis.notes,
            sorted((node.start, value) for node, value in analysis.edits.values()),
            analysis.bitnami_relocated,
        )
    except YAMLSyntaxError as exc:
        planned = ("error", exc.message, exc.line, exc.column)
    try:
        done = rewrite_text(text, FILE, settings, revert=revert)
        written = (done.text, done.changed, done.result.refs, done.result.notes)
    except FileError as exc:
        written = ("error", str(exc))
    return planned, written


def report(text: str, settings=SETTINGS, revert: bool = False, summary: bool = False):
    """What ``rewrite`` reports of ``text``: the new text, the notes, how many references it
    edits, those it leaves for review -- from the records, or counted (``summary``)."""
    try:
        done = rewrite_text(text, FILE, settings, revert=revert, summary=summary)
    except FileError as exc:
        return ("error", str(exc))
    wanted = MIRRORED if revert else UNMIRRORED
    refs = done.result.refs
    edited = sum(1 for r in refs if r.status == wanted and r.target) - done.unedited
    skipped = [skipped_line(r) for r in refs if r.status in (AMBIGUOUS, INVALID)]
    if summary and done.tally is not None:
        assert not refs  # counted, not kept
        edited += done.tally.edited
        skipped += done.tally.skipped
    return done.text, done.changed, done.result.notes, edited, skipped


def same_both_ways(text: str, settings=SETTINGS, revert: bool = False) -> None:
    with stream_from(1 << 62):
        whole = outcome(text, settings, revert)
        whole_report = report(text, settings, revert)
    with stream_from(0):
        streamed = outcome(text, settings, revert)
        counted = report(text, settings, revert, summary=True)
    assert streamed == whole
    assert counted == whole_report  # rewrite's summary of a large file: counted as the records are made


def site_view(sites) -> list:
    return [
        (
            s.path,
            s.kind,
            s.written(),
            s.ambiguous,
            s.key_line,
            sorted(s.lines),
            [(p.node.start, p.role, p.shared, p.key) for p in s.names],
            None if s.tag is None else (s.tag.node.start, s.tag.key),
            None if s.digest is None else (s.digest.node.start, s.digest.key),
        )
        for s in sites
    ]


def same_sites(text: str) -> bool:
    """The walker's sites both ways (in two passes, and in one when the text allows it); True
    when the text was streamed."""
    accept = lambda probe: sources.kind_of(probe, FILE) == "values"  # noqa: E731
    streamed = stream_values(text, accept, once=False)
    once = stream_values(text, accept, once=True)
    if streamed is None and once is None:
        return False
    docs, _pure = compose_text(text)
    whole = site_view(find_sites(docs))
    for result in (streamed, once):
        if result is not None:
            assert site_view(result[1]) == whole
    return True


# --------------------------------------------------------------------------- a large values file's shapes

_HOSTS = ["docker.io", "quay.io", "ghcr.io", "registry.example.com"]


@st.composite
def entries(draw) -> str:
    """A values text of many top-level entries (see the module documentation)."""
    n = draw(st.integers(1, 12))
    anchors: list[str] = []  # names defined so far in this document
    out: list[str] = []
    flow_root = draw(st.integers(0, 9)) == 0
    if flow_root:
        items = []
        for i in range(n):
            host = draw(st.sampled_from(_HOSTS))
            items.append(f"e{i}: {{image: '{host}/org/app{i}:1.{i}'}}")
        return "{" + ", ".join(items) + "}\n"
    docs = draw(st.integers(1, 3))
    for d in range(docs):
        anchors = []
        if d:
            out.append(draw(st.sampled_from(["---\n", "...\n---\n"])))
            if draw(st.integers(0, 6)) == 0:
                out.append(draw(st.sampled_from(["- image: docker.io/a/b:1\n", "just a scalar\n", "~\n"])))
                continue
        for i in range(n):
            kind = draw(st.integers(0, 13))
            host = draw(st.sampled_from(_HOSTS))
            q = draw(st.sampled_from(["", "'", '"']))
            name = f"k{d}_{i}"
            if kind == 0:
                out.append(
                    f"{name}:\n  image:\n    registry: {q}{host}{q}\n    repository: org/app{i}\n    tag: '1.{i}'\n"
                )
            elif kind == 1:
                out.append(f"{name}:\n  image: {q}{host}/org/app{i}:2.{i}{q}\n  replicas: {i}\n")
            elif kind == 2:  # an anchored root scalar (maybe aliased later, by an image or not)
                a = f"h{d}{i}"
                anchors.append(a)
                out.append(f"{name}: &{a} {host}\n")
            elif kind == 3 and anchors:
                a = draw(st.sampled_from(anchors))
                key = draw(st.sampled_from(["registry", "domainFilter"]))
                out.append(f"{name}:\n  image:\n    {key}: *{a}\n    repository: org/aliased{i}\n    tag: v{i}\n")
            elif kind == 4:  # an anchored map inside an entry, merged or aliased later
                a = f"m{d}{i}"
                anchors.append(a)
                out.append(f"{name}:\n  base: &{a}\n    registry: {host}\n    repository: org/base{i}\n    tag: b{i}\n")
            elif kind == 5 and anchors:
                a = draw(st.sampled_from(anchors))
                form = draw(st.sampled_from(["merge", "alias"]))
                if form == "merge":
                    out.append(f"{name}:\n  image:\n    <<: *{a}\n    tag: merged{i}\n")
                else:
                    out.append(f"{name}:\n  image: *{a}\n")
            elif kind == 6:
                g = draw(
                    st.sampled_from(
                        [
                            f"global:\n  imageRegistry: {host}\n",
                            f"global:\n  image:\n    registry: {host}\n",
                            "global:\n  security:\n    allowInsecureImages: false\n",
                            "global:\n",
                            "global: {imageRegistry: docker.io}\n",
                        ]
                    )
                )
                out.append(g)
            elif kind == 7:
                out.append(
                    draw(
                        st.sampled_from(
                            [
                                f"imageRegistry: {host}\n",
                                f"imageNamespace: ns{i}\n",
                                f"defaultImageRegistry: {host}\n",
                                f"image: {host}/root/app:{i}\n",
                                f"repository: org/root{i}\n",
                                f"tag: r{i}\n",
                                f"registry: {host}\n",
                                f"name: root{i}\n",
                            ]
                        )
                    )
                )
            elif kind == 8:
                out.append(f"{name}: {{image: {{registry: {host}, repository: org/flow{i}, tag: f{i}}}, x: [1, 2]}}\n")
            elif kind == 9:
                out.append(
                    f"{name}:\n  containers:\n    - name: c{i}\n      image: {host}/org/c{i}:3\n"
                    f'    - {{name: d{i}, image: "{host}/org/d{i}:4"}}\n'
                )
            elif kind == 10:  # cert-manager / strimzi shapes: a registry an ancestor gives
                out.append(
                    f"{name}:\n  imageRegistry: {host}\n  sub:\n    image:\n      name: tool{i}\n      tag: t{i}\n"
                )
            elif kind == 11:
                out.append(f"{name}:\n  image:\n    name: sub{i}\n    tag: s{i}\n")
            elif kind == 12:
                out.append(f"# a comment\n{name}: plain value {i}\n\n")
            else:
                out.append(f"{name}: []\n")
    return "".join(out)


@given(entries())
def test_streamed_sites_are_the_whole_trees(text: str):
    note(text)
    try:
        same_sites(text)
    except YAMLSyntaxError:
        pass


@given(entries())
def test_streamed_rewrite_is_the_whole_trees(text: str):
    note(text)
    same_both_ways(text)


@given(entries())
def test_streamed_revert_is_the_whole_trees(text: str):
    note(text)
    with stream_from(1 << 62):
        forward = outcome(text)[1]
    if forward[0] != "error":
        same_both_ways(forward[0], revert=True)


@given(documents())
def test_streamed_generated_documents_are_the_whole_trees(doc):
    note(doc.text)
    same_both_ways(doc.text, parse_settings(doc.cfg.data()))


# --------------------------------------------------------------------------- when the stream is used


@pytest.mark.parametrize(
    "text",
    [
        "a:\n  image: docker.io/x/y:1\nhub: &h docker.io\nb:\n  image:\n    registry: *h\n    repository: x/z\n",
        "b:\n  image:\n    repository: x/z\nglobal:\n  imageRegistry: quay.io\n",
        "a: {image: 'docker.io/x/y:1'}\n---\nb:\n  image: quay.io/x/y:2\n---\n",
        "{a: {image: 'docker.io/x/y:1'}}\n",
        "base: &b {registry: docker.io, repository: x/y}\nweb:\n  image:\n    <<: *b\n    tag: '1'\n",
    ],
)
def test_plain_values_are_streamed(text: str):
    assert same_sites(text)
    same_both_ways(text)


@pytest.mark.parametrize(
    "text, file",
    [
        ("apiVersion: apps/v1\nkind: Deployment\nspec: {}\n", FILE),
        ("resources: [a.yaml]\nimages: []\n", "kustomization.yaml"),
        ("releases:\n  - name: a\n    chart: b/c\nrepositories: []\n", FILE),
        ("- image: docker.io/x/y:1\n", FILE),
        ("&root a:\n  b: *root\n", FILE),
        ("<<: {a: 1}\nb: 2\n", FILE),
        ("a: &x 1\nb: *x\n", FILE),
        ("global: {imageRegistry: &r quay.io}\nb: *r\n", FILE),
        ("? [a, b]\n: c\n", FILE),
        ("a: *undefined\n", FILE),
    ],
)
def test_other_shapes_are_read_whole(text: str, file: str):
    assert stream_values(text, lambda probe: sources.kind_of(probe, file) == "values") is None
    same_both_ways(text)
