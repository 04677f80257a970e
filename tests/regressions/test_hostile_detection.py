"""Detection defects found by peers' test cases (issue 12, item 6) and by hostile input (issue 14):
each case failed before its fix.

- a digest in ``tag`` (``tag: "sha256:<hex>"``, rendered ``repository@tag``) was invalid;
- strimzi's ``{registry, repository, name, tag}`` lost ``name``;
- NVIDIA's ``{repository: nvcr.io/nvidia, image: gpu-operator}`` without ``version`` was not found;
- an upper-case host (``Quay.io/...``) was invalid, so ``--deny quay.io`` passed it;
- a host with the HTTPS default port (``registry-1.docker.io:443/...``) was a host of its own,
  so ``--deny docker.io`` passed it;
- ``image: |-`` / ``image: >-`` holding one reference was not found (and so never rewritten);
- an unquoted tag YAML reads as a number (``tag: 1.10``) was listed as ``1.10``; Helm renders ``1.1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import skip_or_fail
from imagemirror.commands.check import build_report, canonical_deny, finding_for
from imagemirror.config import parse_settings
from imagemirror.inventory import scan_text
from imagemirror.rewrite import rewrite_text
from imagemirror.walker import compose, find_sites, parse_events

REPO = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": ECR})
HEX = "0123456789abcdef" * 4


def refs(text: str, settings=SETTINGS):
    result = scan_text(text, "values.yaml", settings)
    assert result.error is None, result.error
    return result.refs


def one(text: str, settings=SETTINGS):
    found = refs(text, settings)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ issue 12 item 6


def test_digest_in_tag_is_a_digest():
    ref = one(f'image:\n  registry: quay.io\n  repository: tekton/controller\n  tag: "sha256:{HEX}"\n')
    assert ref.status == "unmirrored"
    assert ref.written == f"quay.io/tekton/controller@sha256:{HEX}"
    assert ref.upstream == f"quay.io/tekton/controller@sha256:{HEX}"
    assert ref.target == f"{ECR}/quay/tekton/controller@sha256:{HEX}"


def test_digest_in_tag_rewrites_the_name_and_keeps_the_tag():
    text = f'image:\n  registry: quay.io\n  repository: tekton/controller\n  tag: "sha256:{HEX}"\n'
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert done.text == (f'image:\n  registry: {ECR}\n  repository: quay/tekton/controller\n  tag: "sha256:{HEX}"\n')


def test_strimzi_name_is_kept():
    text = "image:\n  registry: quay.io\n  repository: strimzi\n  name: operator\n  tag: 0.27.1\n"
    ref = one(text)
    assert ref.written == "quay.io/strimzi/operator:0.27.1"
    assert ref.target == f"{ECR}/quay/strimzi/operator:0.27.1"
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert done.text == f"image:\n  registry: {ECR}\n  repository: quay/strimzi\n  name: operator\n  tag: 0.27.1\n"
    again = one(done.text)
    assert again.status == "mirrored" and again.upstream == "quay.io/strimzi/operator:0.27.1"


def test_cert_manager_repository_override_still_ignores_name():
    # cert-manager: a set ``repository`` is taken whole; ``name`` composes only without it
    text = (
        "imageRegistry: quay.io\nimageNamespace: jetstack\n"
        "image:\n  registry: quay.io\n  repository: jetstack/cert-manager-controller\n"
        "  name: cert-manager-controller\n  tag: v1.16.0\n"
    )
    assert one(text).written == "quay.io/jetstack/cert-manager-controller:v1.16.0"


def test_nvidia_map_without_version_is_found_and_says_the_chart_gives_the_tag():
    ref = one("operator:\n  repository: nvcr.io/nvidia\n  image: gpu-operator\n")
    assert ref.written == "nvcr.io/nvidia/gpu-operator"
    assert ref.status == "no-rule"
    assert "appVersion" in (ref.hint or "")
    covered = parse_settings({"registry": ECR, "rules": {"nvcr.io": "nvidia"}})
    done = rewrite_text("operator:\n  repository: nvcr.io/nvidia\n  image: gpu-operator\n", "values.yaml", covered)
    assert done.text == f"operator:\n  repository: {ECR}/nvidia/nvidia\n  image: gpu-operator\n"


@pytest.mark.parametrize(
    "text",
    [
        "image: Quay.io/prometheus/node-exporter:v1.8.2\n",
        "image:\n  registry: QUAY.IO\n  repository: prometheus/node-exporter\n  tag: v1.8.2\n",
    ],
)
def test_upper_case_host_is_normalised_and_denied(text):
    ref = one(text)
    assert ref.status == "unmirrored"
    assert ref.upstream == "quay.io/prometheus/node-exporter:v1.8.2"
    finding = finding_for(ref, canonical_deny(["quay.io"]))
    assert finding is not None and finding.code == "IM002"


def test_upper_case_path_is_still_invalid():
    ref = one("image: quay.io/Prometheus/node-exporter:v1\n")
    assert ref.status == "invalid" and "lower case" in ref.hint


# ------------------------------------------------------------------ issue 14: default port


@pytest.mark.parametrize(
    "written, upstream",
    [
        ("registry-1.docker.io:443/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("index.docker.io:443/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("docker.io:443/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("quay.io:443/prometheus/node-exporter:v1", "quay.io/prometheus/node-exporter:v1"),
        ("Registry-1.Docker.IO:443/bitnami/redis:7", "docker.io/bitnami/redis:7"),
    ],
)
def test_default_port_is_the_host(written, upstream):
    ref = one(f"image: {written}\n")
    assert ref.status == "unmirrored" and ref.upstream == upstream
    host = upstream.split("/", 1)[0]
    for deny in (host, f"{host}:443"):
        finding = finding_for(ref, canonical_deny([deny]))
        assert finding is not None and finding.code == "IM002", deny
    done = rewrite_text(f"image: {written}\n", "values.yaml", SETTINGS)
    assert done.text.startswith(f"image: {ECR}/")


def test_default_port_in_rules_and_settings_deny():
    settings = parse_settings({"registry": ECR, "rules": {"quay.io:443": "quay"}, "deny": ["docker.io:443"]})
    assert settings.deny == ("docker.io",)
    assert one("image: quay.io/a/b:1\n", settings).target == f"{ECR}/quay/a/b:1"
    report = build_report(
        [scan_text("image: registry-1.docker.io:443/x/y:1\n", "v.yaml", settings)], frozenset(settings.deny)
    )
    assert [f.code for f in report.findings] == ["IM002"]


def test_another_port_is_another_registry():
    ref = one("image: quay.io:8443/a/b:1\n")
    assert ref.status == "no-rule" and ref.upstream == "quay.io:8443/a/b:1"


def test_the_cache_with_its_default_port_is_the_cache():
    ref = one(f"image: {ECR}:443/docker-hub/library/nginx:1\n")
    assert ref.status == "mirrored" and ref.upstream == "docker.io/library/nginx:1"


# ------------------------------------------------------------------ issue 14: block scalars


@pytest.mark.parametrize(
    "header, tail",
    [("|-", ""), (">-", ""), ("|", "\n"), (">", "\n"), ("|+", "\n\n"), ("|2-", ""), ("|-  # a comment", "")],
)
def test_one_word_block_scalar_is_found_and_rewritten_byte_exactly(header, tail):
    text = f"a: 1\nimage: {header}\n  nginx:1.25\n{tail}b: 2\n"
    ref = one(text)
    assert (ref.written, ref.status, ref.line, ref.column) == ("nginx:1.25", "unmirrored", 3, 3)
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert done.text == f"a: 1\nimage: {header}\n  {ECR}/docker-hub/library/nginx:1.25\n{tail}b: 2\n"
    assert one(done.text).status == "mirrored"


def test_block_scalar_map_parts_and_crlf():
    text = "image:\r\n  registry: >-\r\n    quay.io\r\n  repository: a/b\r\n  tag: '1'\r\n"
    assert one(text).written == "quay.io/a/b:1"
    done = rewrite_text(text, "values.yaml", SETTINGS)
    assert done.text == f"image:\r\n  registry: >-\r\n    {ECR}\r\n  repository: quay/a/b\r\n  tag: '1'\r\n"


def test_block_scalar_of_several_words_is_not_a_reference():
    assert refs("image: |-\n  nginx:1.25\n  more\n") == []
    assert refs("image: >-\n  nginx 1.25\n") == []


def test_block_scalar_is_found_by_plain_check(tmp_path):
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    (tmp_path / "values.yaml").write_text("image: |-\n  nginx:1.25\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "imagemirror", "check", "--format", "json", "values.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["IM001"]


# ------------------------------------------------------------------ issue 14: numeric tags


def test_numeric_tag_is_what_helm_renders_with_a_hint():
    text = "image:\n  registry: docker.io\n  repository: library/nginx\n  tag: 1.10\n"
    ref = one(text)
    assert ref.written == "docker.io/library/nginx:1.1"
    assert ref.upstream == "docker.io/library/nginx:1.1"
    assert ref.target == f"{ECR}/docker-hub/library/nginx:1.1"
    assert "quote it" in ref.hint and "1.1" in ref.hint
    finding = finding_for(ref)
    assert finding.code == "IM001" and "quote it" in finding.message


def test_numeric_tag_on_a_mirrored_image_is_a_finding():
    ref = one(f"image:\n  registry: {ECR}\n  repository: docker-hub/library/nginx\n  tag: 1.10\n")
    assert ref.status == "mirrored" and ref.written.endswith(":1.1")
    finding = finding_for(ref)
    assert finding is not None and finding.code == "IM010" and finding.level == "warning"
    assert finding_for(ref, strict=True).level == "error"
    assert (
        finding_for(one(f"image:\n  registry: {ECR}\n  repository: docker-hub/library/nginx\n  tag: '1.10'\n")) is None
    )


def test_warm_targets_what_helm_renders():
    from imagemirror.warm import targets_from_refs

    targets, problems = targets_from_refs(
        refs("image:\n  registry: docker.io\n  repository: library/nginx\n  tag: 1.10\n")
    )
    assert problems == [] and [str(t.ref) for t in targets] == [f"{ECR}/docker-hub/library/nginx:1.1"]


PLAIN_SCALARS = [
    "1.10",
    "10",
    "010",
    "0x1F",
    "1e3",
    "1_000",
    "1000000",
    "20240101",
    "1234567",
    "0.00001",
    "1.0",
    "+1",
    "-1",
    "0o17",
    "0b101",
    ".5",
    "1.",
    "yes",
    "on",
    "True",
    "Y",
    "n",
    "OFF",
    "1:20",
    "0.1e-7",
    "123456789012345678901234",
    "1.10.0",
    "v1.10",
    "3.14159265358979",
    "0777",
    "09",
    "1__0",
    "0.0",
    "-0.0",
    "0x_1F",
    "1E3",
    "00",
    "08.5",
    "2024-01-01",
    "0x",
    "-0b101",
    "+0x1F",
    "1e",
    "1.2e",
    "-.5",
    "+.5e2",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775808",
    "0x8000000000000000",
    "0x1FFFFFFFFFFFFFFFFF",
    "077777777777777777777777",
    "1_",
    "_1",
    "0b_1",
    "+",
    "+0",
    "12e-3",
    "0x1p-2",
    "1.5_0",
    "0o_7",
    "5e-324",
    "1.5e300",
]


def test_helm_plain_agrees_with_real_helm(tmp_path):
    """The oracle is Helm itself (Helm v4's SDK): a chart whose values hold every case and whose
    template prints each one as a tag would be printed."""
    from imagemirror.walker import helm_plain

    try:
        import helm_python
    except ImportError:
        skip_or_fail("helm-python-sdk (pip install 'imagemirror[helm]') is not installed")
    chart = tmp_path / "numbers"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: numbers\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("tags:\n" + "".join(f"  t{i}: {v}\n" for i, v in enumerate(PLAIN_SCALARS)))
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\ndata:\n"
        '{{- range $k, $v := .Values.tags }}\n  {{ $k }}: {{ printf "%v" $v | quote }}\n{{- end }}\n'
    )
    rendered = helm_python.Chart.load(str(chart)).render(None, name="r", namespace="n")
    data = {}
    for line in next(iter(rendered.values())).splitlines():
        if line.startswith("  t"):
            key, _, value = line.strip().partition(": ")
            data[int(key[1:])] = json.loads(value)
    for i, value in enumerate(PLAIN_SCALARS):
        want = data[i]
        assert (helm_plain(value) or value) == want, (value, helm_plain(value), want)


def test_sites_of_block_scalars_carry_their_chomping():
    docs = compose(parse_events("image: |+\n  nginx\n\n"))
    (site,) = find_sites(docs)
    assert site.names[0].node.value == "nginx" and site.names[0].node.tail == "\n\n"
