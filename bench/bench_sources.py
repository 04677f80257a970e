"""``check`` on a repository of manifests + values files vs ``check`` on its values files alone.

Issue 13's target: 2,000 manifests and 500 values files checked within 2x of today's
``check`` on the 500 values files alone.  The generated repository: values files with a
dozen image maps each (bitnami-style, strings, containers lists) and manifests of one to
three documents (Deployment, CronJob, Service, ConfigMap), a kustomization and a HelmRelease
with inline values per 50 manifests.  ``--manifests N --values M`` scale it (defaults: the
issue's sizes); each command runs ``--rounds`` times, the median wall time is reported.

    python3 bench/bench_sources.py --manifests 400 --values 100
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REG = "123456789012.dkr.ecr.af-south-1.amazonaws.com"

VALUES = """\
# generated values file {i}
image:
  registry: docker.io
  repository: bitnami/app{i}
  tag: 1.{i}.0
metrics:
  image:
    registry: quay.io
    repository: prometheus/exporter{i}
    tag: v0.{i}
sidecars:
  - name: proxy
    image: ghcr.io/org/proxy:{i}
  - name: log
    image: "registry.k8s.io/logger:v{i}"
resources:
  limits: {{cpu: 100m, memory: 128Mi}}
"""

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  labels: {{app: app{i}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: app{i}}}
  template:
    metadata:
      labels: {{app: app{i}}}
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: app
          image: ghcr.io/org/app{i}:1.0.{i}
          ports: [{{containerPort: 8080}}]
        - name: cache
          image: redis:7.{i}
---
apiVersion: v1
kind: Service
metadata:
  name: app{i}
spec:
  selector: {{app: app{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""

CRON = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: job{i}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: quay.io/org/job{i}:v{i}
          restartPolicy: OnFailure
"""

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: rel{i}
spec:
  chart:
    spec: {{chart: app, sourceRef: {{kind: HelmRepository, name: repo}}}}
  values:
    image:
      repository: ghcr.io/org/rel{i}
      tag: "{i}"
"""


def generate(root: Path, manifests: int, values: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
    for i in range(values):
        d = root / "environments" / f"env{i % 5}" / f"app{i}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "values.yaml").write_text(VALUES.format(i=i))
    for i in range(manifests):
        d = root / "apps" / f"group{i // 50}"
        d.mkdir(parents=True, exist_ok=True)
        template = (DEPLOY, CRON, RELEASE)[i % 3] if i % 50 else RELEASE
        (d / f"m{i}.yaml").write_text(template.format(i=i))
        if i % 50 == 0:
            names = "\n".join(f"  - m{j}.yaml" for j in range(i, min(i + 50, manifests)))
            (d / "kustomization.yaml").write_text(
                f"resources:\n{names}\nimages:\n  - name: busybox\n    newTag: '1.37'\n")


def timed(args, cwd, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "imagemirror", *args], cwd=cwd, capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        times.append(time.perf_counter() - start)
        assert done.returncode in (0, 1), done.stderr
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=2000)
    parser.add_argument("--values", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full, only = Path(tmp, "full"), Path(tmp, "values-only")
        generate(full, opts.manifests, opts.values)
        shutil.copytree(full / "environments", only / "environments")
        shutil.copy(full / ".imagemirror.yaml", only / ".imagemirror.yaml")
        base = timed(["check", "--format", "json", "."], only, opts.rounds)
        both = timed(["check", "--format", "json", "."], full, opts.rounds)
    print(f"check, {opts.values} values files alone: {base * 1000:.0f} ms (median of {opts.rounds})")
    print(f"check, + {opts.manifests} manifests: {both * 1000:.0f} ms -> {both / base:.2f}x (target <= 2x)")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
