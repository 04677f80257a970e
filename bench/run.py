#!/usr/bin/env python3
"""Run every imagemirror benchmark and print a table of ratios measured side by side.

    python3 bench/run.py                      # everything (warm needs .ci/install-system's servers)
    python3 bench/run.py --only rewrite,list,startup,scale   # a subset; also: warm, effective
    python3 bench/run.py --files 300 --quick  # a smaller corpus, fewer repetitions
    python3 bench/run.py --markdown           # the tables as Markdown (for RESULTS.md)

Absolute times drift on a shared machine, so each contender and its baseline run in the same
invocation, interleaved, and the ratio is the result.  Every rewrite run gets a fresh copy of
the corpus (the copy is not timed).  Times are wall-clock of a whole process
(``time.perf_counter`` around ``subprocess``), start-up included; CPU time (user + system,
pool workers included) and peak RSS come from ``os.wait4`` (RSS: largest single process of
the tree), and the whole tree's RSS from sampling ``/proc`` every 10 ms.

imagemirror is run both as the console script and as ``python -m imagemirror``: the current
tree is copied, as a non-editable install would lay it down, into a throw-away venv with
pip's console-script template; its dependencies come from this interpreter's site-packages
by a plain path entry, so no ``.pth`` hook of this machine runs at start-up (``--imagemirror
PATH`` uses an installed script instead).  Floors (``python -c "import click"``) and the
naive baselines run on that same venv interpreter.  ``warm`` and ``effective`` run
``bench/bench_warm.py`` and ``bench/bench_effective.py`` (owned by those commands' authors)
and print their tables.  Exit 1 when a target is not met.  Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHARED_CORPUS = REPO.parent / "shared" / "corpus"
GITOPS = REPO / "examples" / "gitops"
sys.path.insert(0, str(BENCH))
import gen_corpus  # noqa: E402

ALL = ("rewrite", "list", "startup", "scale", "warm", "effective")
SED_EXPR = f"s#registry: docker.io#registry: {gen_corpus.REGISTRY}/docker-hub#"


# ---------------------------------------------------------------- measuring


@dataclass
class Sample:
    seconds: float
    code: int
    max_rss_kb: int  # largest single process (wait4)
    tree_rss_kb: int = 0  # peak of the sum over the tree (sampled), when asked
    cpu: float = 0.0  # user + system seconds of the process and the children it waited for


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None

    @property
    def times(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu(self) -> float:
        """Median CPU seconds (user + system, pool workers included): steadier than wall time
        on a shared machine, and what the work costs whatever the number of cores."""
        return statistics.median(s.cpu for s in self.samples)

    def fmt(self) -> str:
        if self.failure:
            return f"FAILED: {self.failure}"
        if not self.samples:
            return "-"
        if len(self.samples) == 1:
            return f"{_t(self.min)}"
        return f"{_t(self.min)} / {_t(self.median)}"


def _t(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_kb(p)
        todo.extend(_children(p))
    return total


def run_once(argv: list[str], cwd: Path | None = None, sample_tree: bool = False, env=None) -> Sample:
    """Run one process to completion; wall time, exit code and peak RSS."""
    stderr = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    peak = [0]
    stop = threading.Event()
    if sample_tree:

        def sampler() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
                stop.wait(0.01)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if sample_tree:
        stop.set()
        thread.join()
    code = proc.returncode
    if code not in (0, 1):
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))}... exit {code}: {' | '.join(tail)}")
    return Sample(elapsed, code, usage.ru_maxrss, peak[0], usage.ru_utime + usage.ru_stime)


def measure(series: list[tuple], prepare=None, cwd=None, sample_tree=False) -> None:
    """Run each ``(series, argv, reps[, cwd])`` round-robin, so drift hits every contender alike.

    ``prepare(series)`` runs untimed before each run (e.g. copy a fresh corpus).
    """
    rounds = max(entry[2] for entry in series)
    for i in range(rounds):
        for s, argv, reps, *where in series:
            if i >= reps or s.failure:
                continue
            if prepare:
                prepare(s)
            try:
                s.samples.append(run_once(argv, cwd=where[0] if where else cwd, sample_tree=sample_tree))
            except RuntimeError as exc:
                s.failure = str(exc)


# ---------------------------------------------------------------- environment


@dataclass
class Env:
    python: str  # interpreter that runs floors, naive baselines and `-m imagemirror`
    script: str | None  # the console script
    workdir: Path
    note: str = ""


def setup_env(args, workdir: Path) -> Env:
    if args.imagemirror:
        script = str(Path(args.imagemirror).resolve())
        python = args.python or sys.executable
        return Env(python, script, workdir, f"console script given: {script}")
    venv = workdir / "venv"
    print(f"bench: installing the current tree into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies (click, ruamel.yaml) come from this interpreter's site-packages, put on
    # sys.path by a plain path line: the .pth files there (a development install's editable
    # finder, this machine's own hooks) are not run, as in a user's clean install.
    import sysconfig

    (Path(site) / "bench-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # What `pip install .` lays down, without needing a wheel build: the package copied into
    # site-packages and pip's console-script template (distlib's) pointing at the venv python.
    shutil.copytree(REPO / "imagemirror", Path(site) / "imagemirror", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([str(py), "-m", "compileall", "-q", str(Path(site) / "imagemirror")], check=True)
    script = venv / "bin" / "imagemirror"
    script.write_text(
        f"#!{py}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom imagemirror.cli import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    script.chmod(0o755)
    return Env(
        str(py),
        str(script),
        workdir,
        "current tree copied into a venv (as a non-editable install), pip's console-script template",
    )


def im_commands(env: Env) -> dict[str, list[str]]:
    """The ways to start imagemirror: console script and ``python -m``."""
    out = {"python -m imagemirror": [env.python, "-m", "imagemirror"]}
    if env.script:
        out = {"console script": [env.script], **out}
    return out


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import ruamel.yaml

        ruamel_v = ruamel.yaml.__version__
    except Exception:  # pragma: no cover
        ruamel_v = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "ruamel.yaml": ruamel_v,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# ---------------------------------------------------------------- table


@dataclass
class Row:
    bench: str
    ours: Series
    base: Series | None
    kind: str  # "faster" (base/ours >= target) or "within" (ours/base <= target) or "info"
    target: float | None
    note: str = ""

    def ratio(self, stat: str = "median") -> float | None:
        if (
            self.base is None
            or self.ours.failure
            or self.base.failure
            or not self.ours.samples
            or not self.base.samples
        ):
            return None
        a, b = getattr(self.ours, stat), getattr(self.base, stat)
        return b / a if self.kind == "faster" else a / b

    def verdict(self) -> str:
        r = self.ratio()
        if r is None or self.target is None:
            return ""
        ok = r >= self.target if self.kind == "faster" else r <= self.target
        return "met" if ok else "NOT met"


def render(rows: list[Row], markdown: bool) -> str:
    head = [
        "benchmark",
        "imagemirror min / median",
        "baseline",
        "baseline min / median",
        "ratio median (min)",
        "target",
        "",
    ]
    body, notes = [], []
    for r in rows:
        ratio, rmin = r.ratio(), r.ratio("min")
        if ratio is None:
            ratio_s = "-"
        else:
            ratio_s = f"{ratio:.2f}x {'faster' if r.kind == 'faster' else 'the time'} ({rmin:.2f})"
        tgt = "" if r.target is None else (f">= {r.target:g}x faster" if r.kind == "faster" else f"<= {r.target:g}x")
        name = r.bench
        if r.note:
            notes.append(f"[{len(notes) + 1}] {r.bench}: {r.note}")
            name += f" [{len(notes)}]"
        body.append(
            [
                name,
                r.ours.fmt(),
                "" if r.base is None else r.base.name,
                "" if r.base is None else r.base.fmt(),
                ratio_s,
                tgt,
                r.verdict(),
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n\n" + "  \n".join(notes)
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body), "", *notes])


# ---------------------------------------------------------------- benchmarks


def corpus(env: Env, files: int) -> tuple[Path, list[Path], int]:
    """A pristine generated corpus (cached per size inside the run's workdir)."""
    out = env.workdir / f"corpus-{files}"
    if not out.exists():
        written, total = gen_corpus.generate(out, files=files)
    else:
        written = sorted(out.rglob("values*.yaml"))
        total = sum(p.stat().st_size for p in written)
    return out, written, total


def fresh_copy(pristine: Path, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(pristine, work)


def changed_files(pristine: Path, work: Path) -> int:
    n = 0
    for p in pristine.rglob("values*.yaml"):
        if p.read_bytes() != (work / p.relative_to(pristine)).read_bytes():
            n += 1
    return n


def bench_rewrite(env: Env, args) -> list[Row]:
    pristine, files, total = corpus(env, args.files)
    work = env.workdir / "work"
    rels = [str(p.relative_to(pristine)) for p in files]
    cmds = im_commands(env)
    script_name, script = next(iter(cmds.items()))
    ours = Series("rewrite")
    sed = Series("sed -i (1 substitution)")
    naive = Series("naive ruamel round trip")
    reps = args.reps
    print(f"bench: rewrite over {len(files)} files, {total / 1e6:.1f} MB ...", file=sys.stderr)
    # Interleaved: imagemirror, then sed (run from inside the copy, relative paths keep argv short).
    measure(
        [
            (ours, [*script, "rewrite", str(work)], reps),
            (sed, ["sed", "-i", SED_EXPR, *rels], reps, work),
        ],
        prepare=lambda s: fresh_copy(pristine, work),
    )
    ours_changed = 0
    if not ours.failure:
        fresh_copy(pristine, work)
        run_once([*script, "rewrite", str(work)])
        ours_changed = changed_files(pristine, work)
    naive_changed = 0
    if not args.no_naive:
        print("bench: naive round-trip rewrite (slow) ...", file=sys.stderr)
        measure(
            [
                (
                    naive,
                    [env.python, str(BENCH / "naive.py"), "rewrite", gen_corpus.REGISTRY, str(work)],
                    args.naive_reps,
                )
            ],
            prepare=lambda s: fresh_copy(pristine, work),
        )
        if not naive.failure:
            naive_changed = changed_files(pristine, work)
    note = f"{len(files)} files, {total / 1e6:.1f} MB; files changed: imagemirror {ours_changed}, naive {naive_changed}"
    if ours.samples:
        note += f"; CPU (user+sys, median): imagemirror {ours.cpu:.2f} s"
        if naive.samples:
            note += f", naive {naive.cpu:.2f} s ({naive.cpu / ours.cpu:.1f}x)"
        if sed.samples:
            note += f", sed {sed.cpu:.2f} s"
    rows = [Row(f"rewrite {len(files)} files vs naive", ours, None if args.no_naive else naive, "faster", 25, note)]
    rows.append(Row(f"rewrite {len(files)} files vs sed", ours, sed, "within", 10))
    return rows


def bench_list(env: Env, args) -> list[Row]:
    if not SHARED_CORPUS.is_dir():
        return [Row("list ../shared/corpus", Series("list", failure=f"{SHARED_CORPUS} missing"), None, "info", None)]
    files = sorted(SHARED_CORPUS.rglob("values*.yaml"))
    total = sum(p.stat().st_size for p in files)
    script_name, script = next(iter(im_commands(env).items()))
    ours = Series("list")
    naive = Series("naive ruamel parse+walk")
    print(f"bench: list over {len(files)} real files ...", file=sys.stderr)
    measure(
        [
            (ours, [*script, "list", str(SHARED_CORPUS)], args.reps * 2),
            (naive, [env.python, str(BENCH / "naive.py"), "list", str(SHARED_CORPUS)], args.naive_reps),
        ]
    )
    note = f"{len(files)} real files, {total / 1e6:.1f} MB"
    if ours.samples and naive.samples:
        note += f"; CPU (user+sys, median): imagemirror {ours.cpu * 1000:.0f} ms, naive {naive.cpu:.2f} s"
    return [Row("list ../shared/corpus", ours, naive, "faster", 25, note)]


def bench_startup(env: Env, args) -> list[Row]:
    py = env.python
    reps = args.startup_reps
    floors = {
        "bare": Series("python -c pass"),
        "click": Series('python -c "import click"'),
        "libs": Series('python -c "import click; from ruamel.yaml import YAML"'),
    }
    plan: list[tuple[Series, list[str], int]] = [
        (floors["bare"], [py, "-c", "pass"], reps),
        (floors["click"], [py, "-c", "import click"], reps),
        (floors["libs"], [py, "-c", "import click; from ruamel.yaml import YAML"], reps),
    ]
    ours: dict[tuple[str, str], Series] = {}
    for how, argv in im_commands(env).items():
        for what, extra in (("--version", ["--version"]), ("check", ["check", str(GITOPS)])):
            s = Series(f"{what} ({how})")
            ours[(how, what)] = s
            plan.append((s, [*argv, *extra], reps))
    print(f"bench: start-up, {reps} runs each ...", file=sys.stderr)
    measure(plan, cwd=env.workdir)  # a neutral cwd: `-m` must not pick up the repository copy
    rows = []
    for (how, what), s in ours.items():
        if what == "--version":
            rows.append(Row(f"--version ({how})", s, floors["click"], "within", 1.3))
        else:
            rows.append(Row(f"check examples/gitops ({how})", s, floors["libs"], "within", 1.5))
    rows.append(Row("interpreter alone", floors["bare"], floors["click"], "info", None))
    # For scale: the machine's own interpreter runs its site-packages' .pth hooks at start-up.
    host = Series("python3 -c pass, machine's site")
    measure([(host, [sys.executable, "-c", "pass"], reps)], cwd=env.workdir)
    rows.append(
        Row(
            "interpreter, machine's site",
            host,
            floors["bare"],
            "info",
            None,
            "the host interpreter runs the .pth files in its site-packages (an editable install's finder, "
            "sandbox hooks); the bench venv does not, as in a clean user install",
        )
    )
    return rows


def bench_scale(env: Env, args) -> list[Row]:
    sizes = args.scale_sizes
    script_name, script = next(iter(im_commands(env).items()))
    rows = []
    first: tuple[int, float] | None = None
    for n in sizes:
        pristine, files, total = corpus(env, n)
        work = env.workdir / "work"
        s = Series(f"rewrite {n} files")
        reps = 1 if n >= 10_000 else min(args.reps, 3)
        print(f"bench: scale, {n} files ({total / 1e6:.1f} MB) ...", file=sys.stderr)
        measure(
            [(s, [*script, "rewrite", str(work)], reps)],
            prepare=lambda _s, pristine=pristine, work=work: fresh_copy(pristine, work),
            sample_tree=True,
        )
        if s.failure:
            rows.append(Row(f"scale {n}", s, None, "info", None))
            continue
        peak_max = max(x.max_rss_kb for x in s.samples) / 1024
        # sampled every 10 ms: a short run can end between samples, and the tree is at least its largest process
        peak_tree = max(max(x.tree_rss_kb, x.max_rss_kb) for x in s.samples) / 1024
        per_file = s.min / n * 1e3
        growth = ""
        if first is None:
            first = (n, s.min)
        else:
            growth = f"; time x{s.min / first[1]:.1f} for files x{n / first[0]:g}"
        note = (
            f"{total / 1e6:.1f} MB; {per_file:.2f} ms/file{growth}; CPU {s.cpu:.2f} s; "
            f"peak RSS {peak_max:.0f} MB largest process, {peak_tree:.0f} MB whole tree"
        )
        rows.append(Row(f"rewrite {n} files (scale)", s, None, "info", None, note))
    return rows


def _sub_bench(name: str, extra: list[str]) -> str:
    """Run another benchmark script of this folder (owned by its command's author) and
    return its table; it runs on this interpreter, with the tests' helpers it imports."""
    script = BENCH / name
    if not script.is_file():
        return f"{name}: not present (skipped)"
    print(f"bench: {name} ...", file=sys.stderr)
    proc = subprocess.run([sys.executable, str(script), *extra], capture_output=True, text=True, cwd=REPO)
    out = proc.stdout.rstrip()
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        out += f"\n({name} exited {proc.returncode}: {' | '.join(tail)})"
    return out


def bench_warm(env: Env, args) -> str:
    return _sub_bench("bench_warm.py", args.warm_args)


def bench_effective(env: Env, args) -> str:
    return _sub_bench("bench_effective.py", args.effective_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--files", type=int, default=1000, help="rewrite corpus size (default 1000, ~13.5 MB)")
    parser.add_argument("--reps", type=int, help="runs per contender (rewrite, list; default 5)")
    parser.add_argument("--naive-reps", type=int, default=1, help="runs of the (slow) naive baselines")
    parser.add_argument("--startup-reps", type=int, help="runs per start-up contender (default 40)")
    parser.add_argument("--scale-sizes", help="corpus sizes for the scale benchmark (default 100,1000,10000)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive rewrite baseline (25 s)")
    parser.add_argument(
        "--quick", action="store_true", help="defaults for a fast pass: reps 2, start-up 15, scale 100,1000"
    )
    parser.add_argument(
        "--imagemirror", help="an installed imagemirror console script to use (default: install into a temp venv)"
    )
    parser.add_argument("--python", help="with --imagemirror: the interpreter for floors and baselines")
    parser.add_argument("--warm-args", default="", help="arguments passed to bench/bench_warm.py (space-separated)")
    parser.add_argument("--effective-args", default="", help="arguments passed to bench/bench_effective.py")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="also write raw samples as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quick = {"reps": 2, "startup_reps": 15, "scale_sizes": "100,1000"}
    full = {"reps": 5, "startup_reps": 40, "scale_sizes": "100,1000,10000"}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:  # an explicit option wins over --quick
            setattr(args, key, value)
    args.scale_sizes = [int(x) for x in args.scale_sizes.split(",") if x]
    args.warm_args = args.warm_args.split()
    args.effective_args = args.effective_args.split()
    chosen = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(chosen) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    workdir = Path(tempfile.mkdtemp(prefix="imagemirror-bench-"))
    try:
        env = setup_env(args, workdir)
        rows: list[Row] = []
        others: list[str] = []
        for name in chosen:
            if name == "rewrite":
                rows += bench_rewrite(env, args)
            elif name == "list":
                rows += bench_list(env, args)
            elif name == "startup":
                rows += bench_startup(env, args)
            elif name == "scale":
                rows += bench_scale(env, args)
            elif name == "warm":
                others.append(bench_warm(env, args))
            elif name == "effective":
                others.append(bench_effective(env, args))
        m = machine()
        header = (
            f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, ruamel.yaml {m['ruamel.yaml']}, "
            f"load average at end {m['loadavg']}\nimagemirror: {env.note}"
        )
        print(header if not args.markdown else header.replace("\n", "  \n"))
        print()
        if rows:
            print(render(rows, args.markdown))
        for table in others:
            print()
            print(table)
        if args.json:
            data = {
                "machine": m,
                "rows": [
                    {
                        "bench": r.bench,
                        "note": r.note,
                        "ours": {
                            "name": r.ours.name,
                            "times": r.ours.times,
                            "failure": r.ours.failure,
                            "cpu": [s.cpu for s in r.ours.samples],
                            "max_rss_kb": [s.max_rss_kb for s in r.ours.samples],
                            "tree_rss_kb": [s.tree_rss_kb for s in r.ours.samples],
                        },
                        "base": None
                        if r.base is None
                        else {
                            "name": r.base.name,
                            "times": r.base.times,
                            "cpu": [s.cpu for s in r.base.samples],
                            "failure": r.base.failure,
                        },
                        "ratio_median": r.ratio(),
                        "ratio_min": r.ratio("min"),
                        "target": r.target,
                        "kind": r.kind,
                        "verdict": r.verdict(),
                    }
                    for r in rows
                ],
                "others": others,
            }
            args.json.write_text(json.dumps(data, indent=2))
        failed = any(r.verdict() == "NOT met" or r.ours.failure for r in rows)
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"bench: work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
