"""Property-based tests of the byte-exact rewrite (hypothesis).

Documents come from ``tests/strategies.py``: values files with image references in every
supported shape, among comments, quote styles, flow and block collections, anchors,
aliases, merge keys, CRLF, a BOM, unicode and ``---`` markers.  The generator knows where
it put every image scalar and computes, on its own, what ``rewrite`` must put there; the
tests hold imagemirror's pure core (``rewrite_text``, ``scan_text``) to that.

Budget: the ``ci`` profile (``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) runs
``CI_EXAMPLES`` examples per property (>= 10,000 in total); the default profile is small for
local runs.  Failures hypothesis finds are kept in ``tests/regressions/`` and as
``@example`` cases below.
"""

from __future__ import annotations

import re

from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from imagemirror.config import parse_settings
from imagemirror.inventory import scan_text
from imagemirror.rewrite import rewrite_text

from strategies import Document, Slot, documents, upstream_text

FILE = "values.yaml"
_settings_cache: dict = {}


def settings_of(doc: Document):
    key = repr(doc.cfg)
    if key not in _settings_cache:
        _settings_cache[key] = parse_settings(doc.cfg.data())
    return _settings_cache[key]


def rewrite(doc: Document, text: str, revert: bool = False):
    return rewrite_text(text, FILE, settings_of(doc), revert=revert)


def show(doc: Document) -> None:
    note(f"settings: {doc.cfg}")
    note("text:\n" + doc.text)
    note("expected:\n" + doc.expected)
    note("sites: " + repr([(s.shape, s.kind, s.path, s.ref.written()) for s in doc.sites]))


def load_all(text: str) -> list:
    """Documents as plain data (ruamel's pure parser reads all of YAML 1.2)."""
    return list(YAML(typ="safe", pure=True).load_all(text.lstrip("\ufeff")))


def refs_at(result, doc: Document, expected: bool) -> dict:
    """Each site -> the references reported at its path and position."""
    by_place: dict = {}
    for ref in result.refs:
        by_place.setdefault((ref.path, ref.line, ref.column), []).append(ref)
    return {id(site): by_place.get((site.path, *doc.position(site, expected)), []) for site in doc.sites}


