"""Failing examples hypothesis found (tests/test_properties.py), kept as explicit cases.

Each case is the shrunk example, written out by hand so it reads without the generator.
Each was an open bug (kept as ``xfail(strict=True)`` until fixed); all are fixed now.
"""

from __future__ import annotations

import pytest

from imagemirror.config import parse_settings
from imagemirror.inventory import scan_text
from imagemirror.rewrite import rewrite_text

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": ECR})
LOCAL = parse_settings({"registry": "localhost:5000"})


def refs(text, settings=SETTINGS):
    result = scan_text(text, "values.yaml", settings)
    assert result.error is None, result.error
    return result.refs


# --------------------------------------------------------------------------- found, then fixed

DOTTED_NAMESPACE = "image:\n  registry: docker.io\n  repository: my.org/app\n  tag: v1\n"


def test_registry_key_wins_over_a_dotted_first_component():
    (ref,) = refs(DOTTED_NAMESPACE)
    assert ref.upstream == "docker.io/my.org/app:v1"


def test_revert_of_a_dotted_namespace_reads_back_as_its_upstream():
    mirrored = f"image:\n  registry: {ECR}\n  repository: docker-hub/my.org/app\n  tag: v1\n"
    back = rewrite_text(mirrored, "values.yaml", SETTINGS, revert=True).text
    (ref,) = refs(back)
    assert (ref.status, ref.upstream) == ("unmirrored", "docker.io/my.org/app:v1")


def test_control_character_error_names_line_and_column():
    result = scan_text("a: 1\nb: x\x01y\n", "values.yaml", SETTINGS)
    assert result.error is not None
    assert (result.error.line, result.error.column) == (2, 5)


@pytest.mark.parametrize("tag", ["vé", "v\u0661", "v\u00b2", "名"])
def test_non_ascii_tag_is_an_invalid_reference_not_a_file_error(tag):
    text = f"a:\n  image: nginx:{tag}\nb:\n  image: quay.io/x/y:1\n"
    (bad, good) = refs(text)
    assert bad.status == "invalid"
    done = rewrite_text(text, "values.yaml", SETTINGS)  # the other image is still rewritten
    assert f"{ECR}/quay/x/y:1" in done.text and f"nginx:{tag}" in done.text


def test_non_ascii_tag_is_never_written():
    """Whatever the classification, the defence in depth holds: nothing non-ASCII is written."""
    from imagemirror.errors import FileError

    try:
        done = rewrite_text("a:\n  image: nginx:vé\n", "values.yaml", SETTINGS)
    except FileError as exc:
        assert "refusing to write" in str(exc)
    else:
        assert ECR not in done.text


# Found by test_any_registry_setting_is_refused_or_written_exactly: host names with empty or
# dash-edged labels were accepted, and string images were then written onto a host no
# reference can name. Fixed in config._HOST.
@pytest.mark.parametrize("host", ["0..0", "a.-b.com", "reg-.example.com", "a..b:5000"])
def test_settings_refuse_a_registry_that_is_not_a_host_name(host):
    from imagemirror.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_settings({"registry": host})


# --------------------------------------------------------------------------- fixed / by design


def test_dotted_namespace_is_never_rewritten_to_a_wrong_target():
    """Whatever the walker decides, the one thing that must hold: no wrong image is written."""
    done = rewrite_text(DOTTED_NAMESPACE, "values.yaml", SETTINGS)
    assert done.text in (
        DOTTED_NAMESPACE,
        DOTTED_NAMESPACE.replace("docker.io", ECR).replace("my.org/app", "docker-hub/my.org/app"),
    )


def test_plain_host_port_in_a_flow_mapping_is_quoted():
    """``{registry: localhost:5000}`` only parses with YAML 1.2 parsers, not libyaml (nor Helm's):
    a rewrite writes it double-quoted, and from then on the scalar keeps its (new) quotes."""
    text = "image: {registry: docker.io, repository: library/nginx}\n"
    out = rewrite_text(text, "values.yaml", LOCAL).text
    assert out == 'image: {registry: "localhost:5000", repository: docker-hub/library/nginx}\n'
    assert rewrite_text(out, "values.yaml", LOCAL).changed is False
    back = rewrite_text(out, "values.yaml", LOCAL, revert=True).text
    assert back == 'image: {registry: "docker.io", repository: library/nginx}\n'
    assert rewrite_text(back, "values.yaml", LOCAL).text == out


def test_lone_word_outside_a_container_is_ambiguous_not_rewritten():
    """``image: nginx`` at top level may be composed by the chart (istio's ``image: pilot``)."""
    (ref,) = refs("image: nginx\n")
    assert ref.status == "ambiguous"
    assert rewrite_text("image: nginx\n", "values.yaml", SETTINGS).changed is False
    (ref,) = refs("containers:\n- name: x\n  image: nginx\n")
    assert ref.status == "unmirrored"


def test_templated_string_is_left_alone_by_revert():
    text = "image: '{{ .Values.image }}'\n"
    assert rewrite_text(text, "values.yaml", SETTINGS, revert=True).text == text
