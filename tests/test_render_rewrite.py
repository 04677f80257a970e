"""``rewrite --effective`` proves itself with real Helm: the release is rendered before and after
the planned edits; unless the only change is every image moved to its cache path with the same
tag, the file is left untouched and the difference reported."""

from __future__ import annotations

from render_support import REG, imagemirror, require_sdk

CHART = {
    "Chart.yaml": 'apiVersion: v2\nname: app\nversion: 1.0.0\nappVersion: "1.27"\n',
    "values.yaml": 'image:\n  registry: docker.io\n  repository: library/nginx\n  tag: ""\n',
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          env:
            - name: PULLED_FROM
              value: {{ .Values.image.registry | quote }}{{ if .Values.leak }}  # the registry leaks into the app{{ end }}
""",
}


def tree(tmp_path, leak: bool):
    root = tmp_path / "gitops"
    for rel, text in CHART.items():
        (root / "charts" / "app" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "charts" / "app" / rel).write_text(text)
    (root / ".git").mkdir()
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    values = root / "environments" / "prod" / "app" / "values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text(f"replicas: 1\nleak: {'true' if leak else 'false'}\n")
    (root / "apps").mkdir()
    (root / "apps" / "app.yaml").write_text("""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: app}
spec:
  destination: {namespace: web}
  sources:
    - repoURL: https://git.example.com/gitops.git
      path: charts/app
      helm: {valueFiles: [$values/environments/prod/app/values.yaml]}
    - {repoURL: https://git.example.com/gitops.git, ref: values}
""")
    return root, values


def test_a_rewrite_that_changes_more_than_images_is_refused_and_reported(tmp_path):
    require_sdk()
    root, values = tree(tmp_path, leak=False)
    # the chart's template also writes the registry into an environment variable
    before = values.read_bytes()
    out = imagemirror("rewrite", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=root)
    assert out.returncode == 3, out.stderr
    assert "the rewrite does not only move images onto the cache" in out.stderr
    assert "templates/deployment.yaml (document 1): the manifest changes beyond its images" in out.stderr
    assert "file left untouched" in out.stderr and "Traceback" not in out.stderr
    assert values.read_bytes() == before
    # the model cannot see templates: it writes (what check --effective then renders is the truth)
    model = imagemirror("rewrite", "--effective", "--offline", "--renderer", "model", "environments/prod", cwd=root)
    assert model.returncode == 0, model.stderr
    assert values.read_bytes() != before


def test_a_rewrite_that_only_moves_images_is_proven_and_written(tmp_path):
    require_sdk()
    root, values = tree(tmp_path, leak=False)
    CHART_NO_ENV = CHART["templates/deployment.yaml"].split("          env:")[0]
    (root / "charts" / "app" / "templates" / "deployment.yaml").write_text(CHART_NO_ENV)
    out = imagemirror("rewrite", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=root)
    assert out.returncode == 0, out.stderr
    assert f"registry: {REG}" in values.read_text()
    listed = imagemirror("list", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=root)
    assert f"{REG}/docker-hub/library/nginx:1.27" in listed.stdout  # the tag it rendered: appVersion
    assert (
        imagemirror("check", "--effective", "--offline", "--renderer", "sdk", "environments/prod", cwd=root).returncode
        == 0
    )
