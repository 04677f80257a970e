"""``--effective`` through the entry point: settings errors, files no release reads, JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def imagemirror(*args, cwd):
    return subprocess.run([sys.executable, "-m", "imagemirror", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO),
                                          "IMAGEMIRROR_CACHE_DIR": str(cwd / ".cache")})


def test_bad_charts_section_is_a_settings_error(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "env/*.yaml": {{chart: x}}\n')
    (tmp_path / "values.yaml").write_text("image: nginx:1.27\n")
    out = imagemirror("check", "--effective", ".", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().endswith(
        ".imagemirror.yaml:3:3: chart for 'env/*.yaml' needs 'path', or 'repo' and 'chart'")


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
        f'registry: {REG}\ncharts:\n  "env/*.yaml": oci://127.0.0.1:9/charts/app:1.0.0\n')
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
