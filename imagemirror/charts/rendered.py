"""One release rendered by real Helm, twice: its images, and which values keys compose each.

``render_release`` renders the release with every values layer in Argo CD's / Flux's order
(:mod:`.render`), then once more with sentinels (:mod:`.provenance`), and returns a
:class:`RenderedRelease`: every image field of the rendered objects with the keys that compose
it.  ``to_refs`` turns it into the core's :class:`~imagemirror.model.ImageRef` records, each
placed at the values key that names the image (the highest-priority layer that sets it), else
at the release's last values file, where ``rewrite --effective`` writes overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import Settings
from ..errors import ImagemirrorError
from ..model import Context, ImageRef
from ..rules import INVALID
from .discover import Release
from .provenance import Provenance, attribute, candidates, dotted, overlay
from .render import RenderedImage, Renderer, RenderError, RenderOptions, images_of, materialize

NAME_ROLES = ("registry", "repository", "image", "name")
LITERAL = "literal"  # provenance kind of an image no values key controls


@dataclass
class RenderedImageRef:
    """A rendered image with its provenance and where it is reported."""

    image: RenderedImage
    provenance: Provenance
    ref: ImageRef
    chart: str
    release: str = ""
    origin: str = ""  # the values layer that sets the image's name ("" = chart defaults or template)

    @property
    def literal(self) -> bool:
        return self.provenance.literal


@dataclass
class RenderedRelease:
    release: Release
    chart: object  # the model Chart (name, version, dependencies)
    renderer: str
    images: list[RenderedImage] = field(default_factory=list)
    provenance: dict[tuple, Provenance] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    layers: list = field(default_factory=list)  # [(Layer, data)]


def render_release(
    release: Release, model, fetcher, renderer: Renderer, texts: dict[Path, str] | None = None, provenance: bool = True
) -> RenderedRelease:
    """Render ``release`` (chart ``model`` as imagemirror loaded it) with ``renderer``."""
    from .effective import layer_data
    from .values import effective_values

    layers = [(layer, layer_data(layer, texts)) for layer in release.layers]
    out = RenderedRelease(release, model, renderer.label, layers=layers)
    options = RenderOptions(
        release.name, release.namespace or "default", release.kube_version or None, release.api_versions
    )
    source = materialize(release.chart, model, fetcher)
    try:
        out.notes.extend(source.notes)
        data = [d for _, d in layers]
        from .values import MAX_EXPANDED, expanded_size

        for layer, d in layers:
            if expanded_size(d) > MAX_EXPANDED:
                # an alias bomb: Helm refuses it too ("excessive aliasing"); never expanded here
                raise RenderError(
                    layer.label,
                    f"values expand to more than {MAX_EXPANDED:,} nodes through aliases (an alias bomb): not rendered",
                )
        manifests = renderer.render(source.path, data, options)
        if hasattr(renderer, "crds"):  # the SDK: --include-crds by hand
            for name, text in renderer.crds(source.path).items():
                manifests.setdefault(name, text)
        parse = getattr(renderer, "parse", None)
        out.images = images_of(manifests, parse)
        if provenance and out.images:
            tree = effective_values(model, data).values
            cands = candidates(tree)
            layer, tokens = overlay(tree, cands)
            try:
                traced = images_of(renderer.render(source.path, data + [layer], options), parse)
            except RenderError as exc:
                out.notes.append(
                    f"release {release.name}: provenance render failed ({exc.message}); "
                    "which keys compose each image is unknown"
                )
                traced = []
            out.provenance = attribute(out.images, traced, tokens)
    finally:
        renderer.release_done()
        source.cleanup()
    return out


def _where(rr: RenderedRelease, prov: Provenance, cache: dict, texts) -> tuple[str, int, int, str]:
    """-> (file, line, column, origin label) of the key that names the image."""
    from ..files import display_name
    from .effective import _origin

    keys = prov.keypaths(*NAME_ROLES)
    if keys:
        label, file, pos, default_only = _origin(rr.layers, keys, cache, texts)
        if not default_only and file is not None:
            return display_name(file), (pos or (1, 1))[0], (pos or (1, 1))[1], label
        if not default_only:
            return rr.release.origin, 1, 1, label
    files = rr.release.files()
    if files:
        return display_name(files[-1]), 1, 1, ""
    return rr.release.origin, 1, 1, ""


def _chart_of(rr: RenderedRelease, template: str) -> str:
    """``name-version`` of the (sub)chart a template path belongs to."""
    parts = template.split("/")
    chart = rr.chart
    i = 1
    while i + 1 < len(parts) and parts[i] == "charts":
        key = parts[i + 1]
        dep = next((d for d in getattr(chart, "dependencies", []) if d.key == key or d.name == key), None)
        if dep is None or dep.chart is None:
            break
        chart = dep.chart
        i += 2
    return f"{chart.name}-{chart.version}"


def to_refs(rr: RenderedRelease, settings: Settings, texts=None) -> list[RenderedImageRef]:
    from ..reference import InvalidReference, parse

    rules = settings.ruleset
    cache: dict = {}
    out = []
    for image in rr.images:
        prov = rr.provenance.get(image.slot, Provenance(known=False))
        file, line, column, origin = _where(rr, prov, cache, texts)
        names = prov.keypaths(*NAME_ROLES)
        path = (
            dotted(names[0])
            if names
            else f"{image.template} {image.kind}/{image.name}"
            + (f" {image.container}" if image.container is not None else f" {image.field}")
        )
        chart = _chart_of(rr, image.template)
        item = RenderedImageRef(image, prov, None, chart, rr.release.name, origin)  # type: ignore[arg-type]
        context = Context(
            label=context_label(item),
            release=rr.release.name,
            chart=chart,
            origin=origin or None,
            default_only=not origin,
            rendered=_rendered_json(item),
            literal=f"{literal_message(item)}; {LITERAL_FIX}" if prov.literal else None,
            test_hook=image.is_test_hook,
        )
        try:
            parsed = parse(image.image)
        except InvalidReference as exc:
            ref = ImageRef(
                file,
                line,
                column,
                path,
                image.image,
                None,
                INVALID,
                None,
                hint=str(exc),
                lines=(0,),
                source="effective",
                context=context,
            )
        else:
            status, upstream, target = rules.classify(parsed)
            if prov.literal:
                target_text = None  # no values key can move it
            else:
                target_text = str(target) if target is not None else None
            ref = ImageRef(
                file,
                line,
                column,
                path,
                image.image,
                upstream.qualified(),
                status,
                target_text,
                hint=prov.describe(),
                lines=(line,) if origin else (0,),
                source="effective",
                context=context,
            )
        item.ref = ref
        out.append(item)
    return out


def context_label(item: RenderedImageRef) -> str:
    """``release web, web-1.0 web/templates/deployment.yaml: Deployment/web container web, keys``."""
    image = item.image
    bits = [f"release {item.release}", f"{item.chart} {image.where}"]
    if image.hook:
        bits.append(f"hook {image.hook}")
    bits.append(item.provenance.describe())
    return ", ".join(bits)


def _rendered_json(item: RenderedImageRef) -> dict:
    image = item.image
    return {
        "rendered": image.image,
        "template": image.template,
        "kind": image.kind,
        "name": image.name,
        "container": image.container,
        "field": image.field,
        "hook": image.hook or None,
        "keys": [{"role": role, "key": dotted(k)} for role, k in item.provenance.keys]
        if item.provenance.known
        else None,
    }


def literal_message(item: RenderedImageRef) -> str:
    image = item.image
    return (
        f"{image.image} is written literally in chart {item.chart}, template {image.template} "
        f"({image.kind}/{image.name}"
        + (f", container {image.container}" if image.container is not None else f", {image.field}")
        + "): no values key sets it"
    )


LITERAL_FIX = (
    "values cannot move it: patch the rendered object (kustomize patch or Helm post-renderer), "
    "take a chart version that exposes an image key, or fork the chart"
)


def newer_chart_hints(rr: RenderedRelease, items: list[RenderedImageRef], fetcher, renderer) -> None:
    """IM007's hint, where it is cheap to know: when a newer version of the release's chart is
    vendored here or in the chart cache (never fetched), render the release with it, and for each
    literal image of the chart's own templates whose container a values key composes there,
    name that version and key in the message instead of the generic advice."""
    from .discover import ChartRef

    top = getattr(rr.chart, "name", "")
    literal = [
        i
        for i in items
        if i.literal
        and i.image.template.startswith(f"{top}/templates/")
        and i.ref is not None
        and i.ref.context is not None
        and i.ref.context.literal
    ]
    if not literal:
        return
    newer = _newer_local(fetcher, rr.release.chart, top, str(getattr(rr.chart, "version", "")))
    if newer is None:
        return
    version, path, where = newer
    release = replace(rr.release, chart=ChartRef(name=top, path=path))
    try:
        model = fetcher.chart(release.chart)
        again = render_release(release, model, fetcher, renderer)
    except (RenderError, ImagemirrorError):
        return
    by_slot = {(i.template, i.kind, i.container, i.field): i for i in again.images}
    for item in literal:
        image = item.image
        twin = by_slot.get((image.template, image.kind, image.container, image.field))
        prov = again.provenance.get(twin.slot) if twin is not None else None
        if prov is None or not prov.controlled:
            continue
        keys = ", ".join(dotted(k) for k in prov.keypaths(*NAME_ROLES)) or "?"
        item.ref.context.literal = (
            f"{literal_message(item)}; chart {top} {version} ({where}) sets it from values "
            f"key {keys}: take that version, or patch the rendered object"
        )


def _newer_local(fetcher, ref, name: str, current: str):
    """The newest ``(version, path, where)`` of chart ``name`` above ``current`` that is vendored
    under the repository or cached for the release's repository, or None."""
    from .fetch import _EXACT, _key, _pick

    if not _EXACT.match(current or ""):
        return None
    found: list[tuple[str, Path, str]] = []
    fetcher._vendored(name, current)  # builds the vendored index
    for version, path in (fetcher._vendored_index or {}).get(name, []):
        found.append((version, path, "vendored"))
    if ref.repo:
        folder = fetcher.cache / "archives" / _key(ref.repo)
        for archive in folder.glob(f"{name}-*.tgz") if folder.is_dir() else []:
            found.append((archive.name[len(name) + 1 : -4], archive, "cached"))
    try:
        pick = _pick([v for v, _, _ in found if _EXACT.match(v)], f">{current}")
    except ImagemirrorError:
        return None
    return next((f for f in found if f[0] == pick), None) if pick else None


