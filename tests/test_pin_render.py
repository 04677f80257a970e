"""Real Helm is the oracle: ``rewrite --effective`` then ``pin --effective`` on real charts
(shared/charts, read in place and copied only into a temporary repository), then every pod spec
Helm renders from the pinned values file must pull its image from the cache **by the pinned
digest** -- bitnami's common.images.image reading the added ``digest:``, ingress-nginx its own
``digest`` over the chart's default one, ERPNext composing ``repository:tag@digest``.

The registry side is faked (one digest per tag); tests/integration/test_pin.py has the real one."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, skip_or_fail

from imagemirror.charts.discover import clear_cache
from imagemirror.commands.pin import Resolution, Resolver, pin_paths
from imagemirror.errors import Exit
from imagemirror.reference import parse

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CHARTS = Path(os.environ.get("IMAGEMIRROR_SHARED_CHARTS", CORPUS.parent / "charts"))


def fake_digest(lookup: str) -> str:
    return "sha256:" + hashlib.sha256(lookup.encode()).hexdigest()


class Digests(Resolver):
    """A digest per tag; the chart's own pins where it has them (the cache serves upstream digests,
    and a chart's default digest names the upstream image)."""

    def __init__(self, known: dict[str, str]):
        super().__init__(None)
        self.known = known

    def resolve(self, lookup, confirm=True):
        return Resolution(lookup, self.known.get(lookup) or fake_digest(lookup))


