"""The rendered inventory on the 13 real charts of ../shared/charts (read in place).

For every chart, with its defaults (the chart's required values where it has them, compared with
``RENDERED.tsv``) and with an overlay of ours that turns optional components on (compared with
``render_images.py``, the script that produced ``RENDERED.tsv``, run on the same values):
``list --effective --format json`` lists exactly the images the release renders, or the
difference is reported (a chart that does not render is an error naming its release).

Twice: through helm-python-sdk (``--renderer sdk``) and through the ``helm`` CLI path
(``--renderer helm``) with ``tests/helm_shim/helm`` on PATH.  The shim stands in for the
``helm`` binary, which the package registries here do not carry: it implements ``helm
template`` on the same SDK and prints what ``helm template`` prints.
"""

from __future__ import annotations

import json

import pytest

from render_support import (
    OVERLAYS,
    chart_name,
    charts_dir,
    imagemirror,
    oracle,
    rendered_tsv,
    require_sdk,
    required_values,
    row_key,
    shim_bin,
    write_tree,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    charts_dir()
    require_sdk()
    root = tmp_path_factory.mktemp("real-charts") / "gitops"
    folders = sorted(rendered_tsv())
    apps = {}
    for folder in folders:
        name = chart_name(folder)
        apps[f"{name}-defaults"] = (folder, required_values(folder), None)
        apps[f"{name}-overlay"] = (folder, required_values(folder), OVERLAYS[folder])
    write_tree(root, apps)
    return root, folders


def expected(folder: str, overlay: bool, tmp) -> set | None:
    """The oracle's rows, or None when Helm cannot render the chart with these values."""
    if not overlay:
        return {row_key(r) for r in rendered_tsv()[folder]}
    module = oracle()
    values = tmp / f"{folder}-overlay.json"
    from render_support import merge

    values.write_text(json.dumps(merge(required_values(folder) or {}, OVERLAYS[folder])))
    try:
        rows = module.chart_rows(str(charts_dir() / folder), str(values), name=chart_name(folder))
    except Exception:  # noqa: BLE001 -- Helm refuses to render: the run must report it
        return None
    cols = module.COLUMNS
    return {row_key(dict(zip(cols, r))) for r in rows}


def _compare(out, root, folders, tmp):
    by_release: dict[str, set] = {}
    for row in json.loads(out.stdout or "[]"):
        by_release.setdefault(row["release_app"] if "release_app" in row else _app(row, root), set()).add(
            row_key(
                {
                    "template": row["template"],
                    "kind": row["kind"],
                    "container": row["container"],
                    "field": row["field"],
                    "image": row["rendered"],
                }
            )
        )
    problems = []
    for folder in folders:
        name = chart_name(folder)
        for overlay in (False, True):
            app = f"{name}-{'overlay' if overlay else 'defaults'}"
            want = expected(folder, overlay, tmp)
            got = by_release.get(app, set())
            if want is None or (not overlay and _unrenderable(folder)):
                # Helm cannot render it here: it must be reported, naming the release's Application
                if f"apps/{app}.yaml" not in out.stderr + out.stdout:
                    problems.append(f"{app}: does not render, and the run does not say so")
                continue
            if got != want:
                problems.append(f"{app}: missing {sorted(want - got)[:3]}, extra {sorted(got - want)[:3]}")
    return problems


def _unrenderable(folder: str) -> bool:
    """A chart whose vendored dependencies are absent (kube-prometheus-stack: charts/ has only crds)."""
    try:
        values = charts_dir() / f"{folder}.render-values.yaml"
        oracle().chart_rows(
            str(charts_dir() / folder), str(values) if values.is_file() else None, name=chart_name(folder)
        )
    except Exception:  # noqa: BLE001
        return True
    return False


def _app(row: dict, root) -> str:
    """The Application a row belongs to: its values file is environments/prod/<app>/values.yaml."""
    return row["file"].split("/")[-2]


def test_sdk_renderer_lists_exactly_what_each_release_renders(tree, tmp_path):
    root, folders = tree
    out = imagemirror(
        "list", "--effective", "--offline", "--renderer", "sdk", "--format", "json", "environments/prod", cwd=root
    )
    assert out.returncode in (0, 3, 4), out.stderr
    assert "Traceback" not in out.stderr
    problems = _compare(out, root, folders, tmp_path)
    assert problems == [], "\n".join(problems)


def test_helm_cli_renderer_through_the_shim_lists_the_same(tree, tmp_path):
    root, folders = tree
    log = tmp_path / "helm-calls.jsonl"
    out = imagemirror(
        "list",
        "--effective",
        "--offline",
        "--renderer",
        "helm",
        "--format",
        "json",
        "environments/prod",
        cwd=root,
        env={"HELM_SHIM_LOG": str(log)},
        path_prefix=shim_bin(tmp_path),
    )
    assert out.returncode in (0, 3, 4), out.stderr
    assert "Traceback" not in out.stderr
    problems = _compare(out, root, folders, tmp_path)
    assert problems == [], "\n".join(problems)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # helm template as Argo CD runs it: release name, namespace, CRDs, the values file(s) in order
    wordpress = [c for c in calls if c[1] == "wordpress"]
    assert wordpress, calls
    assert all(
        c[0] == "template" and "--include-crds" in c and c[c.index("--namespace") + 1] == "default" for c in wordpress
    )
    assert all(str(root / "charts") not in c[2] or c[2].endswith("wordpress-27.0.0") for c in wordpress)


def test_every_rendered_image_has_a_finding_and_literal_ones_name_their_template(tree):
    root, folders = tree
    out = imagemirror(
        "check", "--effective", "--offline", "--renderer", "sdk", "--format", "json", "environments/prod", cwd=root
    )
    findings = json.loads(out.stdout)["findings"]
    assert out.returncode != 0
    literal = [f for f in findings if f["code"] == "IM007"]
    # erpnext's Helm test hook writes busybox literally: a warning (Argo CD does not run test hooks)
    busybox = [f for f in literal if f["reference"] == "busybox"]
    assert busybox and all(f["level"] == "warning" for f in busybox)
    assert any(
        "erpnext/templates/tests/test-connection.yaml" in f["message"]
        and "Pod/erpnext-test-connection" in f["message"]
        and "container wget" in f["message"]
        for f in busybox
    )
    # every finding of a rendered image names the tag it renders
    listed = json.loads(
        imagemirror(
            "list", "--effective", "--offline", "--renderer", "sdk", "--format", "json", "environments/prod", cwd=root
        ).stdout
    )
    rendered = {(r["file"], r["rendered"]) for r in listed if r["status"] in ("unmirrored",)}
    reported = {(f["file"], f["reference"]) for f in findings}
    assert rendered <= reported
    strict = json.loads(
        imagemirror(
            "check",
            "--effective",
            "--offline",
            "--strict",
            "--renderer",
            "sdk",
            "--format",
            "json",
            "environments/prod",
            cwd=root,
        ).stdout
    )["findings"]
    assert all(f["level"] == "error" for f in strict if f["code"] == "IM007")
