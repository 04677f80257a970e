"""``--effective`` under hostile input (issue 14): each case failed before its fix.

- Argo CD ``helm.parameters`` with list indexes (``sidecars[0].image=...``) were dropped;
- any folder or ``.tgz`` of the repository whose ``Chart.yaml`` has the chart's name
  (``docs/samples/web/``) was used instead of the chart the Application deploys, silently;
- a 1 KB alias bomb in a values file took minutes and gigabytes (aliases expanded);
- 10,000-deep values and chart dependency cycles ended in RecursionError tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"
# A hang guard, not a speed assertion: each case ends in seconds once fixed.
HANG_GUARD = 300

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  sources:
    - repoURL: https://charts.example.com
      chart: web
      targetRevision: 1.0.0
      helm:
        valueFiles:
          - $values/env/values.yaml
{parameters}
    - repoURL: https://git.example.com/gitops.git
      ref: values
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "IMAGEMIRROR_CACHE_DIR": str(cwd / ".cache")}
    return subprocess.run(
        [sys.executable, "-m", "imagemirror", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


def chart(folder: Path, image: str, name: str = "web", deps: str = "") -> None:
    folder.mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n{deps}")
    (folder / "values.yaml").write_text(f"image: {image}\nsidecars:\n  - name: s\n    image: quay.io/a/s:1\n")


def gitops(root: Path, parameters: str = "", values: str = "replicaCount: 1\n") -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    (root / "apps").mkdir()
    (root / "apps" / "web.yaml").write_text(APP.format(parameters=parameters))
    (root / "env").mkdir()
    (root / "env" / "values.yaml").write_text(values)
    return root


def effective(root: Path) -> tuple[int, list[dict], str]:
    proc = cli("list", "--effective", "--offline", "--renderer", "model", "--format", "json", "env", cwd=root)
    assert "Traceback" not in proc.stderr, proc.stderr
    rows = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else []
    return proc.returncode, rows, proc.stderr


# ------------------------------------------------------------------ helm.parameters with indexes


PARAMS = """\
        parameters:
          - name: sidecars[0].image
            value: docker.io/library/nginx:1.25
