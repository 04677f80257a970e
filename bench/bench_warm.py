#!/usr/bin/env python3
"""Benchmark ``imagemirror warm``: the registry engine vs. pulling one by one through a Docker
engine, both through a cold pull-through cache; and peak memory warming one large image.

    python3 bench/bench_warm.py                 # 40 x (3 x 64 KiB), then 20 x 6 MiB, a 1 GiB image
    python3 bench/bench_warm.py --big-mib 256   # a smaller large image
    python3 bench/bench_warm.py --no-docker     # skip the podman baseline
    python3 bench/bench_warm.py --rounds 1      # one cold run per set and contender (default 3)

Real components on 127.0.0.1 (as in tests/integration): Debian's docker-registry as the
upstream, a second one as the pull-through proxy (the cache, wiped before every run so each
set, contender and round starts cold; podman gets a fresh image store each time), nginx
routing ``/v2/docker-hub/...`` to it, podman's Docker API for the baseline.  Both contenders run as the CLI (``python -m imagemirror warm``, start-up included)
on the same values file; wall-clock by ``time.perf_counter``, peak RSS by ``os.wait4``.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "integration")]

import oci  # noqa: E402
import registries as R  # noqa: E402


SMALL_TARGET = 8.0  # issue 6: at least 8x faster for the small images
LARGE_TARGET = 4.0  # and at least 4x for the 6 MiB ones


def log(message: str) -> None:
    print(f"bench_warm: {message}", file=sys.stderr, flush=True)


# A small launcher forks the CLI and reports its peak RSS: ``ru_maxrss`` of a child forked
# straight from this (large) process would count this process's pages mapped before exec.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write(f"\\nMAXRSS {usage.ru_maxrss} CPU {usage.ru_utime + usage.ru_stime}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli(args: list[str], env: dict, cwd: Path) -> tuple[int, float, int, str, float]:
    """Run the CLI; return (exit code, seconds, peak RSS in bytes, stdout tail, CPU seconds)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "imagemirror", "warm", *args],
        cwd=cwd,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )
    seconds = time.perf_counter() - start
    out = proc.stdout.decode(errors="replace").strip()
    fields = proc.stderr.decode().rsplit("MAXRSS ", 1)[1].split()
    rss, cpu = int(fields[0]) * 1024, float(fields[2])
    return proc.returncode, seconds, rss, out.splitlines()[-1] if out else "", cpu


