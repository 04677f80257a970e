"""Drift of pinned references (``check --online``): pure, over an injected resolver.

A mirrored reference that carries both a tag and a digest (``x:1.2@sha256:...``, ``tag:
"1.2@sha256:..."``, or a map's ``digest``/``sha``) is asked about twice, in this order:

1. does the cache hold the digest?  (a GET by digest: ECR never fills its cache by digest, so
   this asks before anything else could fill it) -- if not: IM009, fixed by ``warm`` while
   the tag still names the digest, else by ``pin``;
2. does the tag still resolve to it?  if not: IM008, naming both digests.

``resolver`` needs ``holds(reference, digest) -> bool`` and ``cache_digest("host/path:tag")
-> digest``; both raise :class:`~imagemirror.errors.ServiceError` when the registry fails.
"""

from __future__ import annotations

import shlex

from .errors import ServiceError
from .reference import InvalidReference, parse
from .report import RULES, Finding
from .rules import MIRRORED


def pinned_refs(refs) -> list[tuple[object, object]]:
    """``(ImageRef, Reference)`` for every mirrored reference with a tag and a digest."""
    out = []
    for item in refs:
        if item.status != MIRRORED or getattr(item, "suppressed", False):
            continue
        try:
            ref = parse(item.written)
        except InvalidReference:
            continue
        if ref.tag is not None and ref.digest is not None:
            out.append((item, ref))
    return out


def _finding(item, code: str, message: str, fix: str | None = None) -> Finding:
    return Finding(
        code=code,
        level=RULES[code].level,
        message=message,
        file=item.file,
        line=item.line,
        column=item.column,
        reference=item.written,
        fix=fix,
        path=item.path,
    )


def drift_findings(refs, resolver, jobs: int = 8) -> tuple[list[tuple[object, Finding]], list[str]]:
    """-> ([(ImageRef, Finding)], [registry errors, one line each])."""
    pinned = pinned_refs(refs)
    holds_keys = list(dict.fromkeys((ref.name, ref.digest) for _, ref in pinned))
    tag_keys = list(dict.fromkeys(f"{ref.name}:{ref.tag}" for _, ref in pinned))
    errors: list[str] = []

    def ask(func, *args):
        try:
            return func(*args), None
        except ServiceError as exc:
            return None, exc

    from concurrent.futures import (
        ThreadPoolExecutor,  # only online: check's start-up stays light
    )

    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="check-online") as pool:
        held = dict(zip(holds_keys, pool.map(lambda k: ask(resolver.holds, *k), holds_keys)))
        tags = dict(zip(tag_keys, pool.map(lambda k: ask(resolver.cache_digest, k), tag_keys)))
    out: list[tuple[object, Finding]] = []
    reported: set[str] = set()
    for item, ref in pinned:
        where = item.file
        lookup = f"{ref.name}:{ref.tag}"
        now, tag_error = tags[lookup]
        has, hold_error = held[(ref.name, ref.digest)]
        for exc in (hold_error, tag_error):
            if exc is None:
                continue
            if getattr(exc, "status", None) == 404 and exc is tag_error:
                continue  # handled below: the tag is gone
            text = f"{lookup}: {exc}"
            if text not in reported:
                reported.add(text)
                errors.append(text)
        moved = now is not None and now != ref.digest
        gone = tag_error is not None and getattr(tag_error, "status", None) == 404
        if has is False:
            if moved or gone:
                fix = f"imagemirror pin {shlex.quote(where)}"
                why = "the tag no longer names it, so `warm` cannot fetch it: pin the tag's digest"
            else:
                fix = f"imagemirror warm {shlex.quote(where)}"
                why = "nodes cannot pull it from the cache until it is warmed"
            out.append(
                (item, _finding(item, "IM009", f"{ref.name}@{ref.digest} is not in the cache: {why}: run `{fix}`"))
            )
        if moved:
            out.append(
                (
                    item,
                    _finding(
                        item,
                        "IM008",
                        f"tag moved: {ref.name}:{ref.tag} is pinned to {ref.digest}, but the tag now resolves to {now} "
                        f"(re-pin with `imagemirror pin {shlex.quote(where)}`, or set the tag that names the pinned image)",
                        fix=f"{ref.name}:{ref.tag}@{now}",
                    ),
                )
            )
        elif gone:
            out.append(
                (
                    item,
                    _finding(
                        item,
                        "IM008",
                        f"tag moved: {ref.name}:{ref.tag} no longer exists on the cache (pinned to {ref.digest})",
                    ),
                )
            )
    return out, errors
