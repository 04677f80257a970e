"""``imagemirror.pin``: the pure core -- which form each reference is pinned in, byte-exact
edits verified by re-parsing, idempotence, and a revert that removes exactly the pins it wrote."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from imagemirror.config import Settings
from imagemirror.errors import FileError
from imagemirror.pin import (
    DIGEST_KEY,
    INSERT_DIGEST,
    STRING,
    TAG,
    pin_candidates,
    pin_text,
    revert_text,
)

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SETTINGS = Settings(registry=REG)
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def pin_all(text: str, digest: str = A, **kw):
    cands = pin_candidates(text, "values.yaml", SETTINGS, **kw)
    return pin_text(text, "values.yaml", SETTINGS, {c.lookup: digest for c in cands if c.lookup}, **kw)


def test_each_form():
    text = f"""\
web:
  image: {REG}/docker-hub/library/nginx:1.25
redis:
  image:
    registry: {REG}
    repository: docker-hub/bitnami/redis
    tag: "7.2.4"
app:
  image:
    repository: {REG}/quay/team/app
    tag: v1
ingress:
  image:
    registry: {REG}
    image: k8s/ingress-nginx/controller
    tag: v1.9.4
    digest: ""
kps:
  image:
    registry: {REG}
    repository: quay/prometheus/prometheus
    tag: v2
    sha: ""
"""
    forms = {c.path: c.form for c in pin_candidates(text, "values.yaml", SETTINGS)}
    assert forms == {
        "web.image": STRING,
        "redis.image": INSERT_DIGEST,
        "app.image": TAG,
        "ingress.image": DIGEST_KEY,
        "kps.image": DIGEST_KEY,
    }
    done = pin_all(text)
    assert done.text == text.replace("nginx:1.25\n", f"nginx:1.25@{A}  # imagemirror: pinned\n").replace(
        '    tag: "7.2.4"\n', f'    tag: "7.2.4"\n    digest: {A}  # imagemirror: pinned (added)\n'
    ).replace("tag: v1\n", f"tag: v1@{A}  # imagemirror: pinned\n").replace(
        'digest: ""\n', f'digest: "{A}"  # imagemirror: pinned (was: "")\n'
    ).replace('sha: ""\n', f'sha: "{"a" * 64}"  # imagemirror: pinned (was: "")\n')  # kube-prometheus: bare hex
    assert len(done.pinned) == 5
    assert revert_text(done.text, "values.yaml").text == text


def test_pinning_twice_changes_nothing_and_a_moved_tag_repins():
    text = (
        f"image: {REG}/docker-hub/library/nginx:1.25\nother:\n  image:\n    repository: {REG}/quay/x/y\n    tag: '1'\n"
    )
    once = pin_all(text)
    twice = pin_all(once.text)
    assert not twice.changed and twice.text == once.text and len(twice.unchanged) == 2
    moved = pin_all(once.text, B)
    assert moved.changed and A not in moved.text and moved.text.count("# imagemirror: pinned") == 2
    assert [p.before for p in moved.pinned] == [A, A]
    assert revert_text(moved.text, "values.yaml").text == text  # the marker still says what was there


def test_cilium_stale_digest_is_repinned_and_revert_restores_it():
    text = f"""\
image:
  override: ~
  repository: "{REG}/quay/cilium/cilium"
  tag: "v1.18.4"
  pullPolicy: "IfNotPresent"
  # cilium-digest
  digest: "{C}"
  useDigest: true
"""
    (cand,) = pin_candidates(text, "values.yaml", SETTINGS)
    assert cand.current == C and cand.lookup == f"{REG}/quay/cilium/cilium:v1.18.4"
    done = pin_all(text)
    assert f'digest: "{A}"  # imagemirror: pinned (was: "{C}")\n' in done.text
    assert revert_text(done.text, "values.yaml").text == text


def test_revert_removes_only_its_own_pins():
    text = f"""\
mine:
  image: {REG}/docker-hub/library/nginx:1.25
theirs:
  image: {REG}/docker-hub/library/redis:7@{B}
noted:
  image: {REG}/docker-hub/library/redis:7   # a comment that mentions imagemirror: pinned later
"""
    done = pin_text(text, "v.yaml", SETTINGS, {f"{REG}/docker-hub/library/nginx:1.25": A})
    back = revert_text(done.text, "v.yaml")
    assert back.text == text
    assert [line for line, _ in back.reverted] == [2]
    assert revert_text(text, "v.yaml").text == text  # nothing of ours: nothing changes


def test_bytes_kept_crlf_bom_quotes_comments_anchors():
    text = (
        "\ufeff# top\r\n"
        f"base: &img '{REG}/docker-hub/library/nginx:1.25'  # shared\r\n"
        "a:\r\n  image: *img\r\n"
        "b:\r\n  image:\r\n"
        f"    registry: {REG}\r\n    repository: docker-hub/bitnamilegacy/redis\r\n    tag: 7.2.4\r\n"
    )
    done = pin_all(text)
    assert done.text == text.replace(
        "nginx:1.25'  # shared\r\n", f"nginx:1.25@{A}'  # shared # imagemirror: pinned\r\n"
    ).replace("    tag: 7.2.4\r\n", f"    tag: 7.2.4\r\n    digest: {A}  # imagemirror: pinned (added)\r\n")
    assert revert_text(done.text, "v.yaml").text == text


def test_last_line_without_newline_and_null_digests():
    text = (
        f"a:\n  image:\n    repository: {REG}/quay/x/y\n    tag: '1'\n    digest:\n"
        f"b:\n  image: {{repository: {REG}/quay/x/z, tag: '2', digest: ~}}\n"
        f"c:\n  image:\n    registry: {REG}\n    repository: docker-hub/bitnami/nginx\n    tag: '3'"
    )
    done = pin_all(text)
    assert f"    digest: {A}  # imagemirror: pinned (was:)\n" in done.text
    assert f'digest: "{A}"}}  # imagemirror: pinned (was: ~)\n' in done.text
    assert done.text.endswith(f"    tag: '3'\n    digest: {A}  # imagemirror: pinned (added)")
    assert revert_text(done.text, "v.yaml").text == text


def test_what_is_not_pinned_and_why():
    text = f"""\
