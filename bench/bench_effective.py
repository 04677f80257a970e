#!/usr/bin/env python3
"""Benchmark ``check --effective`` / ``rewrite --effective`` on a GitOps repository of N releases.

    python3 bench/bench_effective.py              # 60 releases (30 WordPress, 30 ERPNext)
    python3 bench/bench_effective.py --releases 200

Charts are served as a classic chart repository over HTTP on 127.0.0.1 (tests/integration/
charts.py), each release an Argo CD Application with a ``$values`` overlay.  Runs the CLI
(start-up included): check with a cold cache (fetching), check with the cache, check
``--offline``, ``rewrite --effective``, and check again.  Wall clock by ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "integration")]

from charts import ChartRepo, erpnext, wordpress  # noqa: E402

REG = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def run(args, cwd, env):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "imagemirror", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=60)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = ChartRepo(tmp / "www")
        try:
            server.add(wordpress("23.1.0", security=True))
            server.add(erpnext("8.0.2"))
            root = tmp / "gitops"
            (root / ".git").mkdir(parents=True)
            (root / ".imagemirror.yaml").write_text(f"registry: {REG}\n")
            for i in range(opts.releases):
                chart = "wordpress" if i % 2 == 0 else "erpnext"
                (root / "apps").mkdir(exist_ok=True)
                (root / "apps" / f"app-{i}.yaml").write_text(
                    "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                    f"metadata: {{name: app-{i}}}\nspec:\n  sources:\n"
                    f"    - repoURL: {server.url}\n      chart: {chart}\n      targetRevision: '*'\n"
                    f"      helm:\n        valueFiles: [$values/envs/app-{i}.yaml]\n"
                    "    - repoURL: https://git.example/gitops.git\n      ref: values\n"
                )
                overlay = (
                    "image:\n  repository: bitnami/wordpress\n  tag: 6.7.0\nmariadb:\n  auth: {database: x}\n"
                    if chart == "wordpress"
                    else "image:\n  repository: frappe/erpnext\n  tag: v15.40.0\n"
                )
                (root / "envs").mkdir(exist_ok=True)
                (root / "envs" / f"app-{i}.yaml").write_text(overlay)
            env = {**os.environ, "PYTHONPATH": str(REPO), "IMAGEMIRROR_CACHE_DIR": str(tmp / "cache")}
            rows = []
            for label, args in (
                ("check --effective (cold cache, fetching)", ["check", "--effective", "."]),
                ("check --effective (cached)", ["check", "--effective", "."]),
                ("check --effective --offline", ["check", "--effective", "--offline", "."]),
                ("rewrite --effective --offline", ["rewrite", "--effective", "--offline", "."]),
                ("check --effective --offline (after)", ["check", "--effective", "--offline", "."]),
            ):
                seconds, out = run(args, root, env)
                rows.append((label, seconds, out.returncode))
            print(f"{opts.releases} releases, {len(server.requests)} HTTP requests to the chart repository")
            for label, seconds, code in rows:
                print(f"  {label:<42} {seconds:6.2f} s  exit {code}")
        finally:
            server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
