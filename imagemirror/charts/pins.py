"""``pin --effective``: what each release's chart reads for the images of a values file (its
own ``digest``/``sha`` key, the tag key, the reference it pulls), and the check that a pinned
file makes the releases pull the pinned digests (the effective values recomputed)."""

from __future__ import annotations

from pathlib import Path

from ..errors import FileError
from ..pin import ChartImage
from ..reference import InvalidReference, parse
from .plan import views_for
from .source import EffectiveSource
from .values import path_value


def _scope_of(view, image):
    for scope in view.top.walk():
        if tuple(scope.path) == tuple(image.scope):
            return scope
    return None


def chart_image(view, image):
    """What ``view``'s chart reads for ``image`` -> :class:`imagemirror.pin.ChartImage`."""
    scope = _scope_of(view, image)
    keypath = tuple(image.keypath)
    if image.keypath and image.keypath[0] != "global" and scope is not None:
        keypath = keypath[len(scope.path):]
    defaults = scope.chart.defaults if scope is not None else {}

    def has(key: str) -> bool:
        found, _ = path_value(defaults, ".".join(map(str, keypath + (key,))))
        return found

    reads = "digest" if has("digest") else ("sha" if has("sha") else None)
    tag_key = "version" if has("version") and not has("tag") else "tag"
    return ChartImage(image.written, image.status, reads, tag_key)


def chart_hints(paths, settings, targets, offline: bool, connect=None):
    """``pin --effective``: for each values file a release reads, image path -> what its chart
    reads (two releases that disagree about one path: neither is used) -> (hints, targets, fetcher).
    ``connect`` makes the registry client charts are fetched with (``commands.clients.chart_client``)."""
    source = EffectiveSource(offline=offline, connect=connect)
    all_targets, _problems, _notes = source.files(paths, settings)  # discover's problems: reported by the caller
    fetcher = source.fetcher(settings, Path(paths[0]).resolve())
    out: dict[Path, dict] = {}
    for path, _display in all_targets:
        hints: dict = {}
        clashing: set = set()
        for view in views_for(path.resolve(), settings, fetcher):
            for image in view.images:
                hint = chart_image(view, image)
                if hints.setdefault(image.path, hint) != hint:
                    clashing.add(image.path)
        out[path.resolve()] = {k: v for k, v in hints.items() if k not in clashing}
    return out, all_targets, fetcher


def verify_with_charts(path: Path, display: str, text: str, pinned, settings, fetcher) -> None:
    """Every image pinned in ``text`` must pull its digest once the chart's values are merged."""
    wanted = {p.candidate.path: p.digest for p in pinned}
    if not wanted:
        return
    for view in views_for(path.resolve(), settings, fetcher, {path.resolve(): text}):
        for image in view.images:
            digest = wanted.get(image.path)
            if digest is None:
                continue
            try:
                got = parse(image.written).digest
            except InvalidReference:
                got = None
            if got != digest:
                raise FileError(display, f"chart-aware pin did not verify: release {view.release.name} would pull "
                                f"{image.written} for {image.path}, not @{digest}; file left untouched")