up:
  image: docker.io/library/nginx:1.25
digest_only:
  image: {REG}/docker-hub/library/nginx@{A}
untagged:
  image:
    registry: {REG}
    repository: docker-hub/team/x
gcr:
  image: gcr.io/distroless/static:nonroot
"""
    cands = {c.path: c for c in pin_candidates(text, "values.yaml", SETTINGS)}
    assert "rewrite" in cands["up.image"].skip
    assert cands["digest_only.image"].skip == "pinned by digest only"
    assert cands["untagged.image"].skip == "no tag to resolve"  # never pins an implicit :latest
    assert "gcr.image" not in cands  # no rule: not on the cache, nothing to resolve
    assert not pin_all(text).changed


def test_shared_scalar_needing_two_digests_is_left_alone():
    text = f"""\
tag: &t "1"
a:
  image: {{repository: {REG}/quay/x/a, tag: *t}}
b:
  image: {{repository: {REG}/quay/x/b, tag: *t}}
"""
    done = pin_text(text, "v.yaml", SETTINGS, {f"{REG}/quay/x/a:1": A, f"{REG}/quay/x/b:1": B})
    assert not done.changed
    assert any("shares a scalar" in n for n in done.notes)


def test_chart_known_to_read_digest_gets_a_digest_key():
    text = f"image:\n  registry: {REG}\n  repository: docker-hub/team/app\n  tag: '1'\n"
    assert pin_candidates(text, "v.yaml", SETTINGS)[0].form == TAG
    assert pin_candidates(text, "v.yaml", SETTINGS, digest_keys={"image"})[0].form == INSERT_DIGEST


def test_invalid_yaml_is_a_file_error_with_position():
    with pytest.raises(FileError) as err:
        pin_text("a: [1\n", "bad.yaml", SETTINGS, {})
    assert err.value.line is not None


def test_a_digest_that_is_not_sha256_is_refused():
    text = f"image: {REG}/docker-hub/library/nginx:1.25\n"
    with pytest.raises(ValueError):
        pin_text(text, "v.yaml", SETTINGS, {f"{REG}/docker-hub/library/nginx:1.25": "sha256:xyz\n#"})


_COMMENT = st.sampled_from(["", "  # c", " # renovate: x", "   "])
_QUOTE = st.sampled_from(["", "'", '"'])


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["string", "tag", "bitnami", "digest"]), _QUOTE, _COMMENT, st.booleans()),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_pin_then_revert_is_byte_exact(items, eol):
    """Any mix of forms, quotes, trailing comments and spaces, line endings: pin changes only the
    digest-bearing scalars (verified by re-parsing inside pin_text), twice is once, revert is exact."""
    lines = []
    for i, (form, q, comment, pinned) in enumerate(items):
        suffix = f"@{C}" if pinned else ""
        lines.append(f"s{i}:")
        if form == "string":
            lines.append(f"  image: {q}{REG}/docker-hub/team/a{i}:1{suffix}{q}{comment}")
        elif form == "tag":
            lines += ["  image:", f"    repository: {REG}/quay/team/t{i}", f"    tag: {q}v{i}{suffix}{q}{comment}"]
        elif form == "bitnami":
            lines += [
                "  image:",
                f"    registry: {REG}",
                f"    repository: docker-hub/bitnami/b{i}",
                f"    tag: {q}{i}.0{q}{comment}",
            ]
        else:
            lines += [
                "  image:",
                f"    repository: {REG}/quay/cilium/c{i}",
                f"    tag: {q}v{i}{q}",
                f"    digest: {q}{C if pinned else ''}{q}{comment}",
                "    useDigest: true",
            ]
    text = eol.join(lines) + eol
    done = pin_all(text)
    assert done.changed
    assert pin_all(done.text).text == done.text
    assert revert_text(done.text, "v.yaml").text == text


def test_a_key_to_add_in_a_list_item_is_left_with_a_note():
    text = (
        f"initContainers:\n  - name: x\n    image:\n      registry: {REG}\n"
        f"      repository: docker-hub/bitnami/os-shell\n      tag: '12'\n"
    )
    done = pin_all(text)
    assert not done.changed and any("in a list" in n for n in done.notes)