def cpu_seconds(servers: list[R.Server]) -> float:
    """CPU (user + system) used so far by these servers' processes and their live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    todo = [s.process.pid for s in servers if s.process is not None]
    total = 0
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total / tick


def fresh_cache(proxy: R.Server, binary: str) -> R.Server:
    """Stop the proxy, wipe its storage, start it again on the same port: a cold cache."""
    proxy.stop()
    storage = Path(proxy.extra["storage"])
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(parents=True)
    return R.restart(proxy, storage.parent, binary)


def write_values(folder: Path, registry: str, refs: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"img{i}:\n  image: {registry}/docker-hub/{ref}\n" for i, ref in enumerate(refs)]
    (folder / "values.yaml").write_text("".join(lines))
    (folder / ".imagemirror.yaml").write_text(f"registry: {registry}\n")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=40, help="images of 3 x 64 KiB layers")
    parser.add_argument("--large", type=int, default=20, help="images of 6 MiB (2 x 3 MiB layers)")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the one large image (0: skip)")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="cold runs per set and contender (median reported)")
    parser.add_argument("--no-docker", action="store_true", help="skip the podman baseline")
    args = parser.parse_args()

    registry_bin = R.find_binary("docker-registry", "/usr/bin/docker-registry")
    nginx_bin = R.find_binary("nginx", "/usr/sbin/nginx")
    podman_bin = R.find_binary("podman")
    if not registry_bin or not nginx_bin:
        print("warm: docker-registry or nginx missing (bash .ci/install-system) -- skipped")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    servers: list[R.Server] = []
    try:
        upstream = R.start_registry(work, "upstream", binary=registry_bin)
        servers.append(upstream)
        proxy = R.start_registry(work, "proxy", binary=registry_bin, proxy_remote=upstream.url)
        servers.append(proxy)
        front = R.start_nginx(work, {"docker-hub": proxy.url}, binary=nginx_bin)
        servers.append(front)

        log(f"building and pushing {args.small} small and {args.large} large images ...")
        refs = []

        def build_push(spec):
            kind, i = spec
            pusher = oci.Pusher(upstream.url)
            try:
                if kind == "small":
                    img = oci.image(f"small-{i}", (64 << 10,) * 3)
                    pusher.push_image(f"bench/small{i}", "1.0", img)
                    return f"bench/small{i}:1.0", img.size
                img = oci.image(f"large-{i}", (3 << 20,) * 2)
                pusher.push_image(f"bench/large{i}", "1.0", img)
                return f"bench/large{i}:1.0", img.size
            finally:
                pusher.close()

        specs = [("small", i) for i in range(args.small)] + [("large", i) for i in range(args.large)]
        with ThreadPoolExecutor(2) as pool:
            built = list(pool.map(build_push, specs))
        env = {"DOCKER_CONFIG": str(work / "no-docker-config")}
        podman = None
        if args.no_docker or not podman_bin:
            log("docker baseline skipped (podman missing or --no-docker)")

        # Each set on its own, each contender on a fresh (cold) proxy storage.
        sets = [
            ("small", f"{args.small} images of 3 x 64 KiB", built[: args.small], SMALL_TARGET),
            ("large", f"{args.large} images of 6 MiB (2 x 3 MiB)", built[args.small :], LARGE_TARGET),
        ]
        results = []
        for key, label, items, target in sets:
            if not items:
                continue
            refs = [r for r, _ in items]
            total = sum(s for _, s in items)
            values = write_values(work / f"values-{key}", front.host, refs)
            runs: dict[str, list[tuple[float, int, float, float]]] = {"registry": [], "docker": []}
            for round_ in range(args.rounds):
                proxy = fresh_cache(proxy, registry_bin)
                servers[1] = proxy
                log(f"{label}, round {round_ + 1}/{args.rounds}: registry engine, cold cache ...")
                before = cpu_seconds([upstream, proxy, front])
                code, seconds, rss, tail, cpu = run_cli(
                    [str(values), "--insecure", "--jobs", str(args.jobs)], env, values
                )
                if code != 0:
                    raise SystemExit(f"registry engine failed ({code}): {tail}")
                runs["registry"].append((seconds, rss, cpu, cpu_seconds([upstream, proxy, front]) - before))
                if args.no_docker or not podman_bin:
                    continue
                proxy = fresh_cache(proxy, registry_bin)
                servers[1] = proxy
                if podman is not None:  # podman's own image store must be cold too
                    podman.stop()
                    servers.remove(podman)
                podman = R.start_podman(work / f"podman-{key}-{round_}", [front.host], binary=podman_bin)
                servers.append(podman)
                log(f"{label}, round {round_ + 1}/{args.rounds}: docker engine (podman), one by one, cold cache ...")
                before = cpu_seconds([upstream, proxy, front])
                before_podman = cpu_seconds([podman])
                code, seconds, rss, tail, cpu = run_cli(
                    [str(values), "--engine", "docker", "--jobs", "1"], {**env, "DOCKER_HOST": podman.url}, values
                )
                if code != 0:
                    raise SystemExit(f"docker engine failed ({code}): {tail}")
                runs["docker"].append(
                    (
                        seconds,
                        rss,
                        cpu + cpu_seconds([podman]) - before_podman,
                        cpu_seconds([upstream, proxy, front]) - before,
                    )
                )
            results.append((label, total, target, runs))

        big = None
        if args.big_mib:
            log(f"building a {args.big_mib} MiB image ...")
            layer = oci.big_tar_layer(work / "big.tar", args.big_mib << 20)
            img = oci.image("big", (1024,), extra_layers=[(layer, layer.digest)])
            pusher = oci.Pusher(upstream.url)
            pusher.push_image("bench/big", "1.0", img)
            pusher.close()
            (work / "big.tar").unlink()
            proxy = fresh_cache(proxy, registry_bin)
            servers[1] = proxy
            big_values = write_values(work / "big-values", front.host, ["bench/big:1.0"])
            log("registry engine, one large image, cold cache ...")
            code, big_s, big_rss, tail, _ = run_cli([str(big_values), "--insecure"], env, big_values)
            if code != 0:
                raise SystemExit(f"large image failed ({code}): {tail}")
            big = (img.size, big_s, big_rss)

        mib = 1 << 20
        names = {"registry": f"registry engine (--jobs {args.jobs})", "docker": "docker engine, one by one (podman)"}
        for label, total, target, runs in results:
            print(
                f"warm: {label} ({total / mib:.1f} MiB) through a cold docker-registry proxy cache behind nginx, "
                f"{args.rounds} round(s), each contender on a fresh cache every round"
            )
            print(
                f"  {'contender':<36} {'median s':>8} {'min s':>7} {'MiB/s':>6} {'peak RSS':>10} "
                f"{'own CPU':>8} {'cache CPU':>9}"
            )
            medians = {}
            for kind, rows in runs.items():
                if not rows:
                    continue
                med = statistics.median(r[0] for r in rows)
                medians[kind] = med
                print(
                    f"  {names[kind]:<36} {med:>8.2f} {min(r[0] for r in rows):>7.2f} {total / mib / med:>6.1f} "
                    f"{max(r[1] for r in rows) / mib:>6.1f} MiB {statistics.median(r[2] for r in rows):>7.2f}s "
                    f"{statistics.median(r[3] for r in rows):>8.2f}s"
                )
            if "docker" in medians:
                ratio = medians["docker"] / medians["registry"]
                verdict = "met" if ratio >= target else "NOT met"
                print(
                    f"  ratio of medians: docker one by one / registry engine = {ratio:.1f}x "
                    f"(target >= {target:g}x: {verdict})"
                )
        print(
            "  (own CPU: the CLI process, plus podman's service for the docker engine; cache CPU: upstream "
            "registry + proxy + nginx during the run)"
        )
        if big is not None:
            size, seconds, rss = big
            verdict = "ok" if rss < 100 * mib else "OVER TARGET"
            print(
                f"warm: one {size / mib:.0f} MiB image (registry engine): {seconds:.1f} s, "
                f"{size / mib / seconds:.0f} MiB/s, peak RSS {rss / mib:.1f} MiB "
                f"(target < 100 MiB: {verdict}; RSS / image size = {rss / size:.3f})"
            )
        return 0
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
