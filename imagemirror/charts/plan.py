"""Chart-aware planning: the effective images of the releases that read a values file, and the
edits that move every one of them onto the cache.

``assignments_for_file(path, text, settings, fetcher)`` is what ``rewrite --effective`` calls
(through :meth:`imagemirror.charts.source.EffectiveSource.plan`) on the core's rewrite of
``text``: it evaluates each release that reads ``path`` with ``text`` in its
place, and for every image still pulled from upstream it sets the keys that the core's rule
gives (:func:`imagemirror.inventory.classify_site` on the effective values) -- in ``path`` when
``path`` is the values file that decides them (the highest-priority file that sets the key,
else the last file of the release).  Existing scalars are replaced in place; missing keys are
inserted with a comment (:mod:`.overrides`).  It returns the assignments; the command applies
them, and :func:`verify_plan` evaluates the result again: every image the plan touched must now
resolve to the cache.  :func:`plan_for_file` does all three (for tests and tools).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import FileError
from ..rewrite import ALLOW_INSECURE_COMMENT
from ..rules import AMBIGUOUS, MIRRORED, UNMIRRORED, is_bitnami
from .discover import releases_for, repo_root
from .effective import EffectiveImage, ReleaseView, _get, evaluate
from .fetch import Fetcher
from .overrides import COMMENT, Assignment, apply
from .values import effective_values

ALLOW_INSECURE = ("global", "security", "allowInsecureImages")


def make_fetcher(
    settings: Settings, start: Path, offline: bool = False, progress=None, client=None, connect=None
) -> Fetcher:
    """A fetcher that also finds charts vendored anywhere under the repository root; its
    network is the registry client the command layer injects (``client``, or ``connect()``
    called at the first network fetch: ``commands.clients.chart_client``)."""
    return Fetcher(
        offline=offline, vendored=[repo_root(start, settings)], progress=progress, client=client, connect=connect
    )


def views_for(
    path: Path, settings: Settings, fetcher: Fetcher, texts: dict[Path, str] | None = None
) -> list[ReleaseView]:
    out = []
    for release in releases_for(path, settings):
        chart = fetcher.chart(release.chart)
        out.append(evaluate(release, chart, settings, texts))
    return out


@dataclass
class FilePlan:
    file: Path
    text: str
    changed: bool = False
    before: list[ReleaseView] = field(default_factory=list)
    after: list[ReleaseView] = field(default_factory=list)
    covered: list[EffectiveImage] = field(default_factory=list)  # images this plan moves
    notes: list[str] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    relocated_bitnami: bool = False  # a covered image is a Bitnami one (the core's flag then)


def _writer(view: ReleaseView, keypaths: list[tuple]) -> tuple[Path | None, str | None]:
    """The values file to write ``keypaths`` (one image's keys, written together) into.

    The highest-priority layer that sets any of them decides; when none does, the release's
    last values file.  Writing every key there shadows whatever lower layers say, so an image
    is never half moved.  A key decided by inline values (Argo CD, Flux) cannot be fixed in a
    file -> ``(None, reason)``.
    """
    files = [layer for layer, _data in view.layers if layer.path is not None]
    if not files:
        return None, "the release reads no values file of this repository"
    decided = None
    for layer, data in view.layers:
        if any(_get(data, keypath)[0] for keypath in keypaths):
            decided = layer
    if decided is None:
        return files[-1].path, None
    if decided.path is None:
        return None, f"set by {decided.label}"
    return decided.path, None


def plan_for_file(path: Path, text: str, settings: Settings, fetcher: Fetcher) -> FilePlan:
    """Edits to ``text`` (the content of ``path``) so every image its releases pull is mirrored:
    the assignments, applied (``plan.text``) and verified."""
    plan = assignments_for_file(path, text, settings, fetcher)
    if not plan.assignments:
        return plan
    verify_plan(plan, apply(text, plan.assignments, str(plan.file)), settings, fetcher)
    return plan


def assignments_for_file(path: Path, text: str, settings: Settings, fetcher: Fetcher) -> FilePlan:
    """The assignments to ``text`` (the content of ``path``) that mirror every image its
    releases pull (``plan.assignments``; nothing applied)."""
    path = path.resolve()
    plan = FilePlan(path, text)
    texts = {path: text}
    plan.before = views_for(path, settings, fetcher, texts)
    if not plan.before:
        return plan
    wanted: dict[tuple, tuple] = {}  # keypath -> (value, comment, anchor)
    clashes: set[tuple] = set()
    for view in plan.before:
        relocated_bitnami = False
        for image in view.images:
            if image.status != UNMIRRORED or not image.assignments:
                continue
            writer, why = _writer(view, [keypath for keypath, _ in image.assignments])
            if writer is None:
                plan.notes.append(
                    f"{view.release.name}: {image.path} {image.written}: cannot be fixed in a values file ({why})"
                )
                continue
            if writer != path:
                continue  # another values file of the release decides it (its own rewrite does)
            mine = list(image.assignments)
            plan.covered.append(image)
            relocated_bitnami |= is_bitnami(image.upstream)
            plan.relocated_bitnami |= is_bitnami(image.upstream)
            for keypath, value in mine:
                comment = _comment(view, image, keypath)
                if keypath in wanted and wanted[keypath][0] != value:
                    clashes.add(keypath)
                wanted.setdefault(keypath, (value, comment, image.keypath))
        if relocated_bitnami and view.scope_defaults_have(ALLOW_INSECURE):
            found, current = _get(view.top.values, ALLOW_INSECURE)
            writer, _ = _writer(view, [ALLOW_INSECURE])
            if current is not True and writer == path:
                wanted.setdefault(ALLOW_INSECURE, (True, ALLOW_INSECURE_COMMENT, ALLOW_INSECURE))
    for keypath in clashes:
        plan.notes.append(
            f"{'.'.join(map(str, keypath))}: the releases reading this file need different values; left as is"
        )
        wanted.pop(keypath)
    if clashes:  # an image that loses one key keeps all of them: rebuild from the others
        plan.covered = [i for i in plan.covered if not any(k in clashes for k, _ in i.assignments)]
        keep = {k for i in plan.covered for k, _ in i.assignments} | {ALLOW_INSECURE}
        wanted = {k: v for k, v in wanted.items() if k in keep}
    if not wanted:
        plan.after = plan.before
        _remaining_notes(plan)
        return plan
    wanted = _whole_lists(wanted, plan.before)
    plan.assignments = [Assignment(k, v, c, a) for k, (v, c, a) in wanted.items()]
    if not plan.assignments:
        plan.after = plan.before
        _remaining_notes(plan)
    return plan


def verify_plan(plan: FilePlan, new_text: str, settings: Settings, fetcher: Fetcher) -> None:
    """Evaluate the releases again on ``new_text`` (the file with the plan applied): every
    image the plan covers must now be pulled through the cache, else ``FileError``."""
    path = plan.file
    plan.changed = new_text != plan.text
    plan.text = new_text
    plan.after = views_for(path, settings, fetcher, {path: new_text})
    # Verify by recomputing the effective values: every image the plan touched is now mirrored.
    after = {(v.release.name, i.path): i for v in plan.after for i in v.images}
    for image in plan.covered:
        now = after.get((image.release, image.path))
        if now is None or now.status != MIRRORED:
            raise FileError(
                str(path),
                f"chart overrides did not verify: {image.path} of release "
                f"{image.release} would pull {now.written if now else 'nothing'}; file left untouched",
            )
    _remaining_notes(plan)


def _whole_lists(wanted: dict, views: list[ReleaseView]) -> dict:
    """Helm replaces lists: a key inside a list element becomes the whole list, copied from the
    effective values with the element changed (``extraInitContainers[0].image``)."""
    out: dict = {}
    lists: dict[tuple, tuple] = {}
    for keypath, (value, comment, anchor) in wanted.items():
        cut = next((i for i, k in enumerate(keypath) if isinstance(k, int)), None)
        if cut is None:
            out[keypath] = (value, comment, anchor)
            continue
        head = keypath[:cut]
        if head not in lists:
            current = next((found for v in views for ok, found in [_get(v.top.values, head)] if ok), None)
            if not isinstance(current, list):
                continue
            lists[head] = (copy.deepcopy(current), comment, head)
        node = lists[head][0]
        for key in keypath[cut:-1]:
            node = node[key]
        node[keypath[-1]] = value
    out.update(lists)
    return out


def _comment(view: ReleaseView, image: EffectiveImage, keypath: tuple) -> str:
    if image.default_only:
        return COMMENT.format(upstream=image.upstream)
    found, default = _get(_defaults_tree(view), keypath)
    key = keypath[-1]
    return (
        f"# imagemirror: overrides chart default {key}: {default}"
        if found
        else f"# imagemirror: composes {image.upstream} through the cache"
    )


def _defaults_tree(view: ReleaseView) -> dict:
    """The chart defaults alone (no values files), as the release's values tree."""
    cache = getattr(view, "_defaults", None)
    if cache is None:
        cache = effective_values(view.chart, []).values
        view._defaults = cache  # type: ignore[attr-defined]
    return cache


def _remaining_notes(plan: FilePlan) -> None:
    for view in plan.after:
        for image in view.images:
            if image.status == AMBIGUOUS:
                plan.notes.append(f"{view.release.name}: {image.path} {image.written!r} is ambiguous: {image.hint}")