# --------------------------------------------------------------------------- rewrite proof


def _objects(manifests: dict[str, str], parse) -> dict[tuple, object]:
    """``(template, document) -> object`` of the rendered manifests, NOTES.txt left out (Bitnami's
    notes print the substituted images)."""
    import os

    from .render import parse_document, split_documents

    parse = parse or parse_document
    out = {}
    for template in sorted(manifests):
        if os.path.basename(template) == "NOTES.txt":
            continue
        for i, doc in enumerate(split_documents(manifests[template])):
            out[(template, i)] = parse(doc, template)
    return out


def _set_field(obj, field: str, value: str) -> None:
    """Set the image at ``field`` (``spec.template.spec.containers[0]`` or ``spec.image``)."""
    import re

    node = obj
    parts = [p for p in re.split(r"\.|(\[\d+\])", field) if p]
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])]["image"] = value
    elif isinstance(node.get(last), dict):  # a container entry reached by key
        node[last]["image"] = value
    else:
        node[last] = value


def verify_rewrite(
    release: Release,
    model,
    fetcher,
    renderer: Renderer,
    settings: Settings,
    before: dict[Path, str],
    after: dict[Path, str],
) -> list[str]:
    """Render ``release`` with the values texts ``before`` and ``after`` a rewrite; every image
    must be at its cache path with the same tag/digest (a literal one unchanged) and the
    manifests otherwise the same (objects that differ between two renders of the same values --
    random passwords and their checksums -- compare by their images only).  Returns the
    differences (empty: proven)."""
    import copy

    from ..reference import InvalidReference, parse
    from .effective import layer_data

    rules = settings.ruleset
    options = RenderOptions(
        release.name, release.namespace or "default", release.kube_version or None, release.api_versions
    )
    parse_doc = getattr(renderer, "parse", None)
    source = materialize(release.chart, model, fetcher)
    try:
        old_layers = [layer_data(layer, before) for layer in release.layers]
        old = renderer.render(source.path, old_layers, options)
        renderer.release_done()
        again = renderer.render(source.path, old_layers, options)  # what differs by itself is volatile
        renderer.release_done()
        new = renderer.render(source.path, [layer_data(layer, after) for layer in release.layers], options)
    finally:
        renderer.release_done()
        source.cleanup()
    problems: list[str] = []
    old_images = {i.slot: i for i in images_of(old, parse_doc)}
    new_images = {i.slot: i for i in images_of(new, parse_doc)}
    old_objects, new_objects = _objects(old, parse_doc), _objects(new, parse_doc)
    again_objects = _objects(again, parse_doc)
    # random passwords (``randAlphaNum`` where ``lookup`` finds nothing offline) and what hashes
    # them (``checksum/secret`` annotations) differ on every render: only their images compare
    volatile = {
        key
        for key in old_objects
        if old_objects[key] != again_objects.get(key) and not _same_but_name(old_objects[key], again_objects.get(key))
    }
    expected = copy.deepcopy(old_objects)
    for slot, image in old_images.items():
        now = new_images.get(slot)
        if now is None:
            problems.append(f"{image.where}: {image.image} no longer renders")
            continue
        try:
            status, _, target = rules.classify(parse(image.image))
        except InvalidReference:
            status, target = "invalid", None
        want = str(target) if target is not None else image.image
        if now.image not in (want, image.image):
            problems.append(f"{image.where}: renders {now.image}, expected {want}")
        elif now.image == image.image and status == "unmirrored":
            pass  # not moved (literal in a template, or set by inline values): check reports it
        _set_field(expected[(image.template, image.doc)], image.field, now.image)
    for slot in new_images.keys() - old_images.keys():
        problems.append(f"{new_images[slot].where}: {new_images[slot].image} renders only after the rewrite")
    for key in sorted(set(expected) | set(new_objects)):
        if key in volatile:
            continue
        a, b = expected.get(key), new_objects.get(key)
        if a != b and not _same_but_name(a, b):
            problems.append(f"{key[0]} (document {key[1] + 1}): the manifest changes beyond its images")
    return problems


