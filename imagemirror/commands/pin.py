"""``imagemirror pin``: write the digest each mirrored tag resolves to, where the chart reads it.

The I/O edge of :mod:`imagemirror.pin`: read the files, ask the cache (the distribution API,
as ``warm`` does: same credentials, ``--insecure``, ``--ca-bundle``, ``--deadline``) for the
manifest of every tag -- the index digest of a multi-arch tag, since the manifest asked for
accepts indexes -- confirm it against the upstream when the upstream answers, then write
atomically (``--dry-run``: print the diff).  A tag whose cache and upstream digests differ is
not pinned (exit 1): the cache still serves an older image than the tag names upstream.

:class:`Resolver` is also what ``check --online`` (drift) uses.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import output
from ..charts.pins import chart_hints, verify_with_charts
from ..ecr.settings import UPSTREAMS
from ..errors import ConfigError, Exit, FileError, ServiceError
from ..files import decode, discover, read_bytes, write_atomic
from ..model import FileResult
from ..pin import pin_candidates, pin_text, revert_text
from ..reference import InvalidReference, parse
from ..registry.client import RegistryClient
from ..rules import MIRRORED, upstream_path
from .clients import chart_client, credential_store
from .common import report_errors, settings_for, unified_diff, warn


@dataclass
class Resolution:
    lookup: str
    digest: str | None = None  # what the cache serves for the tag
    upstream: str | None = None  # what the upstream serves, when it answered
    note: str | None = None  # why the upstream could not confirm
    error: str | None = None  # why the cache could not resolve it
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.digest is not None and self.error is None and (self.upstream in (None, self.digest))


def make_client(
    *, insecure: bool = False, ca_bundle=None, deadline: float | None = 600.0, jobs: int = 8, retries: int = 3
):

    return RegistryClient(
        credential_store(deadline),
        insecure=insecure,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        jobs=jobs,
        deadline=deadline,
        retries=retries,
    )


def online_resolver(*, insecure: bool = False, ca_bundle=None, deadline: float | None = 600.0) -> Resolver:
    """``check --online``: the cache, reached as ``warm`` reaches it (no upstream asked)."""
    return Resolver(make_client(insecure=insecure, ca_bundle=ca_bundle, deadline=deadline))


def upstream_api_host(host: str) -> str:
    """The host that serves the distribution API for an upstream (Docker Hub's is another)."""

    known = UPSTREAMS.get(host)
    return known[1] if known else host


def _tag_digest(client, host: str, repo: str, tag: str) -> str:
    """A HEAD where the client has one (no pull counted upstream), else a GET."""
    head = getattr(client, "manifest_digest", None)
    return head(host, repo, tag) if head is not None else client.get_manifest(host, repo, tag).digest


class Resolver:
    """Tag -> digest through the cache (and the upstream, to confirm).  Thread-safe."""

    def __init__(self, client, prefixes: dict[str, str] | None = None, upstream_client=None):
        self.client = client
        self.prefixes = prefixes or {}  # cache prefix -> upstream host
        self.upstream_client = upstream_client

    def _split(self, lookup: str):

        ref = parse(lookup)
        return ref

    def upstream_of(self, ref):
        for prefix, key in sorted(self.prefixes.items(), key=lambda kv: -len(kv[0])):
            if ref.path.startswith(prefix + "/"):
                host, path = upstream_path(key, ref.path[len(prefix) + 1 :])  # key: host[/upstream prefix]
                return upstream_api_host(host), path
        return None

    def cache_digest(self, lookup: str) -> str:
        """What the cache resolves the tag to (``check --online``: a HEAD, nothing pulled)."""
        ref = self._split(lookup)
        return _tag_digest(self.client, ref.host, ref.path, ref.tag or "latest")

    def pull_digest(self, lookup: str) -> str:
        """The tag's manifest, GET through the cache (an ECR cache fills on it): ``pin``."""
        ref = self._split(lookup)
        return self.client.get_manifest(ref.host, ref.path, ref.tag or "latest").digest

    def holds(self, name_ref: str, digest: str) -> bool:
        """Whether the cache serves the manifest ``digest`` of ``name_ref``'s repository."""

        ref = parse(name_ref)
        try:
            self.client.get_manifest(ref.host, ref.path, digest)
        except ServiceError as exc:
            status = getattr(exc, "status", None)
            # ECR answers 404; a distribution proxy whose remote lacks it answers 500 (see warm)
            if status is not None and (status == 404 or status >= 500):
                return False
            raise
        return True

    def resolve(self, lookup: str, confirm: bool = True) -> Resolution:
        out = Resolution(lookup)
        try:
            out.digest = self.pull_digest(lookup)
        except ServiceError as exc:
            out.error = str(exc)
            out.status = getattr(exc, "status", None)
            return out
        if confirm and self.upstream_client is not None:
            ref = self._split(lookup)
            up = self.upstream_of(ref)
            if up is None:
                out.note = "no rule gives its upstream"
            else:
                host, path = up
                try:
                    out.upstream = _tag_digest(self.upstream_client, host, path, ref.tag or "latest")
                except ServiceError as exc:
                    out.note = f"upstream {host} did not confirm: {exc}"
        return out

    def resolve_all(self, lookups, jobs: int = 8, confirm: bool = True) -> dict[str, Resolution]:
        lookups = list(dict.fromkeys(lookups))
        if not lookups:
            return {}
        with ThreadPoolExecutor(max(1, min(jobs, len(lookups))), thread_name_prefix="pin-resolve") as pool:
            return dict(zip(lookups, pool.map(lambda x: self.resolve(x, confirm), lookups)))


class _Out:
    """Results through :mod:`imagemirror.output` (the one stdout writer)."""

    def write(self, text: str) -> None:

        output.out(text, end="")

    def flush(self) -> None:
        pass


class StderrResults(_Out):
    """For ``warm --pin --format json``: the pins go to stderr, stdout stays JSON."""

    def write(self, text: str) -> None:

        output.err(text, end="")


def _note_uncovered(hints: dict, covered: set, warn) -> None:
    """``--effective``: the images the releases pull that no values file under PATHS names a map
    or string for (a template, or keys the chart shares) cannot be pinned here: say so."""

    seen: set = set()
    for per_file in hints.values():
        for path, hint in per_file.items():
            if path in covered or hint.status != MIRRORED or (path, hint.written) in seen:
                continue
            seen.add((path, hint.written))
            try:
                digest = parse(hint.written).digest
            except (InvalidReference, TypeError):
                continue
            pinned = f" (the chart pins {digest}; `check --effective --online` checks it)" if digest else ""
            warn(
                f"imagemirror: note: not pinned: {path} {hint.written}: no values file here names its image map{pinned}"
            )


def pin_paths(
    paths,
    config=None,
    registry=None,
    *,
    dry_run: bool = False,
    revert: bool = False,
    effective: bool = False,
    offline: bool = False,
    renderer: str = "model",
    insecure: bool = False,
    ca_bundle=None,
    deadline: float | None = 600.0,
    jobs: int = 8,
    confirm: bool = True,
    digests: dict[str, str] | None = None,
    resolver: Resolver | None = None,
    stdout=None,
) -> int:
    """Pin (or ``revert``) every mirrored reference under ``paths``.

    ``digests`` (``host/path:tag`` -> digest) pins exactly those, resolving nothing (``warm --pin``)."""

    stdout = stdout or _Out()
    settings = settings_for(paths, config, registry)
    if settings.registry is None:
        raise ConfigError("no cache registry configured: set `registry:` in .imagemirror.yaml or pass --registry")
    targets, problems = discover(paths, settings)
    hints: dict[Path, dict] = {}
    fetcher = helm = None
    if effective and not revert:
        hints, targets, fetcher, helm = chart_hints(paths, settings, targets, offline, renderer, connect=chart_client)
    texts: dict[str, tuple[Path, bytes, str]] = {}
    errors = list(problems)

    for path, display in targets:
        try:
            original = read_bytes(path, display)
            texts[display] = (path, original, decode(original, display))
        except FileError as exc:
            errors.append(FileResult(display, error=exc))
    failed_images = 0
    service_failed = False  # the registry failed (unreachable, TLS, 5xx, deadline), not a tag
    resolutions: dict[str, Resolution] = {}
    if not revert and digests is None:
        lookups: list[str] = []
        covered: set[str] = set()
        for display, (path, _o, text) in texts.items():
            try:
                cands = pin_candidates(text, display, settings, chart=hints.get(path.resolve()))
            except FileError as exc:
                errors.append(FileResult(display, error=exc))
                continue
            lookups.extend(c.lookup for c in cands if c.lookup and not c.skip)
            covered.update(c.path for c in cands)
        if hints:
            _note_uncovered(hints, covered, warn)
        if lookups:
            own = resolver is None
            if own:
                client = make_client(insecure=insecure, ca_bundle=ca_bundle, deadline=deadline, jobs=jobs)
                upstream = (
                    make_client(
                        insecure=insecure, ca_bundle=ca_bundle, deadline=min(deadline or 60, 60), jobs=jobs, retries=1
                    )
                    if confirm
                    else None
                )
                if upstream is not None:
                    upstream.connect_timeout, upstream.read_timeout = 5.0, 20.0
                resolver = Resolver(client, {p: h for h, p in settings.rules.items()}, upstream)
            resolutions = resolver.resolve_all(lookups, jobs, confirm)
        digests = {}
        for lookup, res in resolutions.items():
            if res.ok:
                digests[lookup] = res.digest
                if res.note and confirm:
                    warn(f"imagemirror: note: {lookup}: not confirmed upstream ({res.note})")
            elif res.error:
                failed_images += 1
                service_failed = service_failed or res.status is None or res.status >= 500
                warn(f"imagemirror: error: {lookup}: cannot resolve the tag: {res.error}")
            else:
                failed_images += 1
                warn(
                    f"imagemirror: error: {lookup}: the cache serves {res.digest}, but the upstream tag now "
                    f"resolves to {res.upstream}: not pinned (warm again, or wait for the cache to refresh the tag)"
                )
    changed = pinned = 0
    for display, (path, original, text) in texts.items():
        try:
            if revert:
                done = revert_text(text, display)
                for line, what in done.reverted:
                    stdout.write(f"{display}:{line}: {what}\n")
                count = len(done.reverted)
            else:
                done = pin_text(text, display, settings, digests, chart=hints.get(path.resolve()))
                if fetcher is not None and done.changed:
                    verify_with_charts(path, display, done.text, done.pinned, settings, fetcher, helm)
                for p in done.pinned:
                    c = p.candidate
                    was = f" (was {p.before})" if p.before else ""
                    stdout.write(f"{c.file}:{c.line}:{c.column}: pinned {c.lookup}@{p.digest} [{c.form}]{was}\n")
                for c in done.candidates:
                    if c.skip and "rewrite" in c.skip:
                        warn(f"imagemirror: {c.file}:{c.line}:{c.column}: {c.written}: {c.skip}")
                count = len(done.pinned)
            for note in done.notes:
                warn(f"imagemirror: {note}")
            if done.changed:
                changed += 1
                pinned += count
                if dry_run:
                    stdout.write(unified_diff(text, done.text, display))
                else:
                    write_atomic(path, done.text.encode("utf-8"), original, display)
        except FileError as exc:
            errors.append(FileResult(display, error=exc))
    failed = report_errors(errors)
    verb = "would change" if dry_run else "changed"
    what = "pin" if not revert else "reverted pin"
    warn(
        f"imagemirror: {verb} {changed} of {len(texts)} file{'s' if len(texts) != 1 else ''} "
        f"({pinned} {what}{'s' if pinned != 1 else ''})"
        + (f"; {failed_images} image(s) not pinned" if failed_images else "")
        + (f"; {failed} failed" if failed else "")
    )
    stdout.flush()
    if failed:
        return Exit.FILE_ERROR
    if service_failed:
        return Exit.SERVICE_ERROR
    return Exit.FINDINGS if failed_images else Exit.OK
