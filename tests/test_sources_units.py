"""The sources' pure parts: embedded values blocks, manifests' pod specs, --set parameters, templates."""

from __future__ import annotations

import pytest

from imagemirror.config import parse_settings
from imagemirror.inventory import scan_text
from imagemirror.rewrite import rewrite_text
from imagemirror.sources import templates

REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
SETTINGS = parse_settings({"registry": REG})
APP = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\nspec:\n  source:\n    helm:\n"


def rw(text: str, file: str = "app.yaml", revert: bool = False) -> str:
    return rewrite_text(text, file, SETTINGS, revert=revert).text


@pytest.mark.parametrize("header", ["|", "|-", "|+", "|2", "|2-", "| # comment"])
def test_helm_values_block_edited_inside_keeping_indentation_and_chomping(header):
    body = "        image:\n          repository: quay.io/org/app   # keep\n          tag: v1\n\n        other: 1\n"
    if header.startswith("|2"):
        # an explicit indentation: the value keeps two more spaces than the block's indentation
        body = "".join("  " + line if line.strip() else line for line in body.splitlines(keepends=True))
    text = APP + f"      values: {header}\n" + body + ("\n" if "+" in header else "")
    out = rw(text)
    assert out == text.replace("quay.io/org/app", f"{REG}/quay/org/app")
    assert rw(out) == out


def test_helm_values_block_in_a_crlf_file():
    text = (APP + "      values: |\n        image: nginx:1.25\n").replace("\n", "\r\n")
    assert rw(text) == text.replace("nginx:1.25", f"{REG}/docker-hub/library/nginx:1.25")


def test_position_and_suppression_inside_the_block():
    text = APP + "      values: |\n        a:\n          image: nginx:1.25  # imagemirror: ignore\n"
    (ref,) = scan_text(text, "app.yaml", SETTINGS).refs
    assert (ref.line, ref.column, ref.source, ref.path) == (10, 18, "argocd", "spec.source.helm.values.a.image")
    assert 10 in ref.lines


def test_a_folded_block_is_reported_but_not_edited():
    text = APP + "      values: >\n        image: nginx:1.25\n"
    (ref,) = scan_text(text, "app.yaml", SETTINGS).refs
    assert ref.status == "unmirrored" and "by hand" in (ref.hint or "")
    assert rw(text) == text


def test_parameters_edited_in_place():
    text = (
        APP + "      parameters:\n        - name: image.repository\n          value: 'bitnami/nginx'\n"
        "        - name: image.registry\n          value: docker.io\n        - name: image.tag\n          value: '1'\n"
    )
    out = rw(text)
    assert f"value: {REG}\n" in out and "value: 'docker-hub/bitnami/nginx'" in out
    # a Bitnami flag is never inserted into a manifest
    assert "allowInsecureImages" not in out


@pytest.mark.parametrize(
    "kind,spec",
    [
        ("Pod", "spec:\n"),
        ("Deployment", "spec:\n  template:\n    spec:\n"),
        ("CronJob", "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"),
    ],
)
def test_every_container_list_of_a_workload(kind, spec):
    pad = " " * (len(spec.splitlines()[-1]) - len(spec.splitlines()[-1].lstrip()) + 2)
    text = f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: x}}\n{spec}"
    for key, image in (
        ("initContainers", "busybox"),
        ("containers", "ghcr.io/a/b:1"),
        ("ephemeralContainers", "nginx"),
    ):
        text += f"{pad}{key}:\n{pad}  - name: c\n{pad}    image: {image}\n"
    refs = scan_text(text, "x.yaml", SETTINGS).refs
    assert [(r.written, r.source, r.status) for r in refs] == [
        ("busybox", "manifest", "unmirrored"),
        ("ghcr.io/a/b:1", "manifest", "unmirrored"),
        ("nginx", "manifest", "unmirrored"),
    ]
    assert rw(text, "x.yaml").count(REG) == 3


def test_builtin_kinds_without_pods_and_custom_resources():
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  image: nginx\n---\n"
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: p}\nspec:\n"
        "  image: quay.io/prometheus/prometheus:v2.54.0\n"
    )
    refs = scan_text(text, "x.yaml", SETTINGS).refs
    assert [(r.line, r.path, r.source) for r in refs] == [(11, "spec.image", "manifest")]


def test_mask_keeps_every_offset():
    text = 'a: {{ .x }}\n{{- if .y }}\nb: "{{ .z }}"\n  {{ end }}\n'
    masked, spans = templates.mask(text)
    assert len(masked) == len(text) and masked.count("\n") == text.count("\n")
    assert masked.splitlines()[1].startswith("#") and masked.splitlines()[3].strip().startswith("#")
    assert len(spans) == 4


def test_gotmpl_values_rewritten_around_templates():
    text = "image:\n  repository: ghcr.io/a/b\n  tag: {{ .Values.tag }}\nside:\n  image: quay.io/x/y:1\n{{- end }}\n"
    refs = scan_text(text, "values.yaml.gotmpl", SETTINGS).refs
    assert [r.status for r in refs] == ["templated", "unmirrored"]
    assert rw(text, "values.yaml.gotmpl") == text.replace("quay.io/x/y", f"{REG}/quay/x/y")