def _same_but_name(a, b) -> bool:
    """Two renders of a Job named after the render time (``now | date``) are the same object."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    a, b = dict(a), dict(b)
    ma, mb = dict(a.get("metadata") or {}), dict(b.get("metadata") or {})
    ma.pop("name", None)
    mb.pop("name", None)
    a["metadata"], b["metadata"] = ma, mb
    return a == b


def prove_rewrite(path: Path, display: str, new_text: str, settings: Settings, fetcher, renderer: Renderer) -> None:
    """Real Helm renders every release reading ``path`` before and after the rewrite: anything but
    images moved to their cache path (same tag/digest) raises, and the file is left untouched."""
    from ..errors import FileError
    from .discover import releases_for

    path = path.resolve()  # the releases' layers name resolved paths
    try:
        old_text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(display, f"cannot read: {exc}") from None
    if old_text == new_text:
        return
    for release in releases_for(path, settings):
        problems = verify_rewrite(
            release, fetcher.chart(release.chart), fetcher, renderer, settings, {path: old_text}, {path: new_text}
        )
        if problems:
            shown = "; ".join(problems[:3]) + (f"; ... {len(problems) - 3} more" if len(problems) > 3 else "")
            raise FileError(
                display,
                f"release {release.name}: rendered with real Helm, the rewrite does not "
                f"only move images onto the cache ({shown}); file left untouched",
            )


NOT_RENDERED = "not-rendered"  # list --all only: named by the values, not rendered (never a finding)


def unrendered_refs(rr: RenderedRelease, view, model_refs) -> list[ImageRef]:
    """``list --all``: the images imagemirror's model finds in the release's values (``view``, a
    :class:`.effective.ReleaseView`) that no rendered image is composed from, with why."""
    from dataclasses import replace

    if not rr.images or any(not p.known for p in rr.provenance.values()):
        return []  # without every image's keys, what renders cannot be told apart
    used = [k for p in rr.provenance.values() for _, k in p.keys]
    out = []
    for ref, image in zip(model_refs(view), view.images):
        keypath = tuple(image.keypath)
        if any(tuple(k[: len(keypath)]) == keypath or tuple(keypath[: len(k)]) == tuple(k) for k in used):
            continue
        if image.disabled:
            why = "under enabled: false"
        else:
            why = "no template of the chart renders it with these values"
        label = f"release {rr.release.name}, {image.chart}: not rendered ({why})"
        old = ref.context
        context = (
            None if old is None else Context(label, old.release, old.chart, old.origin, old.default_only, old.disabled)
        )
        out.append(replace(ref, status=NOT_RENDERED, target=None, hint=why, context=context))
    return out
