"""Test helpers: compare documents as data, apart from the paths a rewrite may change."""

from __future__ import annotations

from ruamel.yaml import YAML


def load_all(text: str) -> list:
    return list(YAML(typ="safe", pure=True).load_all(text))


def leaf_diffs(a, b, path="", seen=None) -> list[tuple[str, object, object]]:
    """Paths where two plain documents differ (aliases are compared once)."""
    seen = set() if seen is None else seen
    key = (id(a), id(b))
    if key in seen:
        return []
    seen.add(key)
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in a.keys() | b.keys():
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append((sub, a.get(k, "<missing>"), b.get(k, "<missing>")))
            else:
                out.extend(leaf_diffs(a[k], b[k], sub, seen))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(leaf_diffs(x, y, f"{path}[{i}]", seen))
        return out
    return [] if a == b else [(path, a, b)]


IMAGE_KEYS = ("registry", "repository", "image", "name", "imageRegistry", "imageNamespace")


def assert_only_image_scalars_changed(before: str, after: str, refs, registry: str) -> list[str]:
    """Every changed leaf is an image scalar of a reported reference (or the Bitnami flag)."""
    paths = {r.path for r in refs}
    changed = []
    for old_doc, new_doc in zip(load_all(before), load_all(after), strict=True):
        for path, old, new in leaf_diffs(old_doc, new_doc):
            changed.append(path)
            if path in ("global.security", "global.security.allowInsecureImages", "global"):
                continue
            assert isinstance(old, str) and isinstance(new, str), (path, old, new)
            parent, _, leaf = path.rpartition(".")
            assert path in paths or parent in paths or leaf in IMAGE_KEYS, (path, old, new)
            assert registry in new or new.startswith(("docker-hub/", "quay/", "github/", "k8s/", "ecr-public/", "library/")), (path, old, new)
    return changed
