"""Real published values files (the shared corpus) as chart defaults: with an empty overlay,
``plan_for_file`` must move every image they name onto the cache -- lists (Helm replaces them
whole), globals, umbrella nesting and all -- verify, and change nothing on a second run."""

import pytest

from imagemirror.charts.discover import clear_cache
from imagemirror.charts.plan import make_fetcher, plan_for_file
from imagemirror.config import load_settings

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
NAMES = [
    "bitnami-wordpress",
    "erpnext",
    "rocketchat",
    "kube-prometheus-stack",
    "argo-cd",
    "cert-manager",
    "umb-nextcloud-pando85",
    "traefik",
    "airflow",
    "nextcloud",
    "env-rocketchat-gin-g",
]


@pytest.mark.parametrize("name", NAMES)
def test_corpus_chart_defaults_are_overridden(corpus_dir, tmp_path, name):
    clear_cache()
    chart = tmp_path / "charts" / name
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n")
    (chart / "values.yaml").write_bytes((corpus_dir / name / "values.yaml").read_bytes())
    overlay = tmp_path / "env" / "prod.yaml"
    overlay.parent.mkdir()
    overlay.write_text("# production overlay\n")
    (tmp_path / ".imagemirror.yaml").write_text(f'registry: {REG}\ncharts:\n  "env/*.yaml": charts/{name}\n')
    settings = load_settings(tmp_path / ".imagemirror.yaml")
    fetcher = make_fetcher(settings, tmp_path, offline=True)
    plan = plan_for_file(overlay, overlay.read_text(), settings, fetcher)
    before = [i for v in plan.before for i in v.images]
    assert before, "the corpus file names images"
    left = [(i.path, i.written) for v in plan.after for i in v.images if i.status == "unmirrored"]
    assert left == []
    assert plan.text.startswith("# production overlay\n")
    again = plan_for_file(overlay, plan.text, settings, fetcher)
    assert not again.changed
    clear_cache()
