"""``pin --effective``: what each release's chart reads for the images of a values file (its
own ``digest``/``sha`` key, the tag key, the reference it pulls), and the check that a pinned
file makes the releases pull the pinned digests (the effective values recomputed).

With real Helm (``--renderer``, :mod:`.render`) both are decided by rendering: a probe render
with a sentinel digest in every image map (``digest``, and ``sha`` where the map has one) says
which maps the templates read a digest from (the pin then goes in that key; otherwise in the
tag), and after pinning every release reading the file is rendered again: each image whose
name a pinned map composes must pull the pinned digest, or the file is left untouched."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ..errors import FileError
from ..pin import ChartImage
from ..reference import InvalidReference, parse
from .plan import views_for
from .provenance import dotted
from .render import RenderError
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
        keypath = keypath[len(scope.path) :]
    defaults = scope.chart.defaults if scope is not None else {}

    def has(key: str) -> bool:
        found, _ = path_value(defaults, ".".join(map(str, keypath + (key,))))
        return found

    reads = "digest" if has("digest") else ("sha" if has("sha") else None)
    tag_key = "version" if has("version") and not has("tag") else "tag"
    return ChartImage(image.written, image.status, reads, tag_key)


_PROBE = re.compile(r"e7e7e7e([78])([0-9a-f]{8})0{48}")


def _probe_digest(n: int, key: str) -> str:
    hexpart = f"e7e7e7e{'7' if key == 'digest' else '8'}{n:08x}" + "0" * 48
    return hexpart if key == "sha" else f"sha256:{hexpart}"


def _image_maps(node, path=()):
    """Key path of every image map of a values tree (a map with ``repository``), lists left out
    (Helm replaces a list whole: those maps keep the model's reading)."""
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str):
            yield path, node
        for key, value in node.items():
            yield from _image_maps(value, path + (key,))


def digest_reads(release, model, fetcher, renderer, texts=None) -> dict[str, str | None]:
    """Image map path -> the key its templates read a digest from (``digest``/``sha``), or None
    when setting one changes no rendered image: one probe render of the release."""
    from .effective import layer_data
    from .provenance import ALLOW_INSECURE, _set
    from .render import RenderOptions, images_of, materialize
    from .values import effective_values

    data = [layer_data(layer, texts) for layer in release.layers]
    tree = effective_values(model, data).values
    probe: dict = {}
    paths: dict[int, str] = {}
    for n, (keypath, node) in enumerate(_image_maps(tree)):
        paths[n] = dotted(keypath)
        for key in ("digest", "sha") if "sha" in node else ("digest",):
            _set(probe, keypath + (key,), _probe_digest(n, key))
    out: dict[str, str | None] = dict.fromkeys(paths.values())
    if not paths:
        return out
    _set(probe, ALLOW_INSECURE, True)
    options = RenderOptions(
        release.name, release.namespace or "default", release.kube_version or None, release.api_versions
    )
    source = materialize(release.chart, model, fetcher)
    try:
        images = images_of(renderer.render(source.path, data + [probe], options), getattr(renderer, "parse", None))
    finally:
        renderer.release_done()
        source.cleanup()
    for image in images:
        for which, n in _PROBE.findall(image.image):
            path = paths.get(int(n, 16))
            if path is not None and out.get(path) is None:
                out[path] = "digest" if which == "7" else "sha"
    return out


def chart_hints(paths, settings, targets, offline: bool, renderer: str = "model", connect=None):
    """``pin --effective``: for each values file a release reads, image path -> what its chart
    reads (two releases that disagree about one path: neither is used) -> (hints, targets,
    fetcher, renderer); with real Helm the digest key is the one the probe render shows read.
    ``connect`` makes the registry client charts are fetched with (``commands.clients.chart_client``)."""
    source = EffectiveSource(offline=offline, renderer=renderer, connect=connect)
    all_targets, _problems, _notes = source.files(paths, settings)  # discover's problems: reported by the caller
    fetcher = source.fetcher(settings, Path(paths[0]).resolve())
    helm = source.renderer() if all_targets else None
    out: dict[Path, dict] = {}
    probed: dict = {}
    for path, _display in all_targets:
        hints: dict = {}
        clashing: set = set()
        for view in views_for(path.resolve(), settings, fetcher):
            reads = None
            if helm is not None:
                release = view.release
                key = (release.origin, release.name, tuple(release.files()), release.chart)
                if key not in probed:
                    try:
                        probed[key] = digest_reads(release, fetcher.chart(release.chart), fetcher, helm)
                    except RenderError:
                        probed[key] = None  # the model's reading; the verifying render reports the release
                reads = probed[key]
            for image in view.images:
                hint = chart_image(view, image)
                if reads is not None and image.path in reads:
                    hint = replace(hint, reads=reads[image.path])
                if hints.setdefault(image.path, hint) != hint:
                    clashing.add(image.path)
        out[path.resolve()] = {k: v for k, v in hints.items() if k not in clashing}
    return out, all_targets, fetcher, helm


def verify_with_charts(path: Path, display: str, text: str, pinned, settings, fetcher, renderer=None) -> None:
    """Every image pinned in ``text`` must pull its digest once the chart's values are merged
    (and, with real Helm, in every rendered pod spec whose image name a pinned map composes)."""
    wanted = {p.candidate.path: p.digest for p in pinned}
    if not wanted:
        return
    if renderer is not None:
        _verify_rendered(path, display, text, wanted, settings, fetcher, renderer)
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
                raise FileError(
                    display,
                    f"chart-aware pin did not verify: release {view.release.name} would pull "
                    f"{image.written} for {image.path}, not @{digest}; file left untouched",
                )


def _verify_rendered(path: Path, display: str, text: str, wanted: dict, settings, fetcher, renderer) -> None:
    from .discover import releases_for
    from .rendered import NAME_ROLES, render_release

    for release in releases_for(path.resolve(), settings):
        rendered = render_release(release, fetcher.chart(release.chart), fetcher, renderer, {path.resolve(): text})
        for image in rendered.images:
            prov = rendered.provenance.get(image.slot)
            if prov is None:
                continue
            # a map's name key (its parent is the map) or a string image key (itself)
            maps = {dotted(k[:-1]) for k in prov.keypaths(*NAME_ROLES)} | {dotted(k) for k in prov.keypaths("image")}
            for where in maps & set(wanted):
                try:
                    got = parse(image.image).digest
                except InvalidReference:
                    got = None
                if got != wanted[where]:
                    raise FileError(
                        display,
                        f"chart-aware pin did not verify: release {release.name} renders "
                        f"{image.image} in {image.where} for {where}, not @{wanted[where]}; "
                        "file left untouched",
                    )