def diff_paths(a, b, path: str = "") -> set[str]:
    """Leaf paths (``a.b[0].c``) where two plain data trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for k in a.keys() | b.keys():
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.add(sub)
            else:
                out |= diff_paths(a[k], b[k], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = set()
        for i, (x, y) in enumerate(zip(a, b)):
            out |= diff_paths(x, y, f"{path}[{i}]")
        return out
    return set() if a == b and type(a) is type(b) else {path}


def shape_regex(doc: Document) -> re.Pattern:
    """The document with every image scalar a wildcard: bytes outside them must match."""
    out = ["\ufeff" if doc.bom else ""]
    for p in doc.parts:
        if isinstance(p, Slot) and p.may_change:
            out.append(r"(['\"]?[^\s'\",\[\]{}#]+['\"]?)")
        elif isinstance(p, Slot):
            out.append(re.escape(p.original_text))
        else:
            out.append(re.escape(p.replace("\n", "\r\n") if doc.crlf else p))
    return re.compile("".join(out), re.DOTALL)


# ------------------------------------------------------------------------------ properties


@given(documents())
def test_bytes_outside_image_scalars_unchanged(doc: Document):
    """The rewrite equals the independently computed expected text, byte for byte."""
    show(doc)
    done = rewrite(doc, doc.text)
    assert done.text == doc.expected
    assert done.changed == (doc.changes > 0)


@given(documents())
def test_reparsed_document_equal_except_rewritten_paths(doc: Document):
    show(doc)
    out = rewrite(doc, doc.text).text
    before, after = load_all(doc.text), load_all(out)
    assert len(before) == len(after)
    allowed: set[str] = set()
    for i, site in enumerate(doc.sites):
        if site.kind != "unmirrored":
            continue
        for base in [site.path] + doc.alias_paths.get(i, []):
            prefix = f"[{site.doc}]{base}"
            allowed |= {prefix, f"{prefix}.registry", f"{prefix}.repository", f"{prefix}.image"}
    changed: set[str] = set()
    for d, (x, y) in enumerate(zip(before, after)):
        changed |= {f"[{d}]{p}" for p in diff_paths(x, y)}
    assert changed <= allowed, changed - allowed
    assert after == load_all(doc.expected)


@given(documents())
def test_rewrite_is_idempotent(doc: Document):
    show(doc)
    once = rewrite(doc, doc.text).text
    twice = rewrite(doc, once)
    assert twice.text == once
    assert not twice.changed


@given(documents())
def test_list_reports_each_site_where_it_is(doc: Document):
    """``list`` finds every generated site, at its line/column, with the right status and upstream."""
    show(doc)
    result = scan_text(doc.text, FILE, settings_of(doc))
    assert result.error is None, result.error
    found_at = refs_at(result, doc, expected=False)
    for site in doc.sites:
        found = found_at[id(site)]
        assert found, (
            f"no reference reported at {site.path} {doc.position(site)}; "
            f"got {[(r.path, r.line, r.column) for r in result.refs]}"
        )
        statuses = {r.status for r in found}
        assert statuses == {site.kind}, (site.path, statuses, site.kind)
        if site.kind in ("unmirrored", "no-rule", "mirrored") and site.ref.host != doc.cfg.registry:
            assert {r.upstream for r in found} == {upstream_text(site.ref, doc.cfg)}


@given(documents())
def test_after_rewrite_every_reference_with_a_rule_is_mirrored(doc: Document):
    show(doc)
    out = rewrite(doc, doc.text).text
    result = scan_text(out, FILE, settings_of(doc))
    assert result.error is None, result.error
    assert not [r for r in result.refs if r.status == "unmirrored"]
    found_at = refs_at(result, doc, expected=True)
    for site in doc.sites:
        want = "mirrored" if site.kind == "unmirrored" else site.kind
        got = {r.status for r in found_at[id(site)]}
        assert got == {want}, (site.path, got, want)


@given(documents())
def test_revert_restores_the_upstream_references(doc: Document):
    show(doc)
    out = rewrite(doc, doc.text).text
    back = rewrite(doc, out, revert=True).text
    note("reverted:\n" + back)
    # only image scalars differ from the original
    assert shape_regex(doc).fullmatch(back), "revert changed bytes outside image scalars"
    result = scan_text(back, FILE, settings_of(doc))
    assert result.error is None, result.error
    refs = {(r.path, r.line): r for r in result.refs}
    for site in doc.sites:
        if site.kind not in ("unmirrored", "mirrored"):
            continue
        ref = refs.get((site.path, doc.position(site)[0]))
        assert ref is not None and ref.status == "unmirrored", (site.path, ref)
        if site.kind == "unmirrored":
            assert ref.upstream == upstream_text(site.ref, doc.cfg)
    # and forward again lands on the same references as the first rewrite (the same bytes,
    # but for quotes a plain ``host:port`` in a flow collection gains)
    again = rewrite(doc, back).text
    assert shape_regex(doc).fullmatch(again)
    first = scan_text(out, FILE, settings_of(doc))
    second = scan_text(again, FILE, settings_of(doc))
    assert [(r.path, r.line, r.status, r.upstream) for r in first.refs] == [
        (r.path, r.line, r.status, r.upstream) for r in second.refs
    ]


@settings(max_examples=max(10, settings.default.max_examples // 6))
@given(doc=documents(), mode=st.sampled_from([0o644, 0o600, 0o664, 0o755]))
def test_rewrite_command_writes_exactly_the_expected_bytes(doc: Document, mode: int):
    """Through the files layer (read bytes, decode once, atomic write): the file on disk ends
    with exactly the expected bytes -- BOM, CRLF and a missing final newline included -- and
    keeps its mode; nothing else appears in the folder."""
    import json
    import os
    import stat
    import tempfile
    from pathlib import Path

    from imagemirror.commands.rewrite import rewrite_files

    show(doc)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        (root / ".imagemirror.yaml").write_text(json.dumps(doc.cfg.data()))
        target = root / "values.yaml"
        target.write_bytes(doc.text.encode("utf-8"))
        os.chmod(target, mode)
        from imagemirror.commands.check import check_paths

        # the CI gate agrees: it fails before (when a reference has a rule), passes after
        unmirrored = any(site.kind == "unmirrored" for site in doc.sites)
        assert check_paths([target], jobs=1, fmt="json", color=False, env={}) == (1 if unmirrored else 0)
        code = rewrite_files([target], jobs=1)
        assert code == 0
        assert target.read_bytes() == doc.expected.encode("utf-8")
        assert check_paths([target], jobs=1, fmt="json", color=False, env={}) == 0
        assert stat.S_IMODE(target.stat().st_mode) == mode
        assert sorted(p.name for p in root.iterdir()) == [".git", ".imagemirror.yaml", "values.yaml"]


# ------------------------------------------------------------------ references vs. the grammar

_ORACLE = re.compile(
    r"(?P<name>(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?\Z",
    re.ASCII,
)


def oracle_valid(s: str) -> bool:
    """distribution/reference's ReferenceRegexp (Go's RE2: ``\\w`` is ASCII), normalize.go's rule
    that a first component with ``.``/``:`` or ``localhost`` is the domain, and digest.Parse's
    check that a sha256 digest is 64 lower-case hex digits."""
    m = _ORACLE.match(s)
    if not m:
        return False
    first, sep, _ = m.group("name").partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        # normalize.go's splitDockerDomain: such a first component *is* the domain
        if not re.fullmatch(
            r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?",
            first,
        ):
            return False
    digest = m.group("digest")
    if digest and digest.startswith("sha256:") and not re.fullmatch(r"[a-f0-9]{64}", digest[7:]):
        return False
    return len(m.group("name")) <= 255


_REF_CHARS = st.sampled_from(
    list("abcxyz019._-/:@")
    + ["sha256:" + "a" * 64, "sha256:" + "A" * 64, "é", "\u0661", ":V1", "__", "--", "localhost", "docker.io/"]
)


@given(st.lists(_REF_CHARS, min_size=1, max_size=12).map("".join))
def test_reference_parse_agrees_with_the_distribution_grammar(text: str):
    from imagemirror.reference import InvalidReference, parse

    try:
        ref = parse(text)
        ok = True
    except InvalidReference:
        ok = False
    assert ok == oracle_valid(text), (text, ok)
    if ok:
        assert parse(str(ref)) == ref  # normal form is stable


# ------------------------------------------------------------------ smuggling through settings

_SMUGGLE = (
    "a:\n  image: quay.io/x/y:1  # keep\nb:\n  image:\n    registry: docker.io\n    repository: library/nginx\nc: [1]\n"
)


@given(
    st.one_of(
        st.text(max_size=30),
        st.text(alphabet="ab.-:0123456789\n\r\t #'\"{}[],&*!|>%@`\\/", max_size=30),
        st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?", fullmatch=True),  # mostly hosts
    )
)
def test_any_registry_setting_is_refused_or_written_exactly(value: str):
    """A registry value from anywhere is either refused by the settings check, or what the
    rewrite writes re-parses to exactly the intended references with the document intact."""
    from imagemirror.errors import ConfigError

    try:
        settings = parse_settings({"registry": value})
    except ConfigError:
        return
    label = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
    assert re.fullmatch(rf"{label}(?:\.{label})*(?::[0-9]+)?", settings.registry), settings.registry
    # a cache registry that is itself an upstream (``index.docker.io``) is a misconfiguration the
    # settings check lets through; its images are not rewritten, so the expectation differs
    from imagemirror.reference import canonical_host

    assume(canonical_host(settings.registry) not in settings.rules)
    out = rewrite_text(_SMUGGLE, FILE, settings).text
    data = YAML(typ="safe", pure=True).load(out)
    reg = settings.registry
    assert data == {
        "a": {"image": f"{reg}/quay/x/y:1"},
        "b": {"image": {"registry": reg, "repository": "docker-hub/library/nginx"}},
        "c": [1],
    }
    assert out.count("# keep") == 1 and out.endswith("c: [1]\n")


# ------------------------------------------------------------------ issue 14: hostile input

HOSTILE_SETTINGS = parse_settings({"registry": "123456789012.dkr.ecr.af-south-1.amazonaws.com"})


@given(
    st.text(alphabet="0123456789+-._eExXoObB", min_size=1, max_size=24)
    | st.sampled_from(["yes", "No", "on", "OFF", "y", "n", "true", "1.10", "1e+06", "-0"])
)
def test_what_helm_renders_renders_as_itself(value: str):
    """A plain scalar Helm reads as a number or a boolean prints as a form that Helm reads
    back as the same value (so a listed tag is stable, negative zero aside), and nothing raises."""
    from imagemirror.walker import helm_plain, helm_value

    rendered = helm_plain(value)
    if rendered is None:
        return
    assert helm_value(rendered) == helm_value(value), (value, rendered)
    if rendered == "-0":
        # The one exception, as real Helm prints it (tests/test_render.py): the float ``-0.``
        # prints ``-0``, which YAML reads back as the integer 0, printed ``0``.
        assert helm_plain(rendered) == "0"
        return
    assert helm_plain(rendered) == rendered, (value, rendered)


@given(
    header=st.sampled_from(["|", "|-", "|+", ">", ">-", ">+", "|2-", "|-  # note"]),
    tail=st.sampled_from(["", "\n", "\n\n"]),
    eol=st.sampled_from(["\n", "\r\n"]),
    indent=st.integers(1, 6),
    ref=st.sampled_from(["nginx:1.25", "quay.io/a/b:v1", "grafana/loki@sha256:" + "a" * 64, "ghcr.io/x/y"]),
    key=st.sampled_from(["image", "sidecarImage", "init_image"]),
)
def test_one_word_block_scalars_rewrite_byte_exactly(header, tail, eol, indent, ref, key):
    """``image: |-`` holding one reference: found, and the rewrite changes that word only."""
    from imagemirror.reference import parse

    if header.startswith("|2") and indent != 2:
        indent = 2
    pad = " " * indent
    text = f"a: 1{eol}{key}: {header}{eol}{pad}{ref}{eol}{tail.replace(chr(10), eol)}b: 2{eol}"
    found = scan_text(text, FILE, HOSTILE_SETTINGS).refs
    assert [r.written for r in found] == [ref]
    done = rewrite_text(text, FILE, HOSTILE_SETTINGS)
    target = found[0].target
    assert target is not None and parse(target).host == HOSTILE_SETTINGS.registry
    assert done.text == text.replace(f"{pad}{ref}{eol}", f"{pad}{target}{eol}", 1)
    assert [r.status for r in scan_text(done.text, FILE, HOSTILE_SETTINGS).refs] == ["mirrored"]


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(documents())
def test_effective_values_find_what_the_text_finds(doc: Document):
    """The chart-aware path reads values as plain data (each alias once) and walks them as the
    walker walks a file: the same references, anchors and aliases included."""
    from collections import Counter

    from imagemirror.charts.chart import ChartError, load_yaml
    from imagemirror.charts.effective import nodes_of
    from imagemirror.walker import compose_text, find_sites

    text = doc.text.lstrip("\ufeff")
    docs, _ = compose_text(text)
    assume(len(docs) == 1)
    try:
        data = load_yaml(text, FILE)
    except ChartError:
        return  # duplicate keys: Helm refuses them too
    from_text = Counter(s.written() for s in find_sites(docs) if "{{" not in s.written())
    from_data = Counter(s.written() for s in find_sites([nodes_of(data)]) if "{{" not in s.written())
    assert from_data == from_text
