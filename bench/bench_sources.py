"""``check`` on a repository of manifests + values files vs ``check`` on its values files alone.

Issue 13's target: 2,000 manifests and 500 values files checked within 2x of today's
``check`` on the 500 values files alone.  The generated repository: the values files of
``gen_corpus.py`` and manifests (Deployment + Service, CronJob, HelmRelease with inline values)
grouped in apps with a kustomization each (see ``generate``).  ``--manifests N --values M`` scale it (defaults: the
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
    """``values`` files from ``gen_corpus`` (the values files ``check`` is benchmarked on
    elsewhere: bitnami-style, 13.5 KB on average), and ``manifests`` manifests laid out as
    apps of four (a Deployment + Service file, a CronJob, a HelmRelease with inline values,
    and a kustomization listing them with an ``images:`` entry)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gen_corpus import generate as values_corpus

    root.mkdir(parents=True, exist_ok=True)
    values_corpus(root / "environments", files=values)
    shutil.move(str(root / "environments" / ".imagemirror.yaml"), str(root / ".imagemirror.yaml"))
    for i in range(manifests):
        app = root / "apps" / f"team{i // 200}" / f"app{i // 3}"
        app.mkdir(parents=True, exist_ok=True)
        name, template = (("deployment.yaml", DEPLOY), ("cronjob.yaml", CRON), ("release.yaml", RELEASE))[i % 3]
        (app / name).write_text(template.format(i=i))
        if i % 3 == 2 or i == manifests - 1:
            listed = sorted(p.name for p in app.iterdir() if p.name != "kustomization.yaml")
            (app / "kustomization.yaml").write_text(
                "resources:\n"
                + "".join(f"  - {n}\n" for n in listed)
                + "images:\n  - name: busybox\n    newTag: '1.37'\n"
            )


def timed(args, cwd, rounds: int) -> tuple[float, float]:
    """-> (median wall time, median CPU time of the process tree) over ``rounds`` runs."""
    import resource

    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "imagemirror", *args],
            cwd=cwd,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert done.returncode in (0, 1), done.stderr
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=2000)
    parser.add_argument("--values", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full, only = Path(tmp, "full"), Path(tmp, "values-only")
        generate(full, opts.manifests, opts.values)
        shutil.copytree(full / "environments", only / "environments")  # today's check: the values alone
        shutil.copy(full / ".imagemirror.yaml", only / ".imagemirror.yaml")
        base, base_cpu = timed(["check", "--format", "json", "."], only, opts.rounds)
        both, both_cpu = timed(["check", "--format", "json", "."], full, opts.rounds)
    print(
        f"check, {opts.values} values files alone: {base * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms CPU "
        f"(median of {opts.rounds})"
    )
    print(
        f"check, + {opts.manifests} manifests: {both * 1000:.0f} ms wall, {both_cpu * 1000:.0f} ms CPU -> "
        f"{both / base:.2f}x wall, {both_cpu / base_cpu:.2f}x CPU (target <= 2x)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
