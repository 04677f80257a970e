"""Argo CD ``Application`` and ``ApplicationSet`` (``spec.template.spec``).

For each of ``spec.source`` / ``spec.sources[i]``: ``helm.values`` (a string holding YAML,
read and edited inside the string, :mod:`.embedded`), ``helm.valuesObject`` (a map),
``helm.parameters`` (``--set`` style, :mod:`.params`) and ``kustomize.images``
(``name=newName:tag`` or ``name:tag`` strings, reported; rewritten by hand).
An ApplicationSet's ``{{ ... }}`` is masked: a reference a template stands for is
reported ``templated``.
"""

from __future__ import annotations

from ..walker import Mapping, Part, Scalar, Sequence, Site, YAMLSyntaxError, find_sites
from . import Context, Found, by_key, join, string, values_sites
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
        sources.extend((s, f"{prefix}.sources[{i}]") for i, s in enumerate(skeys["sources"].items) if s.__class__ is Mapping)
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
            for i, item in enumerate(images.items):
                site = kustomize_image(item, join(path, f"kustomize.images[{i}]"))
                if site is not None:
                    out.append(Found(site, "argocd", _by_hand))
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


def kustomize_image(item, path: str) -> Site | None:
    """``spec.source.kustomize.images`` entry: ``[name=]newName[:tag][@digest]``; the
    reference is what follows ``=``."""
    if item.__class__ is not Scalar or item.string is None:
        return None
    value = item.value.split("=", 1)[-1]
    node = Scalar(value, item.style, item.start, item.end, item.props, item.line, item.column)
    site = Site(path=path, kind="string", names=[Part(node, "name", key="images")], key_line=item.line)
    site.lines = {item.line}
    return site


def _by_hand(status, upstream, target, hint, edits):
    """Report an Argo CD ``kustomize.images`` string, never rewrite it: it is
    ``name=newName:tag``, and which ``name`` it must match is kustomize's business."""
    if edits:
        hint = "an Argo CD kustomize.images entry: change it by hand to `<name>=<target>`"
    return status, upstream, target, hint, [], []
