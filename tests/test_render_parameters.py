"""Argo CD ``helm.parameters`` rendered as Argo CD has Helm render them.

Argo CD's repo server runs ``helm template ... --set name=value`` per parameter
(``--set-string`` for ``forceString: true``; util/helm/cmd.go), its value's commas escaped; Helm
applies every ``-f``, then every ``--set``, then every ``--set-string`` (strvals.ParseInto:
``sidecars[0].image=x`` sets that item's key in the list the values give).  The ``helm`` path is
tested through ``tests/helm_shim/helm``, which stands in for the binary (the package registries
here carry none) and applies ``--set`` with the SDK's own strvals; the SDK path is imagemirror's
``SetValues`` on the same parameters: both must render what Helm renders.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagemirror.charts.discover import clean_set_parameter, set_values
from imagemirror.charts.render import HelmCli
from imagemirror.charts.values import merge_user
from imagemirror.errors import FileError
from render_support import SHIM, imagemirror, require_sdk, shim_bin

ECR = "123456789012.dkr.ecr.af-south-1.amazonaws.com"

CHART_VALUES = """\
image:
  repository: quay.io/acme/web
  tag: "1.0"
sidecars: []
initContainers:
  - name: init
    image: quay.io/acme/init:1
extra: ""
"""

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  annotations:
    extra: {{ .Values.extra | quote }}
spec:
  template:
    spec:
      initContainers:
        {{- range .Values.initContainers }}
        - name: {{ .name | default "unnamed" }}
          image: {{ .image | quote }}
        {{- end }}
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        {{- range .Values.sidecars }}
        - name: {{ .name | default "unnamed" }}
          image: {{ .image | quote }}
        {{- end }}
"""

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  destination: {namespace: shop}
  source:
    repoURL: https://git.example.com/gitops.git
    path: charts/web
    helm:
      valueFiles: [../../env/values.yaml]
      parameters:
        - name: sidecars[0].image
          value: docker.io/library/nginx:1.25
        - name: image.tag
          value: "1.10"
          forceString: true
        - name: extra
          value: 'a,b\\c'
        - name: initContainers[0].image
          value: docker.io/library/busybox:1.36
