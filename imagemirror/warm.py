"""Warm a pull-through cache: pull every target image through it, so nodes never pull first.

Pure orchestration over an injected registry client (``registry.client.RegistryClient`` or
anything with the same three methods) or Docker engine (``registry.engine.DockerEngine``);
the clock is injectable.  What it does per image (see ``shared/ECR-FACTS.md``):

1. GET the manifest **by tag** (never first by digest: ECR does not fill its cache on a first
   pull by digest);
2. for an index, GET each platform's manifest (``platform="all"`` or ``"os/arch[/variant]"``);
3. GET the config and every layer as a stream -- discarded, sha256-verified -- with one pool
   of ``jobs`` workers for images and one of ``jobs`` for blobs (a blob shared by two images
   of one repository is fetched once);
4. on a third pool of ``jobs`` workers, while the image's slot moves on to the next image:
   wait until the cache confirms it stored the blobs it streamed through from upstream, and,
   when the reference pins a digest, check that the digest is served; if not, the upstream tag
   has moved and the pinned image is not in the cache.

Each image gets an :class:`ImageResult`; failures carry a hint for the known shapes (missing
``library/``, bitnami's move to ``bitnamilegacy``, missing credentials).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from .reference import DOCKER_HUB, InvalidReference, Reference, parse
from .rules import DEFAULT_RULES, MIRRORED, UNMIRRORED

PINNED_NOT_CACHED = "upstream tag moved; pinned digest not cached"


@dataclass(frozen=True)
class Target:
    """One image to warm: ``ref`` is the cache reference; ``sources`` are ``file:line:col``."""

    ref: Reference
    sources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.ref.qualified()


@dataclass
class ImageResult:
    image: str
    status: str  # "ok" | "failed"
    bytes: int = 0
    seconds: float = 0.0
    blobs: int = 0
    cached_blobs: int = 0
    fetched_blobs: int = 0
    #: fetched blobs the cache had not confirmed storing when the settle time ran out
    unconfirmed_blobs: int = 0
    platforms: list[str] = field(default_factory=list)
    digest: str | None = None
    error: str | None = None
    hint: str | None = None
    sources: tuple[str, ...] = ()
    engine: str = "registry"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cache(self) -> str:
        """``cached-already`` / ``fetched`` / ``partly-cached`` from the blobs' evidence, else
        ``unknown`` (the registry gave no sign, or the Docker engine pulled it)."""
        if self.cached_blobs and not self.fetched_blobs:
            return "cached-already"
        if self.fetched_blobs and not self.cached_blobs:
            return "fetched"
        if self.fetched_blobs and self.cached_blobs:
            return "partly-cached"
        return "unknown"

    def to_json(self) -> dict:
        out = {
            "image": self.image,
            "status": self.status,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "cache": self.cache,
            "blobs": self.blobs,
            "cached_blobs": self.cached_blobs,
            "fetched_blobs": self.fetched_blobs,
            "unconfirmed_blobs": self.unconfirmed_blobs,
            "platforms": self.platforms,
            "digest": self.digest,
            "engine": self.engine,
            "sources": list(self.sources),
        }
        if self.error:
            out["error"] = self.error
        if self.hint:
            out["hint"] = self.hint
        return out


class Progress(Protocol):
    def start(self, target: Target) -> None: ...
    def advance(self, target: Target, nbytes: int) -> None: ...
    def finish(self, result: ImageResult) -> None: ...


class _NoProgress:
    def start(self, target: Target) -> None:
        pass

    def advance(self, target: Target, nbytes: int) -> None:
        pass

    def finish(self, result: ImageResult) -> None:
        pass


# -- targets ------------------------------------------------------------------------------


def targets_from_refs(refs: Iterable) -> tuple[list[Target], list[str]]:
    """Targets from inventory records (``model.ImageRef``): the ``written`` reference of a
    ``mirrored`` one, the ``target`` of an ``unmirrored`` one; suppressed ones are skipped.
    Duplicates merge (their sources are kept).  Returns ``(targets, problems)``."""
    order: list[str] = []
    found: dict[str, tuple[Reference, list[str]]] = {}
    problems: list[str] = []
    for item in refs:
        if getattr(item, "suppressed", False):
            continue
        if item.status == MIRRORED:
            text = item.written
        elif item.status == UNMIRRORED and item.target:
            text = item.target
        else:
            continue
        where = f"{item.file}:{item.line}:{item.column}"
        try:
            ref = parse(text)
        except InvalidReference as exc:
            problems.append(f"{where}: {text!r} is not a valid reference: {exc}")
            continue
        key = ref.qualified()
        if key not in found:
            found[key] = (ref, [])
            order.append(key)
        found[key][1].append(where)
    return [Target(found[k][0], tuple(found[k][1])) for k in order], problems


def targets_from_strings(texts: Iterable[str]) -> list[Target]:
    """Targets from plain reference strings (raises :class:`InvalidReference`)."""
    seen: dict[str, Target] = {}
    for text in texts:
        ref = parse(text)
        seen.setdefault(ref.qualified(), Target(ref))
    return list(seen.values())


# -- hints --------------------------------------------------------------------------------


def _split_prefix(ref: Reference, prefixes: dict[str, str]) -> tuple[str, str, str] | None:
    """``(prefix, upstream host, rest of path)`` when the path starts with a cache prefix."""
    for prefix, host in sorted(prefixes.items(), key=lambda kv: -len(kv[0])):
        if ref.path.startswith(prefix + "/"):
            return prefix, host, ref.path[len(prefix) + 1 :]
    return None


def hint_for(ref: Reference, error: Exception, prefixes: dict[str, str] | None = None) -> str | None:
    """A hint for a known failure shape, or None."""
    prefixes = prefixes if prefixes is not None else {v: k for k, v in DEFAULT_RULES.items()}
    status = getattr(error, "status", None)
    auth = getattr(error, "auth", None)
    message = str(error).lower()
    split = _split_prefix(ref, prefixes)
    if "deadline exceeded" in message:
        return None  # no hint about credentials or paths: the run ran out of time
    if PINNED_NOT_CACHED in message:
        return (
            "the tag now points to another image upstream; pin the new digest, or keep the old "
            "image by pulling it by digest from a registry that still has it"
        )
    if auth == "missing":
        return (
            f"no credentials for {ref.host}: run `docker login {ref.host}` (for ECR, configure AWS "
            "credentials: AWS_PROFILE or the environment), or add the host to ~/.docker/config.json"
        )
    if split is not None:
        prefix, host, rest = split
        if host == DOCKER_HUB and "/" not in rest and (status in (401, 403, 404) or "authentication failed" in message):
            return (
                f"Docker Hub official images live under library/: use "
                f"{ref.host}/{prefix}/library/{rest}{ref.suffix or ':latest'}"
            )
        if host == DOCKER_HUB and rest.startswith("bitnami/") and status == 404:
            legacy = f"{ref.host}/{prefix}/bitnamilegacy/{rest.removeprefix('bitnami/')}{ref.suffix}"
            return (
                "Bitnami moved its versioned Docker Hub tags to docker.io/bitnamilegacy "
                f"(August 2025): try {legacy}, or pin a current tag"
            )
    if auth == "rejected":
        return f"the credentials for {ref.host} were rejected: log in again (ECR tokens last 12 hours)"
    if status == 404 and getattr(error, "code", None) == "NAME_UNKNOWN":
        return (
            "repository unknown: no cache rule has this prefix, the upstream repository does not "
            "exist, or (ECR) the puller lacks ecr:CreateRepository / ecr:BatchImportUpstreamImage"
        )
    if status == 404 and ref.tag is None and ref.digest:
        return (
            "pinned by digest only: ECR does not fill its cache on a first pull by digest; "
            "write the tag too (name:tag@digest) so the warm-up can pull by tag"
        )
    return None


# -- the registry engine ------------------------------------------------------------------


def platform_matches(platform: dict | None, wanted: str) -> bool:
    if wanted == "all":
        return True
    if not platform:
        return False
    parts = wanted.split("/")
    have = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    return all(w == h for w, h in zip(parts, have))


def platform_name(platform: dict | None) -> str:
    if not platform:
        return "unknown"
    name = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
    return name + (f"/{platform['variant']}" if platform.get("variant") else "")


class _Blobs:
    """Blob fetches shared by all images: one pool, one future per (host, repo, digest)."""

    def __init__(self, client, pool: ThreadPoolExecutor):
        self.client = client
        self.pool = pool
        self.lock = threading.Lock()
        self.futures: dict[tuple[str, str, str], Future] = {}
        #: host -> whether it ever confirmed storing a streamed blob (see ``_settle``)
        self.confirms: dict[str, bool] = {}
        #: host -> lock held by the first settle on that host (see ``_settle``)
        self.probes: dict[str, threading.Lock] = {}

    def get(self, host: str, repo: str, digest: str, size: int | None, advance: Callable[[int], None]) -> Future:
        key = (host, repo, digest)
        with self.lock:
            fut = self.futures.get(key)
            if fut is None:
                fut = self.pool.submit(self.client.fetch_blob, host, repo, digest, size, advance)
                self.futures[key] = fut
        return fut


def _settle(
    client,
    host: str,
    repo: str,
    digests: list[str],
    clock,
    sleep,
    settle: float,
    confirms: dict[str, bool],
    probes: dict[str, threading.Lock] | None = None,
) -> int:
    """Wait (up to ``settle`` seconds, never past the client's deadline) until the cache says
    it stores each blob it streamed from upstream; return how many it has not confirmed.

    ``confirms`` is shared by the run: a host that never confirmed a blob within a whole
    settle period is not waited for again (a registry that gives no such sign costs one wait,
    not one per image)."""
    if confirms.get(host) is None and probes is not None:
        # Settles run concurrently: the first image to settle on a host finds out whether it
        # confirms at all; the others wait for that answer instead of each waiting a full period.
        with probes.setdefault(host, threading.Lock()):
            if confirms.get(host) is None:
                return _settle(client, host, repo, digests, clock, sleep, settle, confirms)
    if confirms.get(host) is False:
        return len(digests)
    pending = list(digests)
    end = clock() + settle
    left = getattr(client, "remaining", lambda: None)()
    if left is not None:
        end = min(end, clock() + left - 1.0)
    delay = 0.05
    confirmed = False
    while pending:
        try:
            still = [d for d in pending if client.blob_stored(host, repo, d) is False]
        except Exception:  # noqa: BLE001 - the blobs were fetched; only the confirmation failed
            break
        confirmed = confirmed or len(still) < len(pending)
        pending = still
        if not pending or clock() + delay > end:
            break
        sleep(delay)
        delay = min(1.0, delay * 2)
    if confirmed or not pending:
        confirms[host] = True
    elif host not in confirms:
        confirms[host] = False
    return len(pending)


@dataclass
class _Fetched:
    """An image whose manifests and blobs are fetched; what is left to confirm about it."""

    target: Target
    result: ImageResult
    start: float
    streamed: list[str] = field(default_factory=list)
    verify_pinned: bool = False


def _fetch_one(
    target: Target, client, blobs: _Blobs, platform: str, progress: Progress, clock: Callable[[], float], prefixes
) -> _Fetched:
    """Steps 1-3 for one image: manifests by tag, then every blob (failures end in ``result``)."""
    ref = target.ref
    host, repo = ref.host, ref.path
    result = ImageResult(target.name, "failed", sources=target.sources)
    fetched = _Fetched(target, result, clock())
    progress.start(target)
    try:
        if ref.tag is not None or ref.digest is None:
            top = client.get_manifest(host, repo, ref.tag or "latest")
        else:
            top = client.get_manifest(host, repo, ref.digest)
        result.digest = top.digest
        futures: list[Future] = []
        seen: set[str] = set()

        def take(name: str, manifest) -> None:
            """Queue one image manifest's blobs; only their descriptors outlive this call (an
            index's children are streamed: 200 children of 4 MiB never sit in memory together)."""
            if manifest.is_index:
                raise LookupError(f"{target.name}: nested index {manifest.digest} is not supported")
            if name:
                result.platforms.append(name)
            doc = manifest.doc
            layers = doc.get("layers")
            for desc in [doc.get("config"), *(layers if isinstance(layers, list) else [])]:
                if not isinstance(desc, dict) or not desc.get("digest") or desc["digest"] in seen:
                    continue
                seen.add(desc["digest"])
                size = desc.get("size")
                futures.append(
                    blobs.get(
                        host,
                        repo,
                        desc["digest"],
                        size if isinstance(size, int) else None,
                        lambda n: progress.advance(target, n),
                    )
                )

        def take_all(manifest, required: bool = True) -> set[str]:
            """``manifest`` (an image, or an index whose matching children are fetched one at a
            time); returns the digests seen."""
            if not manifest.is_index:
                take("", manifest)
                return {manifest.digest}
            listed = manifest.doc.get("manifests")
            children = (
                [
                    m
                    for m in listed
                    if isinstance(m, dict)
                    and platform_matches(m.get("platform"), platform)
                    and isinstance(m.get("digest"), str)
                ]
                if isinstance(listed, list)
                else []
            )
            if not children and required:
                raise LookupError(f"{target.name}: the index has no manifest for platform {platform}")
            digests = {manifest.digest}
            for child in children:
                got = client.get_manifest(host, repo, child["digest"])
                digests.add(got.digest)
                take(platform_name(child.get("platform")), got)
                del got
            return digests

        known = take_all(top)
        del top
        # a pinned digest is verified after the blobs, unless the tag moved away from it
        verify_pinned = bool(ref.digest and ref.tag is not None)
        if verify_pinned and ref.digest not in known:
            verify_pinned = False
            # The tag no longer points at the pinned image: is the pinned one still cached?
            # (ECR answers 404; a distribution proxy whose remote lacks it answers 500.)
            try:
                pinned = client.get_manifest(host, repo, ref.digest)
            except Exception as exc:  # noqa: BLE001 - any failure here means "not served"
                status = getattr(exc, "status", None)
                raise LookupError(
                    f"{target.name}: {PINNED_NOT_CACHED}"
                    + (f" (HTTP {status} for the digest)" if status else f" ({exc})")
                ) from None
            result.digest = pinned.digest
            take_all(pinned, required=False)
            del pinned
        first_error: BaseException | None = None
        streamed: list[str] = []
        for fut in futures:
            try:
                blob = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported per image
                first_error = first_error or exc
                continue
            result.blobs += 1
            result.bytes += blob.size
            if blob.cached is True:
                result.cached_blobs += 1
            elif blob.cached is False:
                result.fetched_blobs += 1
                if not blob.redirected:
                    streamed.append(blob.digest)
        if first_error is not None:
            raise first_error
        fetched.streamed = streamed
        fetched.verify_pinned = verify_pinned
        result.status = "ok"
    except Exception as exc:  # noqa: BLE001 - every failure becomes this image's result
        result.error = str(exc) if str(exc) else type(exc).__name__
        result.hint = hint_for(ref, exc, prefixes)
    return fetched


def _needs_confirm(fetched: _Fetched, client, settle: float) -> bool:
    return fetched.result.ok and (
        fetched.verify_pinned or bool(fetched.streamed and settle > 0 and hasattr(client, "blob_stored"))
    )


def _confirm_one(
    fetched: _Fetched,
    client,
    blobs: _Blobs,
    progress: Progress,
    clock: Callable[[], float],
    prefixes,
    sleep: Callable[[float], None],
    settle: float,
) -> ImageResult:
    """Step 4 for one fetched image: wait until the cache confirms it stored the blobs that
    streamed through it, then check a pinned digest is served.  Runs on its own pool, so the
    image's slot already fetches the next image meanwhile."""
    target, result = fetched.target, fetched.result
    ref = target.ref
    if _needs_confirm(fetched, client, settle):
        try:
            if fetched.streamed and settle > 0 and hasattr(client, "blob_stored"):
                result.unconfirmed_blobs = _settle(
                    client, ref.host, ref.path, fetched.streamed, clock, sleep, settle, blobs.confirms, blobs.probes
                )
            if fetched.verify_pinned and not client.manifest_served(ref.host, ref.path, ref.digest):
                raise LookupError(f"{target.name}: {PINNED_NOT_CACHED}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes this image's result
            result.status = "failed"
            result.error = str(exc) if str(exc) else type(exc).__name__
            result.hint = hint_for(ref, exc, prefixes)
    result.seconds = clock() - fetched.start
    progress.finish(result)
    return result


def warm_images(
    targets: list[Target],
    client,
    *,
    jobs: int = 8,
    platform: str = "all",
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    prefixes: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    settle: float = 30.0,
) -> list[ImageResult]:
    """Warm every target through ``client``; results in the order of ``targets``.

    ``settle``: how long to wait, per image, for the cache to confirm it stored the blobs it
    streamed through from upstream (0: do not wait)."""
    progress = progress or _NoProgress()
    jobs = max(1, jobs)
    with (
        ThreadPoolExecutor(jobs, thread_name_prefix="warm-blob") as blob_pool,
        ThreadPoolExecutor(jobs, thread_name_prefix="warm-confirm") as confirm_pool,
        ThreadPoolExecutor(jobs, thread_name_prefix="warm-image") as image_pool,
    ):
        blobs = _Blobs(client, blob_pool)

        def one(target: Target) -> Future:
            fetched = _fetch_one(target, client, blobs, platform, progress, clock, prefixes)
            if _needs_confirm(fetched, client, settle):
                return confirm_pool.submit(
                    _confirm_one, fetched, client, blobs, progress, clock, prefixes, sleep, settle
                )
            done: Future = Future()
            done.set_result(_confirm_one(fetched, client, blobs, progress, clock, prefixes, sleep, settle))
            return done

        futures = [image_pool.submit(one, t) for t in targets]
        return [f.result().result() for f in futures]


# -- the docker engine --------------------------------------------------------------------


def warm_with_engine(
    targets: list[Target],
    engine,
    *,
    jobs: int = 8,
    platform: str = "all",
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    prefixes: dict[str, str] | None = None,
    deadline: float | None = None,
) -> list[ImageResult]:
    """Pull every target through a Docker engine (``registry.engine.DockerEngine``).

    ``deadline`` (seconds from now): images not started by then fail without being tried; a pull
    still running then is cut by the engine's own deadline (``DockerEngine(deadline=...)``, which
    ``run_warm`` gives the same wall clock)."""
    progress = progress or _NoProgress()
    end = None if deadline is None else clock() + deadline

    def one(target: Target) -> ImageResult:
        ref = target.ref
        result = ImageResult(target.name, "failed", sources=target.sources, engine="docker")
        start = clock()
        progress.start(target)
        try:
            if end is not None and clock() >= end:
                raise TimeoutError(f"{target.name}: deadline exceeded before the pull started")
            pulled = engine.pull(
                ref.host,
                ref.path,
                ref.tag,
                ref.digest,
                platform=None if platform == "all" else platform,
                progress=lambda n: progress.advance(target, n),
            )
            result.bytes = pulled.size
            result.digest = pulled.image_id
            if platform != "all":
                result.platforms.append(platform)
            result.status = "ok"
        except Exception as exc:  # noqa: BLE001
            message = str(exc)
            if getattr(exc, "pinned", False):
                message = f"{target.name}: {PINNED_NOT_CACHED} ({message})"
                exc = LookupError(message)
            result.error = message
            result.hint = hint_for(ref, exc, prefixes)
        result.seconds = clock() - start
        progress.finish(result)
        return result

    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="warm-engine") as pool:
        return list(pool.map(one, targets))
