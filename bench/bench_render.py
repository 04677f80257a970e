#!/usr/bin/env python3
"""Cost of rendering releases with real Helm: per release, and ``check --effective`` on N.

    python3 bench/bench_render.py                 # 10 releases, every renderer
    python3 bench/bench_render.py --releases 300  # the issue's size (minutes; not on a shared box)

1. In process, per chart of ../shared/charts (wordpress, erpnext, argo-cd, keycloak): the wall
   time of ``render_release`` with the SDK -- the render, the sentinel render (provenance) and
   the manifest walk -- median of 5, chart load included (one per release, as in a run).
2. ``check --effective --offline`` through the CLI (start-up included) on a GitOps tree of N
   Argo CD Applications, alternating wordpress and erpnext (charts read in place through a
   symlink), with ``--renderer sdk``, ``--renderer helm`` (tests/helm_shim/helm on PATH: a
   Python process per ``helm template`` call, so it over-states a real binary's cost) and
   ``--renderer model``; and ``check`` without ``--effective`` (must not import the SDK).

Both report CPU time beside wall time (in process: ``process_time``, which counts the Go
threads of the SDK; the CLI: the child's user + system time), the steadier figure on a shared
machine.  ``check --effective`` renders releases in threads, one per core.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from render_support import CHARTS, imagemirror, required_values, shim_bin, write_tree  # noqa: E402


def per_release(folder: str, rounds: int = 5) -> tuple[float, float, int]:
    from imagemirror.charts.discover import ChartRef, Layer, Release
    from imagemirror.charts.fetch import Fetcher
    from imagemirror.charts.render import Sdk
    from imagemirror.charts.rendered import render_release

    values = CHARTS / f"{folder}.render-values.yaml"
    layers = [Layer(values.name, values)] if values.is_file() else []
    release = Release(folder.rsplit("-", 1)[0], ChartRef(name=folder, path=CHARTS / folder), layers, "bench")
    fetcher = Fetcher(offline=True)
    model = fetcher.chart(release.chart)
    sdk = Sdk()
    times, cpu, n = [], [], 0
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        rendered = render_release(release, model, fetcher, sdk)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        n = len(rendered.images)
    return statistics.median(times), statistics.median(cpu), n


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--releases", type=int, default=10)
    args = ap.parse_args()
    if not (CHARTS / "RENDERED.tsv").is_file():
        print(f"bench_render: no charts at {CHARTS}", file=sys.stderr)
        return 2
    print("per release (SDK, render + provenance render + walk, median of 5):")
    for folder in ("wordpress-27.0.0", "erpnext-8.0.75", "argo-cd-10.1.1", "keycloak-25.4.0"):
        seconds, cpu, images = per_release(folder)
        print(f"  {folder:<22} {seconds * 1000:7.1f} ms  CPU {cpu * 1000:7.1f} ms  ({images} images)")
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        root = Path(tmp) / "gitops"
        apps = {}
        for i in range(args.releases):
            folder = ("wordpress-27.0.0", "erpnext-8.0.75")[i % 2]
            apps[f"app{i:03d}"] = (folder, required_values(folder), None)
        write_tree(root, apps)
        shim = shim_bin(Path(tmp))
        print(f"check --effective --offline on {args.releases} releases (CLI, start-up included):")
        for label, extra, prefix in (
            ("sdk", ["--renderer", "sdk"], None),
            ("helm (shim)", ["--renderer", "helm"], shim),
            ("model", ["--renderer", "model"], None),
        ):
            start, start_cpu = time.perf_counter(), child_cpu()
            out = imagemirror(
                "check", "--effective", "--offline", *extra, "environments/prod", cwd=root, path_prefix=prefix
            )
            seconds, cpu = time.perf_counter() - start, child_cpu() - start_cpu
            print(
                f"  {label:<12} {seconds:7.2f} s  {seconds / args.releases * 1000:7.1f} ms/release  "
                f"CPU {cpu / args.releases * 1000:7.1f} ms/release  (exit {out.returncode})"
            )
        start = time.perf_counter()
        out = imagemirror("check", "environments/prod", cwd=root)
        print(f"  without --effective {time.perf_counter() - start:6.2f} s  (exit {out.returncode})")
        code = (
            "import sys, imagemirror.cli as c\ntry:\n    c.main(['check', 'environments/prod'])\n"
            "except SystemExit:\n    pass\nprint('helm_python' in sys.modules, file=sys.stderr)"
        )
        probe = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        print(f"  SDK imported by check without --effective: {probe.stderr.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
