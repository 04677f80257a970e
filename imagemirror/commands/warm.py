"""``imagemirror warm``: pull every mirrored image (and the target of every unmirrored one)
through the cache, so that the cache is full before any node pulls.

Results on stdout (a summary table, or ``--format json``), progress on stderr (a bar on a
terminal, plain lines otherwise).  Exit 1 when an image failed, 3 when a file could not be
read, 2 for bad options.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter

from .. import output
from ..errors import ConfigError, Exit
from ..inventory import Source, scan
from ..reference import InvalidReference, parse
from ..registry.client import RegistryClient
from ..registry.engine import DockerEngine
from ..rules import MIRRORED, UNMIRRORED
from ..warm import ImageResult, Target, targets_from_refs, warm_images, warm_with_engine
from .clients import credential_store
from .common import report_errors, settings_for
from .pin import StderrResults, pin_paths

PLATFORM = re.compile(r"all\Z|[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?\Z")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class LineProgress:
    """Plain lines on stderr: one per finished image."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.lock = threading.Lock()

    def start(self, target: Target) -> None:
        pass

    def advance(self, target: Target, nbytes: int) -> None:
        pass

    def finish(self, result: ImageResult) -> None:
        with self.lock:
            self.done += 1
            width = len(str(self.total))
            output.err(
                f"warm [{self.done:>{width}}/{self.total}] {result.status:<6} {result.image} "
                f"({human_bytes(result.bytes)}, {result.seconds:.1f}s)"
            )


_CLEAR = "\r\x1b[2K"  # back to the start of the line, and erase it


class BarProgress:
    """A one-line bar on a terminal (stderr, redrawn in place): images done, bytes so far, the
    images in flight.  Only for a terminal: :func:`run_warm` picks :class:`LineProgress` otherwise."""

    def __init__(self, total: int, clock=time.monotonic, width: int = 24):
        self.total = total
        self.clock = clock
        self.width = width
        self.done = 0
        self.failed = 0
        self.bytes = 0
        self.active: dict[str, int] = {}
        self.lock = threading.Lock()
        self.last = 0.0

    def start(self, target: Target) -> None:
        with self.lock:
            self.active[target.name] = 0
            self._draw(force=True)

    def advance(self, target: Target, nbytes: int) -> None:
        with self.lock:
            self.bytes += nbytes
            if target.name in self.active:
                self.active[target.name] += nbytes
            self._draw()

    def finish(self, result: ImageResult) -> None:
        with self.lock:
            self.active.pop(result.image, None)
            self.done += 1
            self.failed += not result.ok
            if not result.ok:
                output.err(f"{_CLEAR}failed {result.image}")
            self._draw(force=True)
            if self.done == self.total:
                output.err(_CLEAR, end="")

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        current = ""
        if self.active:
            name, got = next(iter(self.active.items()))
            current = f"  {name} {human_bytes(got)}"
            if len(self.active) > 1:
                current += f" (+{len(self.active) - 1})"
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"warm [{bar}] {self.done}/{self.total} images{failed}, {human_bytes(self.bytes)}{current}"
        output.err(_CLEAR + line[:200], end="")


def format_text(results: list[ImageResult], seconds: float) -> str:
    lines = []
    for r in results:
        lines.append(
            f"{r.status:<6} {r.cache:<14} {human_bytes(r.bytes):>10} {r.seconds:>7.1f}s  {r.image}"
            + (f"  [{', '.join(r.platforms)}]" if r.platforms else "")
        )
        if r.error:
            lines.append(f"    error: {r.error}")
        if r.hint:
            lines.append(f"    hint: {r.hint}")
        if r.unconfirmed_blobs:
            lines.append(
                f"    note: the cache had not yet confirmed storing {r.unconfirmed_blobs} "
                "blob(s) it streamed from upstream"
            )
        for source in r.sources[:3]:
            lines.append(f"    from: {source}")
        if len(r.sources) > 3:
            lines.append(f"    from: ... and {len(r.sources) - 3} more")
    failed = sum(not r.ok for r in results)
    total = sum(r.bytes for r in results)
    lines.append(
        f"{len(results)} images, {len(results) - failed} warmed, {failed} failed, "
        f"{human_bytes(total)} in {seconds:.1f}s"
    )
    return "\n".join(lines) + "\n"