def pod_images(node, out: list) -> list:
    """Every image of a container list, anywhere in a rendered object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                out.extend(c["image"] for c in value if isinstance(c, dict) and "image" in c)
            pod_images(value, out)
    elif isinstance(node, list):
        for value in node:
            pod_images(value, out)
    return out


def render_images(chart_dir: Path, values_text: str) -> list[str]:
    helm = pytest.importorskip("helm_python")
    values = helm.values_from_yaml(values_text) or {}
    with helm.Chart.load(str(chart_dir)) as chart:
        rendered = chart.render(values, name="prod", namespace="default")
    images: list[str] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in text.split("\n---"):
            if doc.strip() and not all(not ln.strip() or ln.lstrip().startswith("#") for ln in doc.splitlines()):
                pod_images(helm.values_from_yaml(doc), images)
    return images


@pytest.mark.parametrize(
    "chart, overlay, moved",
    [
        ("mariadb-23.0.1", "metrics:\n  enabled: true\n", None),
        # the tag bumped by hand while the chart's default digest still names v1.15.1 (the Cilium case)
        (
            "ingress-nginx-4.15.1",
            "controller:\n  admissionWebhooks:\n    enabled: true\n  image:\n"
            "    image: ingress-nginx/controller\n    tag: v1.15.2\n",
            "ingress-nginx/controller:v1.15.2",
        ),
        ("erpnext-8.0.75", "persistence:\n  worker:\n    storageClass: nfs\n", None),
    ],
)
@pytest.mark.parametrize("renderer", ["model", "sdk"])
def test_rendered_pod_specs_pull_the_pinned_digests(tmp_path, chart, overlay, moved, renderer):
    """``renderer``: who decides the pin form and verifies it (the model, or real Helm's render)."""
    if renderer == "sdk":
        pytest.importorskip("helm_python")
    source = CHARTS / chart
    if not source.is_dir():
        skip_or_fail(f"shared chart not found at {source} (IMAGEMIRROR_SHARED_CHARTS)")
    shutil.copytree(source, tmp_path / "vendor" / chart)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "values.yaml": vendor/{chart}\n')
    values = tmp_path / "values.yaml"
    values.write_text(overlay)
    env = {**os.environ, "PYTHONPATH": str(REPO), "IMAGEMIRROR_CACHE_DIR": str(tmp_path / ".no-cache")}
    done = subprocess.run(
        [sys.executable, "-m", "imagemirror", "rewrite", "--effective", "--offline", "values.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    # a template may name an image itself (ERPNext's busybox): no values file can move or pin it
    before = [i for i in render_images(tmp_path / "vendor" / chart, values.read_text()) if i.startswith(REG + "/")]
    assert before
    refs = [parse(i) for i in before]
    chart_pins = {
        f"{r.name}:{r.tag}": r.digest
        for r in refs
        if r.digest and not (moved and r.name.endswith("/" + moved.split(":")[0]) and r.tag == moved.split(":")[1])
    }
    assert not moved or len(chart_pins) < len({f"{r.name}:{r.tag}" for r in refs if r.digest})

    clear_cache()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out = io.StringIO()
        code = pin_paths(
            [Path("values.yaml")],
            effective=True,
            offline=True,
            resolver=Digests(chart_pins),
            stdout=out,
            renderer=renderer,
        )
    finally:
        os.chdir(cwd)
        clear_cache()
    assert code == Exit.OK, out.getvalue()
    assert " pinned " in out.getvalue()
    assert not moved or f"{moved}@{fake_digest(REG + '/k8s/' + moved)}" in out.getvalue(), out.getvalue()

    after = [i for i in render_images(tmp_path / "vendor" / chart, values.read_text()) if i.startswith(REG + "/")]
    assert len(after) == len(before)
    for image, old in zip(after, refs):
        ref = parse(image)
        lookup = f"{old.name}:{old.tag}"
        # bitnami's common.images.image renders repository@digest (the tag dropped): still that image
        assert ref.name == old.name and ref.tag in (old.tag, None), (old, image)
        assert ref.digest == (chart_pins.get(lookup) or fake_digest(lookup)), (old, image)


def test_probe_render_says_which_maps_read_a_digest(tmp_path):
    """Bitnami's common.images.image reads ``digest`` (mariadb); ERPNext composes repository:tag."""
    from imagemirror.charts.discover import releases_for
    from imagemirror.charts.pins import digest_reads
    from imagemirror.charts.plan import make_fetcher
    from imagemirror.charts.render import Sdk
    from imagemirror.config import load_settings

    pytest.importorskip("helm_python")
    got = {}
    for chart, want, text in (
        ("mariadb-23.0.1", "image", "{}\n"),
        ("erpnext-8.0.75", "image", "persistence:\n  worker:\n    storageClass: nfs\n"),
    ):
        if not (CHARTS / chart).is_dir():
            skip_or_fail(f"shared chart not found at {CHARTS / chart}")
        root = tmp_path / chart
        (root / ".git").mkdir(parents=True)
        (root / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "values.yaml": {CHARTS / chart}\n')
        (root / "values.yaml").write_text(text)
        settings = load_settings(root / ".imagemirror.yaml")
        fetcher = make_fetcher(settings, root, offline=True)
        [release] = releases_for(root / "values.yaml", settings)
        got[chart] = digest_reads(release, fetcher.chart(release.chart), fetcher, Sdk())[want]
    assert got == {"mariadb-23.0.1": "digest", "erpnext-8.0.75": None}


CHART = """apiVersion: v2
name: plain
version: 1.0.0
"""
# the values map carries a digest key the template never reads
TEMPLATE = """apiVersion: v1
kind: Pod
metadata:
  name: plain
spec:
  containers:
    - name: app
      image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


def test_a_pin_the_templates_ignore_is_refused_by_the_render(tmp_path):
    """The model trusts the values' ``digest`` key; the render shows the pod pulls by tag only:
    the file is left untouched with one line naming the release and the container."""
    pytest.importorskip("helm_python")
    chart = tmp_path / "vendor" / "plain"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text(
        f'image:\n  registry: {REG}\n  repository: docker-hub/library/nginx\n  tag: "1.27"\n  digest: ""\n'
    )
    (chart / "templates" / "pod.yaml").write_text(TEMPLATE)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "values.yaml": vendor/plain\n')
    values = tmp_path / "values.yaml"
    text = f'image:\n  registry: {REG}\n  repository: docker-hub/library/nginx\n  tag: "1.27"\n  digest: ""\n'
    values.write_text(text)
    clear_cache()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        codes = {}
        for renderer in ("model", "sdk"):
            out = io.StringIO()
            codes[renderer] = pin_paths(
                [Path("values.yaml")],
                effective=True,
                offline=True,
                resolver=Digests({}),
                stdout=out,
                renderer=renderer,
                dry_run=True,
            )
    finally:
        os.chdir(cwd)
        clear_cache()
    assert codes == {"model": Exit.OK, "sdk": Exit.FILE_ERROR}
    assert values.read_text() == text