"""


def tree(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {ECR}\n")
    chart = root / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(CHART_VALUES)
    (chart / "templates" / "deploy.yaml").write_text(TEMPLATE)
    (root / "env").mkdir()
    (root / "env" / "values.yaml").write_text(
        "sidecars:\n  - name: first\n    image: quay.io/acme/first:1\n"
        "  - name: second\n    image: quay.io/acme/second:1\n"
    )
    (root / "apps").mkdir()
    (root / "apps" / "web.yaml").write_text(APP)
    return root


def shim_module():
    loader = importlib.machinery.SourceFileLoader("helm_shim", str(SHIM))
    spec = importlib.util.spec_from_loader("helm_shim", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def rendered(out) -> list[tuple]:
    assert out.returncode in (0, 1), out.stderr
    rows = json.loads(out.stdout)
    return sorted((r["container"], r["written"]) for r in rows if r.get("template"))


EXPECTED = [
    # a list of a values file: --set sets item 0's image, keeping its name and item 1
    ("first", "docker.io/library/nginx:1.25"),
    ("second", "quay.io/acme/second:1"),
    # a list of the chart's defaults only: --set makes a new list of the user's values, which
    # replaces the default list (Helm coalesces maps, never lists), so the item has no name
    ("unnamed", "docker.io/library/busybox:1.36"),
    ("web", "quay.io/acme/web:1.10"),  # forceString: the tag stays the string "1.10"
]


def test_the_helm_binary_gets_argo_cds_set_flags_and_renders_what_helm_renders(tmp_path):
    require_sdk()
    root = tree(tmp_path / "repo")
    log = tmp_path / "helm.log"
    out = imagemirror(
        "list", "--effective", "--offline", "--renderer", "helm", "--format", "json", "env", "apps",
        cwd=root, path_prefix=shim_bin(tmp_path), env={"HELM_SHIM_LOG": str(log)},
    )  # fmt: skip
    assert rendered(out) == EXPECTED
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    first = calls[0]
    assert first[first.index("-f") + 2 :][:8] == [
        "--set", "sidecars[0].image=docker.io/library/nginx:1.25",
        "--set", "extra=a\\,b\\c",  # Argo CD escapes the comma; Helm reads the backslashes
        "--set", "initContainers[0].image=docker.io/library/busybox:1.36",
        "--set-string", "image.tag=1.10",
    ]  # fmt: skip
    sdk = imagemirror(
        "list", "--effective", "--offline", "--renderer", "sdk", "--format", "json", "env", "apps", cwd=root
    )
    assert rendered(sdk) == EXPECTED


def test_the_value_is_what_helm_reads_after_argo_cds_escaping():
    require_sdk()
    import helm_python

    values = set_values([{"name": "extra", "value": "a,b\\c"}, {"name": "t", "value": "007", "forceString": True}])
    assert dict(values) == {"extra": "a,bc", "t": "007"}
    assert dict(values) == {
        **helm_python.parse_set_string("extra=" + clean_set_parameter("a,b\\c")),
        **helm_python.parse_set_string_values("t=007"),
    }


def test_set_flags_after_every_file_and_sentinels_after_the_set_flags():
    params = set_values([{"name": "a[0].b", "value": "x"}, {"name": "s", "value": "1", "forceString": True}])
    files, sets = HelmCli.arguments([{"a": [{"b": 0, "c": 1}]}, params])
    assert files == [{"a": [{"b": 0, "c": 1}]}] and sets == [("--set", "a[0].b=x"), ("--set-string", "s=1")]
    # a layer after the parameters (the provenance render's sentinels) must win over them:
    # everything before it is merged into one file, --set applied as Helm applies it
    files, sets = HelmCli.arguments([{"a": [{"b": 0, "c": 1}]}, params, {"s": "sentinel"}])
    assert files == [{"a": [{"b": "x", "c": 1}], "s": "1"}, {"s": "sentinel"}] and sets == []
    # helmfile's `set` flags are not modelled: merged the same way
    helmfile = set_values([{"name": "a[0].b", "value": "x"}], tool="helmfile")
    assert HelmCli.arguments([{"a": [{"b": 0}]}, helmfile]) == ([{"a": [{"b": "x"}]}], [])


def test_argo_cd_applies_every_set_before_every_set_string_one_value_per_name():
    params = set_values(
        [
            {"name": "a", "value": "1", "forceString": True},
            {"name": "a", "value": "2"},
            {"name": "b", "value": "3"},
            {"name": "b", "value": "4"},
        ]
    )
    assert params.flags == [("--set", "a=2"), ("--set", "b=4"), ("--set-string", "a=1")]
    assert dict(params) == {"a": "1", "b": 4}


BASES = [{}, {"a": [{"b": 1, "c": 2}], "b": "x"}, {"a": None, "b": [None, 1], "c": {"a": "s"}}]
# the characters that matter to strvals and to Argo CD's escaping
_TEXT = st.text(alphabet="ab0,.\\{}[]=1-", max_size=8)
_NAME = st.lists(
    st.one_of(st.text(alphabet="abc\\.", min_size=1, max_size=3), st.integers(0, 3).map(lambda i: f"[{i}]")),
    min_size=1,
    max_size=4,
).map(lambda parts: ".".join(parts).replace(".[", "["))


@given(name=_NAME, value=_TEXT, force=st.booleans(), base=st.sampled_from(BASES))
def test_set_values_apply_as_helms_strvals_parse_into(name, value, force, base):
    """For any name and value: imagemirror's SetValues over ``base`` equal Helm's ParseInto
    (the SDK's strvals through the shim's ``parse_into``) of the flag Argo CD passes -- or
    imagemirror skips a parameter Helm refuses or reads as more than one key."""
    require_sdk()
    import helm_python

    params = set_values([{"name": name, "value": value, "forceString": force}])
    ((flag, assignment),) = params.flags
    try:
        want = shim_module().parse_into(json.loads(json.dumps(base)), assignment, flag == "--set-string", helm_python)
    except (helm_python.HelmError, NotImplementedError, ValueError):
        want = None
    if not params.ops:
        return  # skipped: Helm refuses it, or reads it as several assignments
    try:
        got = merge_user([base, params])
    except FileError:
        got = None  # refused, as Helm refuses it
    assert got == want, (assignment, base)


@pytest.mark.parametrize("value", ["{a,b}", "{1,true}", "{}", "{a\\,b}"])
def test_lists_are_not_escaped(value):
    assert clean_set_parameter(value) == value


@pytest.mark.parametrize("renderer", ["model", "sdk"])
def test_a_set_integer_prints_in_full_as_helms_int64(tmp_path, renderer):
    """``--set image.tag=20240101`` is an int64 in Helm and prints ``20240101``; the same number
    in a values file is a float and prints ``2.0240101e+07``.  The SDK takes values as JSON
    (floats): the renderer must still render the tag Helm renders."""
    if renderer == "sdk":
        require_sdk()
    root = tree(tmp_path / "repo")
    app = root / "apps" / "web.yaml"
    app.write_text(app.read_text().replace('value: "1.10"\n          forceString: true', "value: '20240101'"))
    out = imagemirror(
        "list", "--effective", "--offline", "--renderer", renderer, "--format", "json", "env", "apps", cwd=root
    )
    rows = json.loads(out.stdout)
    assert "quay.io/acme/web:20240101" in {r["written"] for r in rows}, rows