def format_json(results: list[ImageResult], seconds: float) -> str:
    failed = sum(not r.ok for r in results)
    doc = {
        "images": [r.to_json() for r in results],
        "summary": {
            "images": len(results),
            "ok": len(results) - failed,
            "failed": failed,
            "bytes": sum(r.bytes for r in results),
            "seconds": round(seconds, 3),
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def check_platform(platform: str) -> str:
    if not PLATFORM.match(platform):
        raise ConfigError(f"--platform: {platform!r} is not 'all' or OS/ARCH[/VARIANT] (e.g. linux/arm64)")
    return platform


def run_warm(
    targets: list[Target],
    *,
    jobs: int = 8,
    platform: str = "all",
    engine: str = "registry",
    fmt: str = "text",
    insecure: bool = False,
    ca_bundle: str | None = None,
    deadline: float | None = 3600.0,
    prefixes: dict[str, str] | None = None,
    client=None,
    docker_engine=None,
) -> list[ImageResult]:
    """Warm ``targets`` and print the summary (stdout) and the progress (stderr: a bar on a
    terminal, a line per image otherwise); the adapters are made here unless given."""
    check_platform(platform)
    progress = BarProgress(len(targets)) if output.err_is_terminal() else LineProgress(len(targets))
    start = time.monotonic()
    if engine == "docker":
        timeout = 600.0 if deadline is None else min(600.0, deadline)
        docker_engine = docker_engine or DockerEngine(credential_store(deadline), timeout=timeout, deadline=deadline)
        results = warm_with_engine(
            targets,
            docker_engine,
            jobs=jobs,
            platform=platform,
            progress=progress,
            prefixes=prefixes,
            deadline=deadline,
        )
    else:
        own = client is None
        client = client or RegistryClient(
            credential_store(deadline), insecure=insecure, ca_bundle=ca_bundle, jobs=jobs, deadline=deadline
        )
        try:
            results = warm_images(targets, client, jobs=jobs, platform=platform, progress=progress, prefixes=prefixes)
        finally:
            if own:
                client.close()
    seconds = time.monotonic() - start
    output.out(format_json(results, seconds) if fmt == "json" else format_text(results, seconds), end="")
    return results


def warm(
    paths,
    config=None,
    registry=None,
    *,
    jobs: int = 8,
    platform: str = "all",
    engine: str = "registry",
    fmt: str = "text",
    insecure: bool = False,
    ca_bundle=None,
    deadline: float | None = 3600.0,
    source: Source | None = None,
    pin: bool = False,
) -> int:
    check_platform(platform)
    if pin and engine == "docker":
        raise ConfigError("--pin needs --engine registry: a Docker engine reports image IDs, not manifest digests")
    settings = settings_for(paths, config, registry)
    found = scan(paths, settings, source=source)  # `# imagemirror: ignore` marks refs suppressed
    for note in found.notes:
        output.note(note)
    file_errors = report_errors(found.results)
    refs = found.refs
    targets, problems = targets_from_refs(refs)
    for problem in problems:
        output.warning(problem)
    skipped = Counter(r.status for r in refs if r.status not in (MIRRORED, UNMIRRORED) and not r.suppressed)
    if skipped:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(skipped.items()))
        output.note(f"not warmed ({counts}): see `imagemirror list` for why")
    if not targets:
        note = (
            ""
            if settings.registry
            else " (no cache registry configured: registry: in .imagemirror.yaml, or --registry)"
        )
        output.err(f"imagemirror: no images to warm{note}")
        if fmt == "json":
            output.out(format_json([], 0.0), end="")
        if found.service_failed:
            return Exit.SERVICE_ERROR
        return Exit.FILE_ERROR if file_errors else Exit.OK
    prefixes = {prefix: host for host, prefix in settings.rules.items()}
    outcome = run_warm(
        targets,
        jobs=jobs,
        platform=platform,
        engine=engine,
        fmt=fmt,
        insecure=insecure,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        deadline=deadline,
        prefixes=prefixes,
    )
    pin_code: int = Exit.OK
    if pin:
        digests = pinnable_digests(outcome)
        # warm's default (a chart where one is found) pins as written; --effective through the charts
        effective = getattr(source, "kind", "") == "effective" and not getattr(source, "fallback", False)
        pin_code = pin_paths(
            paths,
            config,
            registry,
            digests=digests,
            effective=effective,
            renderer=getattr(source, "renderer_name", "model"),
            offline=getattr(source, "offline", False),
            stdout=None if fmt != "json" else StderrResults(),
        )
    if found.service_failed:
        return Exit.SERVICE_ERROR
    if file_errors or pin_code == Exit.FILE_ERROR:
        return Exit.FILE_ERROR
    if pin_code == Exit.SERVICE_ERROR:
        return Exit.SERVICE_ERROR
    return Exit.FINDINGS if any(not r.ok for r in outcome) or pin_code else Exit.OK


def pinnable_digests(results: list[ImageResult]) -> dict[str, str]:
    """``host/path:tag`` -> digest for every image warmed and verified (``warm --pin``).

    The digest is the one the warm-up fetched by tag (an index digest for a multi-arch tag), or
    the pinned one it verified the cache serves; failed images and digest-only references
    give none, so nothing is pinned that the cache does not hold."""
    by_tag: dict[str, str] = {}
    by_pin: dict[str, str] = {}
    for r in results:
        if not r.ok or not r.digest or not r.digest.startswith("sha256:"):
            continue
        try:
            ref = parse(r.image)
        except InvalidReference:
            continue
        if ref.tag is None:
            continue
        # an image fetched by its tag alone gives the tag's digest; a pinned one that the cache
        # still serves (its tag may have moved) keeps its own pin
        (by_pin if ref.digest else by_tag)[f"{ref.name}:{ref.tag}"] = r.digest
    return {**by_pin, **by_tag}