"""


def test_parameters_with_list_indexes_are_applied_over_the_chart_defaults(tmp_path: Path):
    root = gitops(tmp_path, PARAMS)
    chart(root / "charts" / "web", f"{ECR}/quay/good/web:1")
    code, rows, err = effective(root)
    assert code == 0, err
    found = {(r["path"], r["written"]) for r in rows}
    assert ("sidecars[0].image", "docker.io/library/nginx:1.25") in found, rows
    proc = cli("check", "--effective", "--offline", "--renderer", "model", "env", cwd=root)
    assert proc.returncode == 1 and "nginx:1.25" in proc.stdout, proc.stdout + proc.stderr


def test_parameters_with_list_indexes_set_into_the_values_files_list(tmp_path: Path):
    # --set sets item 0's image in the list the values file gives, keeping its other keys
    values = "sidecars:\n  - name: mine\n    image: quay.io/a/mine:1\n  - name: two\n    image: quay.io/a/two:1\n"
    root = gitops(tmp_path, PARAMS, values)
    chart(root / "charts" / "web", f"{ECR}/quay/good/web:1")
    code, rows, err = effective(root)
    assert code == 0, err
    found = {(r["path"], r["written"]) for r in rows}
    assert {("sidecars[0].image", "docker.io/library/nginx:1.25"), ("sidecars[1].image", "quay.io/a/two:1")} <= found


def test_set_values_agree_with_helms_strvals():
    from imagemirror.charts.discover import set_values

    try:
        import helm_python
    except ImportError:
        from conftest import skip_or_fail

        skip_or_fail("helm-python-sdk (pip install 'imagemirror[helm]') is not installed")
    cases = [
        "sidecars[0].image=quay.io/x/y:1",
        "a.b=True",
        "a=NULL",
        "a=0",
        "a=007",
        "a=-12",
        "a=+5",
        "a=12345678901234567890",
        "l={1,b}",
        "l={}",
        "c[2]=x",
        "a\\.b.c=1",
        "a[0][1]=z",
        "x=",
        "a[1].b[0]=q",
    ]
    for case in cases:
        name, _, value = case.partition("=")
        assert dict(set_values([{"name": name, "value": value}])) == helm_python.parse_set_string(case), case


# ------------------------------------------------------------------ which chart


def test_a_same_named_chart_outside_charts_or_vendor_is_never_used(tmp_path: Path):
    root = gitops(tmp_path)
    chart(root / "docs" / "samples" / "web", f"{ECR}/quay/sample/web:1")  # a sample, not the chart
    code, rows, err = effective(root)
    assert code == 4, (code, rows, err)  # offline: the chart deployed is neither vendored nor cached
    assert "neither vendored nor cached" in err
    assert "sample" not in json.dumps(rows)


def test_two_different_vendored_copies_are_reported_not_picked(tmp_path: Path):
    root = gitops(tmp_path)
    chart(root / "charts" / "web", "quay.io/good/web:1")
    chart(root / "vendor" / "web", "docker.io/evil/web:1")
    proc = cli("check", "--effective", "--offline", "--renderer", "model", "env", cwd=root)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout + proc.stderr
    assert "2 different copies" in out and "charts/web" in out and "vendor/web" in out


def test_the_vendored_copy_under_charts_is_used(tmp_path: Path):
    root = gitops(tmp_path)
    chart(root / "charts" / "web", "quay.io/good/web:1")
    code, rows, err = effective(root)
    assert code == 0, err
    assert "quay.io/good/web:1" in {r["written"] for r in rows}


# ------------------------------------------------------------------ aliases, nesting, cycles


def test_alias_bomb_in_values_is_linear(tmp_path: Path):
    bomb = ["a0: &a0 [image: docker.io/library/nginx:1.25]"]
    for i in range(1, 30):
        bomb.append(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]")
    root = gitops(tmp_path, values="\n".join(bomb) + "\n")
    chart(root / "charts" / "web", "quay.io/good/web:1")
    assert len((root / "env" / "values.yaml").read_bytes()) < 1100
    proc = cli("check", "--effective", "--offline", "--renderer", "model", "env", cwd=root)
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "nginx" in proc.stdout + proc.stderr


def test_deep_values_are_one_clear_line(tmp_path: Path):
    deep = "".join(f"{' ' * i}k:\n" for i in range(10_000)) + " " * 10_000 + "image: docker.io/library/nginx:1\n"
    root = gitops(tmp_path, values=deep)
    chart(root / "charts" / "web", "quay.io/good/web:1")
    proc = cli("check", "--effective", "--offline", "--renderer", "model", "env", cwd=root)
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    if proc.returncode == 3:
        errors = [line for line in proc.stdout.splitlines() if "IM100" in line]
        assert len(errors) == 1 and errors[0].startswith("env/values.yaml:101:101: "), proc.stdout + proc.stderr
        assert "nested more than 100 levels" in errors[0]


@pytest.mark.parametrize("cycle", ["self", "pair"])
def test_dependency_cycles_are_one_clear_line(tmp_path: Path, cycle: str):
    root = gitops(tmp_path)
    if cycle == "self":
        chart(
            root / "charts" / "web",
            "quay.io/good/web:1",
            deps="dependencies:\n  - name: web\n    version: 1.0.0\n    repository: file://.\n",
        )
    else:
        chart(
            root / "charts" / "web",
            "quay.io/good/web:1",
            deps="dependencies:\n  - name: other\n    version: 1.0.0\n    repository: file://../other\n",
        )
        chart(
            root / "charts" / "other",
            "quay.io/good/other:1",
            name="other",
            deps="dependencies:\n  - name: web\n    version: 1.0.0\n    repository: file://../web\n",
        )
    proc = cli("check", "--effective", "--offline", "--renderer", "model", "env", cwd=root)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "RecursionError" not in out, out[-2000:]
    assert proc.returncode == 3, out
    assert "cycle" in out
