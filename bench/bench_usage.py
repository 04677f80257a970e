#!/usr/bin/env python3
"""Benchmark ``imagemirror ecr usage`` on a large cache, against the moto emulator.

    python3 bench/bench_usage.py                     # 10,000 images in 40 repositories
    python3 bench/bench_usage.py --images 2000 --repos 10 --rounds 1

moto's server runs in this process (with tests/integration/moto_ecr_ext.py: paginated
DescribeImages, sizes, pull times); the images are put straight into its backend
(``seed_images``), then ``python -m imagemirror ecr usage --format json`` runs as the CLI
(start-up included), without and with PATHs (examples/gitops/environments/prod).  Reported:
wall time and the CLI process's own CPU time (medians of the rounds; the emulator's CPU, in
this process, is not in the second), peak RSS of the CLI process (``os.wait4``) and the number of
DescribeImages requests the emulator answered.  Not a test: nothing here asserts a time.
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
from datetime import datetime, timedelta, UTC
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests")]

from integration import moto_ecr_ext as ext  # noqa: E402

ACCOUNT, REGION = "123456789012", "eu-west-1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repos", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    srv = ext.Server()
    calls = {"n": 0}
    original = ext.ECRResponse.describe_images

    def counted(self):
        calls["n"] += 1
        return original(self)

    ext.ECRResponse.describe_images = counted
    try:
        ecr = srv.client("ecr", REGION)
        ecr.create_pull_through_cache_rule(
            ecrRepositoryPrefix="docker-hub", upstreamRegistry="ecr-public", upstreamRegistryUrl="public.ecr.aws"
        )
        now = datetime.now(UTC)
        per = args.images // args.repos
        t0 = time.perf_counter()
        for r in range(args.repos):
            ext.seed_images(
                REGION,
                f"docker-hub/bench/app{r:03d}",
                [
                    {"tag": f"v{i}", "size": 1_000_000 + i, "pulled": now - timedelta(days=i % 120) if i % 3 else None}
                    for i in range(per)
                ],
                account=ACCOUNT,
            )
        seeded = time.perf_counter() - t0
        work = Path(tempfile.mkdtemp(prefix="bench-usage-"))
        shutil.copytree(REPO / "examples" / "gitops", work / "gitops")
        cfg = work / "gitops" / ".imagemirror.yaml"
        cfg.write_text(cfg.read_text().replace("af-south-1", REGION))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_ENDPOINT_URL=srv.url,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONPATH=str(REPO),
        )
        print(f"{per * args.repos} images in {args.repos} repositories (seeded in {seeded:.1f}s)")
        for label, extra in (("no PATH", []), ("environments/prod", ["environments/prod"])):
            times, rss, cpu = [], [], []
            calls["n"] = 0
            for _ in range(args.rounds):
                start = time.perf_counter()
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "imagemirror",
                        "ecr",
                        "usage",
                        "--region",
                        REGION,
                        "--format",
                        "json",
                        *extra,
                    ],
                    cwd=work / "gitops",
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                _, status, usage = os.wait4(proc.pid, 0)
                times.append(time.perf_counter() - start)
                rss.append(usage.ru_maxrss / 1024)
                cpu.append(usage.ru_utime + usage.ru_stime)
                if os.waitstatus_to_exitcode(status) != 0:
                    print(proc.stderr.read().decode(), file=sys.stderr)
                    return 1
            print(
                f"usage {label:<18} median {statistics.median(times):.2f}s (CLI CPU {statistics.median(cpu):.2f}s)  peak RSS {max(rss):.0f} MiB  "
                f"DescribeImages requests per run {calls['n'] // args.rounds}"
            )
        shutil.rmtree(work)
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
