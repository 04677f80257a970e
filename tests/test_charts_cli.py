"""``--effective`` through the entry point: settings errors, files no release reads, JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def imagemirror(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "IMAGEMIRROR_CACHE_DIR": str(cwd / ".cache")},
    )


def test_bad_charts_section_is_a_settings_error(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "env/*.yaml": {{chart: x}}\n')
    (tmp_path / "values.yaml").write_text("image: nginx:1.27\n")
    out = imagemirror("check", "--effective", ".", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().endswith(
        ".imagemirror.yaml:3:3: chart for 'env/*.yaml' needs 'path', or 'repo' and 'chart'"
    )


def test_file_without_a_chart_is_checked_as_text(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    (tmp_path / "values.yaml").write_text("image: nginx:1.27\n")
    out = imagemirror("list", "--effective", "--format", "json", ".", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert (row["file"], row["line"], row["path"], row["status"]) == ("values.yaml", 1, "image", "unmirrored")
    check = imagemirror("check", "--effective", ".", cwd=tmp_path)
    assert check.returncode == 1 and "values.yaml:1:8: IM001" in check.stdout


def test_missing_chart_offline_is_exit_4_and_names_the_release(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(
        f'registry: {REG}\ncharts:\n  "env/*.yaml": oci://127.0.0.1:9/charts/app:1.0.0\n'
    )
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.yaml").write_text("replicaCount: 1\n")
    out = imagemirror("check", "--effective", "--offline", "env", cwd=tmp_path)
    assert out.returncode == 4
    assert "release prod" in out.stdout + out.stderr
    assert "neither vendored nor cached" in out.stdout + out.stderr
    warm = imagemirror("warm", "--effective", "--offline", "env", cwd=tmp_path)  # the same source
    assert warm.returncode == 4 and "release prod" in warm.stderr and "Traceback" not in warm.stderr
    rewrite = imagemirror("rewrite", "--effective", "--offline", "env", cwd=tmp_path)
    assert rewrite.returncode == 3  # the file is reported and left untouched
    assert (tmp_path / "env" / "prod.yaml").read_text() == "replicaCount: 1\n"


def test_releases_with_inline_values_only_are_evaluated(tmp_path):
    """A HelmRelease with inline values and no values file, and a kustomize helmCharts entry,
    are releases for --effective: the chart's defaults are read too (a vendored chart, offline)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    chart = tmp_path / "charts" / "app"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(
        "image:\n  repository: ghcr.io/org/app\n  tag: '1'\nsidecar:\n"
        "  image:\n    repository: quay.io/org/sidecar\n    tag: '2'\n"
    )
    (chart / "templates" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: {{ .Release.Name }}}\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: app\n"
        '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n        - name: sidecar\n'
        '          image: "{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag }}"\n'
    )
    (tmp_path / "release.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web}\nspec:\n"
        "  chart:\n    spec:\n      chart: ./charts/app\n      sourceRef: {kind: GitRepository, name: repo}\n"
        "  values:\n    image:\n      tag: '3'\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "helmCharts:\n  - name: app\n    repo: https://charts.example.invalid\n    version: 1.0.0\n"
        "    releaseName: inflated\n    valuesInline:\n      sidecar:\n        image:\n          tag: '4'\n"
    )
    for renderer in ("model", "auto"):  # the values model, and real Helm where it is installed
        out = imagemirror(
            "list", "--effective", "--offline", "--renderer", renderer, "--format", "json", ".", cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        by_release = {(r.get("release"), r["written"].replace("docker.io/", "")) for r in rows if r.get("release")}
        assert ("web", "ghcr.io/org/app:3") in by_release, (renderer, rows)
        assert ("web", "quay.io/org/sidecar:2") in by_release
        assert ("inflated", "quay.io/org/sidecar:4") in by_release and ("inflated", "ghcr.io/org/app:1") in by_release
