"""Kubernetes manifests: the images their pods run.

Workload kinds are read where Kubernetes reads them: ``containers``, ``initContainers`` and
``ephemeralContainers`` of the pod spec (``Pod``: ``spec``; ``Deployment``, ``StatefulSet``,
``DaemonSet``, ``ReplicaSet``, ``ReplicationController``, ``Job``: ``spec.template.spec``;
``CronJob``: ``spec.jobTemplate.spec.template.spec``; ``PodTemplate``: ``template.spec``).
Each ``image:`` is a whole reference, rewritten like a values string.  Custom resources (an
``apiVersion`` of a group that is not Kubernetes' own) are read with the values detector
(operators' ``spec.image``, Tekton ``steps``, Argo Workflows ``container``); other built-in
kinds (Service, ConfigMap, ...) hold no images.  A ``List`` is read item by item.
"""

from __future__ import annotations

from ..walker import Mapping, Scalar, Sequence
from . import Context, Found, by_key, join, string, string_site, values_sites

POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# API groups of Kubernetes itself: their other kinds hold no image references
_BUILTIN_SUFFIX = (".k8s.io",)
_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy", "extensions"})


def find(doc: Mapping, ctx: Context) -> list[Found]:
    keys = by_key(doc)
    kind = string(keys.get("kind")) or ""
    api = string(keys.get("apiVersion")) or ""
    if kind == "List" and keys.get("items").__class__ is Sequence:
        out = []
        for i, item in enumerate(keys["items"].items):
            for found in find(item, ctx) if item.__class__ is Mapping else ():
                found.site.path = join(f"items[{i}]", found.site.path)
                out.append(found)
        return out
    if kind in POD_SPEC:
        node, path = doc, ""
        for step in POD_SPEC[kind]:
            node = by_key(node).get(step)
            path = join(path, step)
            if node.__class__ is not Mapping:
                return []
        return pod_spec(node, path)
    group = api.rpartition("/")[0] if "/" in api else ""
    if group in _BUILTIN_GROUPS or group.endswith(_BUILTIN_SUFFIX):
        return []
    out = []
    for k, v in doc.items():
        if k.__class__ is Scalar and k.value not in ("apiVersion", "kind", "metadata", "status"):
            for found in values_sites(v, k.value, "manifest"):
                out.append(found)
    return out


def pod_spec(spec: Mapping, path: str, source: str = "manifest") -> list[Found]:
    out = []
    keys = by_key(spec)
    for list_key in CONTAINER_LISTS:
        containers = keys.get(list_key)
        if containers.__class__ is not Sequence:
            continue
        for i, container in enumerate(containers.items):
            if container.__class__ is not Mapping:
                continue
            for k, v in container.items():
                if k.__class__ is Scalar and k.value == "image" and v.__class__ is Scalar and v.string is not None:
                    out.append(Found(string_site(v, k, f"{path}.{list_key}[{i}].image"), source))
    return out


def container_images(doc) -> list[Scalar]:
    """Every ``image:`` scalar of a container list anywhere in ``doc`` (what kustomize's
    ``images:`` transformer looks at)."""
    out: list[Scalar] = []
    seen: set[int] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is Mapping:
            for k, v in node.items():
                if k.__class__ is Scalar and k.value in CONTAINER_LISTS and v.__class__ is Sequence:
                    for c in v.items:
                        img = by_key(c).get("image")
                        if img.__class__ is Scalar and img.string is not None:
                            out.append(img)
                if v.__class__ is not Scalar:
                    stack.append(v)
        elif node.__class__ is Sequence:
            stack.extend(node.items)
    return out