def test_kustomize_flow_and_block_insertion_and_digest_kept():
    text = "images:\n- {name: busybox, digest: 'sha256:" + "a" * 64 + "'}\n- name: ghcr.io/a/b  # c\n  newTag: v1\n"
    out = rw(text, "kustomization.yaml")
    assert out == text.replace(
        "{name: busybox,", f"{{name: busybox, newName: {REG}/docker-hub/library/busybox,"
    ).replace("  # c\n", f"  # c\n  newName: {REG}/github/a/b\n")
    assert rw(out, "kustomization.yaml") == out


def test_warm_targets_come_from_every_source(tmp_path):
    """``warm`` pulls what the inventory finds, so every source feeds it (suppression kept)."""
    import shutil
    from pathlib import Path

    from imagemirror.inventory import scan
    from imagemirror.warm import targets_from_refs

    root = tmp_path / "repo"
    shutil.copytree(Path(__file__).parent / "fixtures" / "gitops-argocd" / "expected", root)
    found = scan([root], parse_settings({"registry": REG}, path=root / ".imagemirror.yaml"))
    targets, _ = targets_from_refs(found.refs)
    names = {str(t.ref) if hasattr(t, "ref") else str(t) for t in targets}
    joined = " ".join(names)
    assert f"{REG}/docker-hub/grafana/grafana:11.2.0" in joined  # helm.parameters
    assert f"{REG}/docker-hub/bitnami/redis-exporter:1.62.0-debian-12-r2" in joined  # inside helm.values
    assert "k8s-sidecar" not in joined  # '# imagemirror: ignore' on its parameter


def test_an_entry_on_the_cache_that_no_longer_matches_its_moved_base_fails_check(tmp_path, monkeypatch):
    """The base was rewritten alone: the overlay's entry deploys the cache but its ``name`` no
    longer matches, so kustomize drops its newTag.  ``check`` fails and ``rewrite`` fixes it."""
    from imagemirror.sources import kustomize

    kustomize.clear_cache()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [pod.yaml]\n")
    (tmp_path / "base" / "pod.yaml").write_text(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
        f"    - {{name: c, image: {REG}/quay/org/app:1}}\n"
    )
    text = f"resources: [base]\nimages:\n  - name: quay.io/org/app\n    newName: {REG}/quay/org/app\n    newTag: '2'\n"
    (ref,) = scan_text(text, "kustomization.yaml", SETTINGS).refs
    assert ref.status == "unmirrored" and "must become" in ref.hint
    out = rw(text, "kustomization.yaml")
    assert out == text.replace("name: quay.io/org/app", f"name: {REG}/quay/org/app")
    kustomize.clear_cache()
    assert scan_text(out, "kustomization.yaml", SETTINGS).refs[0].status == "mirrored"


def test_parameters_with_list_indexes_are_checked_and_edited_in_place():
    """``sidecars[0].image`` is a list item's key, as ``helm --set`` reads it (it was skipped)."""
    text = (
        APP + "      parameters:\n        - name: sidecars[1].image\n          value: nginx:1.25\n"
        "        - name: jobs[0].image.repository\n          value: quay.io/org/job\n"
        "        - name: jobs[0].image.tag\n          value: v1\n"
        "        - name: bad.[0].image\n          value: ghcr.io/not/read:1\n"
    )
    refs = scan_text(text, "app.yaml", SETTINGS).refs
    assert [(r.path, r.line, r.written, r.status) for r in refs] == [
        ("spec.source.helm.parameters.sidecars[1].image", 10, "nginx:1.25", "unmirrored"),
        ("spec.source.helm.parameters.jobs[0].image", 12, "quay.io/org/job:v1", "unmirrored"),
    ]
    out = rw(text)
    assert out == text.replace("value: nginx:1.25", f"value: {REG}/docker-hub/library/nginx:1.25").replace(
        "value: quay.io/org/job", f"value: {REG}/quay/org/job"
    )
    assert rw(out) == out


def test_generator_files_are_values_only_when_their_key_is_yaml(tmp_path):
    """A kustomization's configMapGenerator names a values file for Flux ``valuesFrom``
    (``values.yaml=./helm-values.yaml``) beside scripts and configs (onedr0p/home-ops'
    ``refresh-series.sh=./resources/refresh-series.sh``): only the YAML one is read, and a
    shell script is not an invalid-YAML error (exit 3) of ``check``."""
    from click.testing import CliRunner

    from imagemirror.cli import main

    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    app = tmp_path / "app"
    (app / "resources").mkdir(parents=True)
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n"
        "  - name: app-values\n    files:\n      - values.yaml=./helm-values.yaml\n"
        "  - name: scripts\n    files:\n      - refresh.sh=./resources/refresh.sh\n      - ./resources/run.sh\n"
    )
    (app / "helm-values.yaml").write_text("image:\n  repository: quay.io/org/app\n  tag: v1\n")
    (app / "resources" / "refresh.sh").write_text('#!/bin/sh\nset -e\ncurl -s "$URL" | jq .\n: [x\n')
    (app / "resources" / "run.sh").write_text("#!/bin/sh\n: {x\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert "IM100" not in result.output and "refresh.sh" not in result.output
    assert "helm-values.yaml" in result.output and "quay.io/org/app:v1" in result.output
