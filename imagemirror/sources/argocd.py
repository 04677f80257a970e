"""Argo CD ``Application`` and ``ApplicationSet`` (``spec.template.spec``).

For each of ``spec.source`` / ``spec.sources[i]``: ``helm.values`` (a string holding YAML,
read and edited inside the string, :mod:`.embedded`), ``helm.valuesObject`` (a map),
``helm.parameters`` (``--set`` style, :mod:`.params`) and ``kustomize.images``
(``name=newName:tag`` or ``name:tag`` strings; see :func:`kustomize_image`).
An ApplicationSet's ``{{ ... }}`` is masked: a reference a template stands for is
reported ``templated``.
"""

from __future__ import annotations

from ..walker import Mapping, Part, Scalar, Sequence, Site, YAMLSyntaxError, find_sites
from . import Context, Found, by_key, join, kustomize, local_folder, string, values_sites
from . import params as params_mod
from .embedded import Embedded


def find(doc: Mapping, ctx: Context) -> list[Found]:
    keys = by_key(doc)
    spec, prefix = keys.get("spec"), "spec"
    if string(keys.get("kind")) == "ApplicationSet":
        spec = by_key(by_key(spec).get("template")).get("spec")
        prefix = "spec.template.spec"
    skeys = by_key(spec)
    sources = []
    if skeys.get("source").__class__ is Mapping:
        sources.append((skeys["source"], f"{prefix}.source"))
    if skeys.get("sources").__class__ is Sequence:
        sources.extend(
            (s, f"{prefix}.sources[{i}]") for i, s in enumerate(skeys["sources"].items) if s.__class__ is Mapping
        )
    out: list[Found] = []
    for source, path in sources:
        src = by_key(source)
        helm = by_key(src.get("helm"))
        values = helm.get("values")
        if values.__class__ is Scalar and values.value.strip() and not values.is_null:
            out.extend(embedded_sites(values, join(path, "helm.values"), "argocd", ctx))
        elif values.__class__ is Mapping:
            out.extend(values_sites(values, join(path, "helm.values"), "argocd"))
        obj = helm.get("valuesObject")
        if obj.__class__ is Mapping:
            out.extend(values_sites(obj, join(path, "helm.valuesObject"), "argocd"))
        tree = params_mod.tree(helm.get("parameters"))
        if tree is not None:
            out.extend(values_sites(tree, join(path, "helm.parameters"), "argocd"))
        images = by_key(src.get("kustomize")).get("images")
        if images.__class__ is Sequence:
            folder = _local_path(string(src.get("path")), ctx)
            for i, item in enumerate(images.items):
                found = kustomize_image(item, join(path, f"kustomize.images[{i}]"), folder, ctx)
                if found is not None:
                    out.append(found)
    return out


def embedded_sites(block: Scalar, prefix: str, source: str, ctx: Context) -> list[Found]:
    emb = Embedded(block, ctx.text, ctx.line_index())
    if emb.error is not None:
        line, column = emb.position(0)
        if emb.error.line is not None and emb.mappable:
            starts = emb._inner.starts
            inner = starts[min(emb.error.line - 1, len(starts) - 1)] + (emb.error.column or 1) - 1
            line, column = emb.position(min(inner, len(emb.text)))
        raise YAMLSyntaxError(f"{prefix} is not valid YAML: {emb.error.message}", line, column)
    sites = find_sites(emb.docs)
    emb.proxied(sites)
    ctx.embedded.append(emb)
    ctx.frozen |= emb.frozen
    out = []
    for site in sites:
        site.path = join(prefix, site.path)
        out.append(Found(site, source))
    return out


def _local_path(path: str | None, ctx: Context) -> str | None:
    return local_folder(path, ctx.file)


def kustomize_image(item, path: str, folder: str | None, ctx: Context) -> Found | None:
    """``spec.source.kustomize.images`` entry, as Argo CD hands it to ``kustomize edit set
    image``: ``name=newName[:tag][@digest]``, or ``name[:tag][@digest]`` (which sets the tag of
    the images named ``name``).  The reference is what follows ``=``, else the whole string.

    Rewritten whole: ``newName`` becomes the cache's (tag and digest kept) and ``name``
    follows the resources of the source's ``path`` as a kustomization's ``name`` does
    (:mod:`.kustomize`); an entry without ``=`` whose images no resource of the repository
    names becomes ``name=<cache reference>``."""
    if item.__class__ is not Scalar or item.string is None:
        return None
    name, eq, rest = item.value.partition("=")
    value = rest if eq else item.value
    node = Scalar(value, item.style, item.start, item.end, item.props, item.line, item.column)
    site = Site(path=path, kind="string", names=[Part(node, "name", key="images")], key_line=item.line)
    site.lines = {item.line}
    if not eq:
        name = kustomize.split_name(value)

    def adjust(status, upstream, target, hint, edits):
        new_ref = next((v for n, v in edits if n is node), None)
        incoming = kustomize.resolved(folder, ctx) if folder is not None else []
        follows = {a for b, a in incoming if b == name and a != name}
        moved = kustomize.future(name, ctx.rules, ctx.revert)
        if not follows and moved != name and any(b == moved for b, _ in incoming):
            follows = {moved}
        if len(follows) > 1:
            return (
                "ambiguous",
                upstream,
                None,
                f"{name!r} matches images that move to different names: {', '.join(sorted(follows))}",
                [],
                [],
            )
        follow = follows.pop() if follows else None
        if eq:
            if new_ref is None and follow is None:
                return status, upstream, target, hint, [], []
            new = f"{follow or name}={new_ref or rest}"
        elif follow is not None:
            new = new_ref or f"{follow}{value[len(name) :]}"  # the tag (or digest) that follows the name
        elif new_ref is not None and not ctx.revert:
            new = f"{name}={new_ref}"
        else:
            return status, upstream, target, hint, [], []
        return status, upstream, target, hint, [(item, new)], []

    return Found(site, "argocd", adjust)
